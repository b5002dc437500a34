package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
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
	t.Parallel()
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
	t.Parallel()
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

// TestReverseProxyOriginDown: an origin that does not answer gets browsers
// a small page that retries by itself, API clients the contract's JSON
// error, and the log a line with the request id the visitor is shown.
func TestReverseProxyOriginDown(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.NotFoundHandler())
	origin.Close()
	up, _ := url.Parse(origin.URL)
	var logs logBuffer
	s := newStack(t)
	g, err := gateway.New(gateway.Config{AdminToken: adminToken, Ready: s.store.Ping, Store: s.store, Upstream: up, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, s.ctl, s.keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	get := func(accept string) response {
		req, _ := http.NewRequest("GET", srv.URL+"/anything", nil)
		req.Header.Set("Accept", accept)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, header: res.Header, body: b}
	}

	r := get("application/json")
	if r.status != 502 || r.errorCode(t) != "bad_gateway" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("API client, origin down: %d %v %s", r.status, r.header, r.body)
	}
	id := r.header.Get("X-Request-Id")
	if id == "" || !strings.Contains(string(r.body), id) {
		t.Fatalf("no request id to quote: %v %s", r.header, r.body)
	}
	var line struct {
		Msg       string `json:"msg"`
		RequestID string `json:"request_id"`
	}
	for l := range strings.Lines(logs.String()) {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "proxy error" {
			break
		}
	}
	if line.Msg != "proxy error" || line.RequestID != id {
		t.Fatalf("log %q: no proxy error line with request id %s", logs.String(), id)
	}

	r = get("text/html,application/xhtml+xml,*/*;q=0.8")
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(r.body), "<html") || !strings.Contains(string(r.body), r.header.Get("X-Request-Id")) ||
		r.header.Get("Retry-After") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("browser, origin down: %d %v %.300s", r.status, r.header, r.body)
	}
	// The page blames the site, not the waiting room, which is up.
	if !strings.Contains(string(r.body), "The site cannot be reached right now") {
		t.Errorf("browser, origin down: the page does not say the site is down: %s", r.body)
	}
}

// TestReverseProxyCrowdgateHeaders: the X-Crowdgate-* headers the origin
// trusts come from Crowdgate only. A client's own are dropped, in any case
// and with underscores for hyphens (CGI, PHP and WSGI origins read
// X_Crowdgate_Queue_Id as X-Crowdgate-Queue-Id); an admitted visitor's
// request carries the real room and queue id.
func TestReverseProxyCrowdgateHeaders(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for k, v := range r.Header {
			if strings.Contains(strings.ToLower(k), "crowdgate") {
				seen = append(seen, k+"="+strings.Join(v, "|"))
			}
		}
		slices.Sort(seen)
		_, _ = io.WriteString(w, strings.Join(seen, " "))
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)
	s := &proxyStack{stack: newStackWith(t, stackOptions{routes: []string{"/checkout/=launch"}, upstream: up}), origin: origin}
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	at := s.admitted("launch")
	forged := []string{
		"X-Crowdgate-Queue-Id: forged", "X-Crowdgate-Room: forged", "X_Crowdgate_Queue_Id: forged",
		"x_crowdgate_room: forged", "X-Crowdgate_Queue-Id: forged", "X-CROWDGATE-ADMIN: forged",
	}
	addr := strings.TrimPrefix(s.srv.URL, "http://")

	if r := rawRequest(t, addr, "GET", "/about", forged...); r.status != 200 || r.body != "" {
		t.Errorf("unprotected path: %d, the origin saw %q", r.status, r.body)
	}
	r := rawRequest(t, addr, "GET", "/checkout/pay", append(forged, "Cookie: cg_a_launch="+at)...)
	if r.status != 200 || !strings.HasPrefix(r.body, "X-Crowdgate-Queue-Id=") || strings.Contains(r.body, "forged") ||
		!strings.HasSuffix(r.body, " X-Crowdgate-Room=launch") || strings.Count(r.body, "=") != 2 {
		t.Errorf("admitted visitor: %d, the origin saw %q", r.status, r.body)
	}
}

// logBuffer collects a logger's lines while the server writes them.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
