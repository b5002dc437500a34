package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestForwardAuthBrowserRedirect: with redirect=browser, a check that does
// not pass sends a browser to the waiting room with a 302 whose return_to
// is the exact URI it asked for, and still answers an API client with the
// contract's 401; a passing check is 200 as ever; any other value is 400;
// in Envoy's path form the query is the client's and is not read.
func TestForwardAuthBrowserRedirect(t *testing.T) {
	t.Parallel()
	s := newStack(t, "/checkout/=launch")
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	const uri = "/checkout/pay?seat=12&x=%2F"
	for _, accept := range []string{"text/html", "", "*/*", "text/html, application/json"} {
		r := s.do("GET", "/auth/v1/check?redirect=browser", "", "X-Forwarded-Uri", uri, "X-Forwarded-Host", "shop.example.com", "X-Forwarded-Proto", "https", "Accept", accept)
		loc, err := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusFound || err != nil || loc.Scheme != "https" || loc.Host != "shop.example.com" || loc.Path != "/rooms/launch" ||
			loc.Query().Get("return_to") != uri || r.header.Get("X-Crowdgate-Waiting-Room") != loc.String() {
			t.Errorf("Accept %q: %d Location %q", accept, r.status, r.header.Get("Location"))
		}
	}
	r := s.do("GET", "/auth/v1/check?redirect=browser", "", "X-Forwarded-Uri", uri, "Accept", "application/json")
	if r.status != 401 || r.errorCode(t) != "unauthorized" || r.header.Get("Location") != "" || r.header.Get("X-Crowdgate-Waiting-Room") == "" {
		t.Errorf("API client: %d %v", r.status, r.header)
	}
	if r := s.do("GET", "/auth/v1/check", "", "X-Forwarded-Uri", uri, "Accept", "text/html"); r.status != 401 {
		t.Errorf("browser without redirect=browser: %d, want the 401", r.status)
	}
	if r := s.do("GET", "/auth/v1/check?redirect=browser", "", "X-Forwarded-Uri", "/about", "Accept", "text/html"); r.status != 200 {
		t.Errorf("unprotected path: %d", r.status)
	}
	for _, q := range []string{"redirect=yes", "redirect=", "redirect=Browser", "room=launch&redirect=api"} {
		for _, uri := range []string{"/about", "/checkout/pay"} {
			if r := s.do("GET", "/auth/v1/check?"+q, "", "X-Forwarded-Uri", uri); r.status != 400 || r.errorCode(t) != "invalid_request" {
				t.Errorf("%s on %s: %d", q, uri, r.status)
			}
		}
	}
	if r := s.do("GET", "/auth/v1/check/checkout/pay?redirect=browser", "", "Accept", "text/html"); r.status != 401 {
		t.Errorf("Envoy's path form with the client's redirect=browser: %d, want 401", r.status)
	}
	if r := s.do("GET", "/auth/v1/check/checkout/pay?redirect=bogus", ""); r.status != 401 {
		t.Errorf("Envoy's path form with the client's redirect=bogus: %d, want 401", r.status)
	}

	// An admitted browser passes, on the fast path and the full one alike.
	qt := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	time.Sleep(5 * time.Millisecond)
	s.admit("launch")
	tok, _ := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt).json(t)["admission_token"].(string)
	if r := s.do("GET", "/auth/v1/check?redirect=browser", "", "X-Forwarded-Uri", uri, "Accept", "text/html", "Cookie", "cg_a_launch="+tok); r.status != 200 {
		t.Errorf("admitted browser: %d", r.status)
	}
	if r := s.do("GET", "/auth/v1/check?redirect=nope", "", "X-Forwarded-Uri", uri, "Cookie", "cg_a_launch="+tok); r.status != 400 {
		t.Errorf("admitted, with a bad redirect=: %d, want 400 (the fast path checks it too)", r.status)
	}
}

// FuzzCheckQuery throws arbitrary check queries at forward auth for a
// protected path: the answer is 200, 302, 400 or 401, never a 5xx, and a
// 302 only when the query asks for it.
func FuzzCheckQuery(f *testing.F) {
	s := newStack(f, "/checkout/=launch")
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	for _, q := range []string{"redirect=browser", "room=launch&redirect=browser", "redirect=%62rowser", "redirect=browser&redirect=x",
		"redirect", "redirect=&room=", "room=%zz", "redirect=browser%00", "=&&=", "redirect=brow+ser"} {
		f.Add(q, "text/html")
	}
	f.Fuzz(func(t *testing.T, query, accept string) {
		req, err := http.NewRequest("GET", s.srv.URL+"/auth/v1/check?"+query, nil)
		if err != nil || strings.ContainsAny(query, "#") {
			return
		}
		req.Header.Set("X-Forwarded-Uri", "/checkout/pay")
		req.Header.Set("Accept", accept)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return // the client refused to send it
		}
		res.Body.Close()
		switch res.StatusCode {
		case 200, 400, 401:
		case 302:
			if !strings.Contains(query, "redirect=") {
				t.Fatalf("query %q: a 302 not asked for", query)
			}
		default:
			t.Fatalf("query %q, Accept %q: %d", query, accept, res.StatusCode)
		}
	})
}
