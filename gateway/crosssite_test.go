package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCrossSiteWritesAreRefused: a page on another site can make the fan's
// browser send a form-typed POST with the fan's cookies; it must change
// nothing. JSON (which needs a CORS preflight nobody grants), this site's
// own pages, and clients that are no browser still get through.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"passthrough": true}`)
	s.putRoom("line", `{"admit_per_minute": 0}`)
	join := s.do("POST", "/api/v1/rooms/launch/join", "")
	admitted := "cg_a_launch=" + cookie(join, "cg_a_launch").Value
	passes := func() bool {
		return s.do("GET", "/auth/v1/check?room=launch", "", "Cookie", admitted).status == http.StatusOK
	}

	refused := []struct {
		name   string
		header []string
	}{
		{"text/plain from another site", []string{"Origin", "https://evil.example", "Content-Type", "text/plain"}},
		{"a form from another site", []string{"Origin", "https://evil.example", "Content-Type", "application/x-www-form-urlencoded"}},
		{"no body type from another site", []string{"Origin", "https://evil.example"}},
		{"a sandboxed frame", []string{"Origin", "null", "Content-Type", "text/plain"}},
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"}},
		{"text/plain with no origin at all", []string{"Content-Type", "text/plain"}},
	}
	for _, c := range refused {
		r := s.do("POST", "/api/v1/rooms/launch/release", "", append(c.header, "Cookie", admitted)...)
		if r.status != http.StatusForbidden || r.errorCode(t) != "forbidden" {
			t.Errorf("release, %s: %d %s, want 403 forbidden", c.name, r.status, r.body)
		}
		if !passes() {
			t.Fatalf("release, %s: the admission ended", c.name)
		}
		if r := s.do("POST", "/api/v1/rooms/line/join", "x", c.header...); r.status != http.StatusForbidden {
			t.Errorf("join, %s: %d %s, want 403", c.name, r.status, r.body)
		}
		if r := s.do("DELETE", "/api/v1/rooms/launch/ticket", "", append(c.header, "Cookie", "cg_q_launch="+cookie(join, "cg_q_launch").Value)...); r.status != http.StatusForbidden {
			t.Errorf("leave, %s: %d %s, want 403", c.name, r.status, r.body)
		}
	}

	allowed := []struct {
		name   string
		header []string
	}{
		{"curl, no body", nil},
		{"JSON from anywhere", []string{"Origin", "https://evil.example", "Content-Type", "application/json; charset=utf-8"}},
		{"this site's page", []string{"Origin", s.srv.URL, "Content-Type", "text/plain"}},
		{"Sec-Fetch-Site same-origin", []string{"Sec-Fetch-Site", "same-origin", "Content-Type", "text/plain"}},
		{"curl -d with a bearer token", []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer " + s.do("POST", "/api/v1/rooms/line/join", "").json(t)["queue_token"].(string)}},
	}
	for _, c := range allowed {
		if r := s.do("POST", "/api/v1/rooms/line/join", "", c.header...); r.status != http.StatusOK {
			t.Errorf("join, %s: %d %s, want 200", c.name, r.status, r.body)
		}
	}
	r := s.do("POST", "/api/v1/rooms/launch/release", "", "Origin", s.srv.URL, "Cookie", admitted)
	if r.status != http.StatusNoContent || passes() {
		t.Fatalf("release from this site's page: %d %s, still passes %v", r.status, r.body, passes())
	}
}

// TestCookiesSecureBehindTrustedTLSProxy: behind a TLS-terminating proxy
// that is trusted, the fan's cookies are Secure; a client claiming https
// itself does not change them.
func TestCookiesSecureBehindTrustedTLSProxy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		trusted string
		secure  bool
	}{{"127.0.0.0/8", true}, {"10.0.0.0/8", false}} {
		s := newStackWith(t, stackOptions{trusted: c.trusted})
		s.putRoom("launch", `{"passthrough": true}`)
		r := s.do("POST", "/api/v1/rooms/launch/join", "", "X-Forwarded-Proto", "https")
		for _, name := range []string{"cg_q_launch", "cg_a_launch"} {
			ck := cookie(r, name)
			if ck == nil {
				t.Fatalf("no %s cookie: %v", name, r.header)
			}
			if ck.Secure != c.secure {
				t.Errorf("trusted %s: %s Secure=%v, want %v (%s)", c.trusted, name, ck.Secure, c.secure,
					strings.Join(r.header.Values("Set-Cookie"), " | "))
			}
		}
	}
}
