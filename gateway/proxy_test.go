package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/gateway"
)

// proxyStack is a gateway in front of a test origin that echoes what it got.
type proxyStack struct {
	*stack
	origin *httptest.Server
}

func newProxyStack(t *testing.T, routes ...string) *proxyStack {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/checkout/done" {
			w.Header().Set(gateway.ReleaseHeader, "1")
		}
		w.Header().Set("X-Seen-Path", r.URL.Path)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-XFH", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("X-Seen-AE", r.Header.Get("Accept-Encoding"))
		_, _ = io.WriteString(w, "origin:"+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)

	return &proxyStack{stack: newStackWith(t, stackOptions{routes: routes, upstream: up}), origin: origin}
}

func (s *proxyStack) admitted(room string) string {
	s.t.Helper()
	qt := s.do("POST", "/api/v1/rooms/"+room+"/join", "").json(s.t)["queue_token"].(string)
	time.Sleep(5 * time.Millisecond)
	s.admit(room)
	return s.do("GET", "/api/v1/rooms/"+room+"/status", "", "Authorization", "Bearer "+qt).json(s.t)["admission_token"].(string)
}

func TestReverseProxy(t *testing.T) {
	s := newProxyStack(t, "/checkout/*=launch")
	s.putRoom("launch", `{"admit_per_minute": 60000, "max_active": 1}`)

	// Unprotected paths go straight through, with fresh forwarding headers.
	r := s.do("GET", "/static/app.js?v=1", "", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example")
	if r.status != 200 || string(r.body) != "origin:/static/app.js?v=1" {
		t.Fatalf("unprotected: %d %s", r.status, r.body)
	}
	if xff := r.header.Get("X-Seen-XFF"); xff != "127.0.0.1" || r.header.Get("X-Seen-XFH") == "evil.example" {
		t.Fatalf("hostile forwarding headers reached the origin: XFF %q XFH %q", xff, r.header.Get("X-Seen-XFH"))
	}

	// Protected without a token: browsers are redirected, API clients get 401.
	r = s.do("GET", "/checkout/pay?item=1", "", "Accept", "text/html")
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != 302 || loc == nil || loc.Path != "/rooms/launch" || loc.Query().Get("return_to") != "/checkout/pay?item=1" {
		t.Fatalf("browser: %d %v", r.status, r.header)
	}
	r = s.do("GET", "/checkout/pay", "", "Accept", "application/json")
	if r.status != 401 || r.errorCode(t) != "unauthorized" || r.header.Get("X-Crowdgate-Waiting-Room") == "" {
		t.Fatalf("api client: %d %v %s", r.status, r.header, r.body)
	}
	for _, sneaky := range []string{"/static/../checkout/pay", "/%63heckout/pay", "/checkout//pay"} {
		if r := s.do("GET", sneaky, "", "Accept", "application/json"); r.status != 401 {
			t.Fatalf("%s slipped through: %d %s", sneaky, r.status, r.body)
		}
	}
	if r := s.do("GET", "/checkout/pay", "", "Cookie", "cg_a_launch=forged.token.value"); r.status != 302 {
		t.Fatalf("forged cookie: %d", r.status)
	}

	// Admitted: proxied, cookie or bearer.
	at := s.admitted("launch")
	if r := s.do("GET", "/checkout/pay", "", "Cookie", "cg_a_launch="+at); r.status != 200 || string(r.body) != "origin:/checkout/pay" {
		t.Fatalf("admitted: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/checkout/pay", "x=1", "Authorization", "Bearer "+at); r.status != 200 {
		t.Fatalf("admitted bearer: %d", r.status)
	}
	// Crowdgate's own paths are never proxied.
	if r := s.do("GET", "/healthz", ""); r.status != 200 || strings.HasPrefix(string(r.body), "origin:") {
		t.Fatalf("healthz went to the origin: %s", r.body)
	}

	// The origin says the visitor is done: the max_active slot frees at once.
	if st, _ := s.store.Stats(context.Background(), "launch"); st.Active != 1 {
		t.Fatalf("active before release: %d", st.Active)
	}
	r = s.do("GET", "/checkout/done", "", "Cookie", "cg_a_launch="+at)
	if r.status != 200 || r.header.Get(gateway.ReleaseHeader) != "" {
		t.Fatalf("release: %d %v", r.status, r.header)
	}
	if st, _ := s.store.Stats(context.Background(), "launch"); st.Active != 0 {
		t.Fatalf("active after release: %d", st.Active)
	}
}

// TestReverseProxyLeavesEncodingToTheClient: the proxy asks the origin for
// no encoding the client did not ask for.
func TestReverseProxyLeavesEncodingToTheClient(t *testing.T) {
	s := newProxyStack(t)
	bare := &http.Transport{DisableCompression: true} // sends no Accept-Encoding of its own
	defer bare.CloseIdleConnections()
	for _, ae := range []string{"", "br"} {
		req, _ := http.NewRequest("GET", s.srv.URL+"/static/app.js", nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		res, err := bare.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Seen-AE"); res.StatusCode != 200 || got != ae {
			t.Errorf("client Accept-Encoding %q: origin saw %q (status %d)", ae, got, res.StatusCode)
		}
	}
}

func TestReverseProxyOriginDown(t *testing.T) {
	s := newProxyStack(t)
	s.origin.Close()
	r := s.do("GET", "/anything", "")
	if r.status != 502 || r.errorCode(t) != "bad_gateway" {
		t.Fatalf("origin down: %d %s", r.status, r.body)
	}
}
