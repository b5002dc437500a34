package guard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// echoClaims answers with the subject Middleware put in the context.
var echoClaims = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, "hello ", c.Subject)
})

func TestMiddleware(t *testing.T) {
	w := newWorld(t)
	now := w.clock.Now()
	valid := mustSign(t, w.ed.ring, pass(now))
	expired := mustSign(t, w.ed.ring, pass(now.Add(-time.Hour)))
	other := pass(now)
	other.Room = "other"
	otherRoom := mustSign(t, w.ed.ring, other)
	page := strings.TrimSuffix(w.jwks.Server.URL, "/") + "/rooms/launch"
	h := w.v.Middleware(echoClaims)

	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		name     string
		cookies  []string // values of cg_a_launch
		auth     string
		accept   string
		status   int
		body     string // for 200: the body; for 401: the message contains it
		location string // for 302
	}{
		{name: "cookie", cookies: []string{valid}, accept: html, status: 200, body: "hello q-1"},
		{name: "bearer", auth: "Bearer " + valid, accept: "application/json", status: 200, body: "hello q-1"},
		{name: "bearer, scheme in lower case", auth: "bearer " + valid, status: 200, body: "hello q-1"},
		{name: "origin's own bearer beside the cookie", cookies: []string{valid}, auth: "Bearer origin-session-xyz", status: 200, body: "hello q-1"},
		{name: "stale cookie, valid bearer", cookies: []string{expired}, auth: "Bearer " + valid, status: 200, body: "hello q-1"},
		{name: "stale cookie, then a valid one", cookies: []string{expired, valid}, status: 200, body: "hello q-1"},
		{name: "no token, browser", accept: html, status: 302, location: page + "?return_to=%2Fcheckout%2Fcart%3Fstep%3D2"},
		{name: "no token, no Accept", status: 302, location: page + "?return_to=%2Fcheckout%2Fcart%3Fstep%3D2"},
		{name: "no token, API client", accept: "application/json", status: 401, body: "an admission token for room launch is required"},
		{name: "JSON and HTML: a browser", accept: "application/json, text/html", status: 302, location: page + "?return_to=%2Fcheckout%2Fcart%3Fstep%3D2"},
		{name: "expired, API client", auth: "Bearer " + expired, accept: "application/json", status: 401, body: "expired"},
		{name: "other room, API client", cookies: []string{otherRoom}, accept: "application/json", status: 401, body: "another room"},
		{name: "garbage, API client", auth: "Bearer x.y.z", accept: "application/json", status: 401, body: "not valid"},
		{name: "basic auth is not a token", auth: "Basic " + valid, accept: "application/json", status: 401, body: "is required"},
		{name: "expired, browser", cookies: []string{expired}, accept: html, status: 302, location: page + "?return_to=%2Fcheckout%2Fcart%3Fstep%3D2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/checkout/cart?step=2", nil)
			for _, c := range tt.cookies {
				r.AddCookie(&http.Cookie{Name: "cg_a_launch", Value: c})
			}
			r.AddCookie(&http.Cookie{Name: "cg_a_other", Value: otherRoom})
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, rec.Body)
			}
			switch tt.status {
			case 200:
				if rec.Body.String() != tt.body {
					t.Errorf("body %q, want %q", rec.Body, tt.body)
				}
				return
			case 302:
				if got := res.Header.Get("Location"); got != tt.location {
					t.Errorf("Location %q, want %q", got, tt.location)
				}
			case 401:
				var body struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("401 body %s: %v", rec.Body, err)
				}
				if body.Error.Code != "unauthorized" || !strings.Contains(body.Error.Message, tt.body) {
					t.Errorf("401 body %s, want code unauthorized and a message with %q", rec.Body, tt.body)
				}
				if ct := res.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if got, want := res.Header.Get("X-Crowdgate-Waiting-Room"), page+"?return_to=%2Fcheckout%2Fcart%3Fstep%3D2"; got != want {
				t.Errorf("X-Crowdgate-Waiting-Room %q, want %q", got, want)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

func TestMiddlewareWaitingRoomURL(t *testing.T) {
	w := newWorld(t)
	tests := []struct{ configured, want string }{
		{"/rooms/launch", "/rooms/launch?return_to=%2Fcart"},
		{"https://queue.example/rooms/launch?lang=hi", "https://queue.example/rooms/launch?lang=hi&return_to=%2Fcart"},
	}
	for _, tt := range tests {
		v := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), WaitingRoomURL: tt.configured})
		rec := httptest.NewRecorder()
		v.Middleware(echoClaims).ServeHTTP(rec, httptest.NewRequest("GET", "/cart", nil))
		if got := rec.Header().Get("Location"); got != tt.want {
			t.Errorf("WaitingRoomURL %q: Location %q, want %q", tt.configured, got, tt.want)
		}
	}
}

// TestReturnToStaysOnSite: whatever the request's target, the waiting room is asked to send
// the visitor back to a path of this site, or to nowhere in particular.
func TestReturnToStaysOnSite(t *testing.T) {
	w := newWorld(t)
	h := w.v.Middleware(echoClaims)
	page := w.jwks.Server.URL + "/rooms/launch"
	tests := []struct {
		target string
		keep   bool
	}{
		{"/checkout", true},
		{"/checkout?next=//evil.example", true}, // a query is not where a browser goes
		{"/a%20b", true},
		{"//evil.example/x", false},
		{"///evil.example/x", false},
		{"/\\evil.example/x", false},
		{"/%2F%2Fevil.example", false},
		{"/%2f/evil.example", false},
		{"/%5Cevil.example", false},
		{"/%5C%5Cevil.example", false},
		{"/%252F%252Fevil.example", false},
		{"/%25252F%25252Fevil.example", false},
		{"/%09/evil.example", false},
		{"/%0d%0a/evil.example", false},
		{"/x\\y", false},
		{"/" + strings.Repeat("a", maxReturnTo), false},
		{"http://evil.example/x", true}, // absolute-form: only the path is kept
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			r.URL, r.RequestURI = u, tt.target
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			loc := rec.Header().Get("Location")
			if loc != rec.Header().Get("X-Crowdgate-Waiting-Room") {
				t.Errorf("Location %q and X-Crowdgate-Waiting-Room %q differ", loc, rec.Header().Get("X-Crowdgate-Waiting-Room"))
			}
			if !tt.keep {
				if loc != page {
					t.Errorf("Location %q, want %q without return_to", loc, page)
				}
				return
			}
			lu, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			rt := lu.Query().Get("return_to")
			if rt == "" {
				t.Fatalf("Location %q has no return_to", loc)
			}
			checkStaysOn(t, "https://shop.example/", rt)
		})
	}
}

// checkStaysOn fails unless rt, resolved against base after any number of
// percent-decodings, stays on base's host.
func checkStaysOn(t *testing.T, base, rt string) {
	t.Helper()
	b, _ := url.Parse(base)
	for range 5 {
		u, err := b.Parse(rt)
		if err == nil && (u.Host != b.Host || u.Scheme != b.Scheme) {
			t.Fatalf("return_to %q leads to %s", rt, u)
		}
		dec, err := url.PathUnescape(rt)
		if err != nil || dec == rt {
			return
		}
		rt = dec
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/checkout?x=1", "//evil", "/\\evil", "/%2F%2Fevil", "/%09/evil", "/%5c", "/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		rt, ok := safeReturnTo(uri)
		if !ok {
			return
		}
		if rt != uri {
			t.Fatalf("safeReturnTo(%q) = %q", uri, rt)
		}
		checkStaysOn(t, "https://shop.example/", rt)
	})
}

func TestEchoMiddleware(t *testing.T) {
	w := newWorld(t)
	e := echo.New()
	e.Use(echo.WrapMiddleware(w.v.Middleware))
	e.GET("/checkout", func(c echo.Context) error {
		claims, ok := FromContext(c.Request().Context())
		if !ok {
			return echo.ErrInternalServerError
		}
		return c.String(http.StatusOK, "hello "+claims.Subject)
	})
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))

	r := httptest.NewRequest("GET", "/checkout", nil)
	r.AddCookie(&http.Cookie{Name: "cg_a_launch", Value: tok})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != 200 || rec.Body.String() != "hello q-1" {
		t.Errorf("with a token: %d %s", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/checkout", nil))
	if rec.Code != http.StatusFound || !strings.HasSuffix(rec.Header().Get("Location"), "/rooms/launch?return_to=%2Fcheckout") {
		t.Errorf("browser without a token: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	r = httptest.NewRequest("GET", "/checkout", nil)
	r.Header.Set("Accept", "application/json")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code":"unauthorized"`) {
		t.Errorf("API client without a token: %d %s", rec.Code, rec.Body)
	}
}

func TestRelease(t *testing.T) {
	w := newWorld(t)
	h := w.v.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		Release(rw)
		rw.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest("POST", "/checkout/done", nil)
	r.Header.Set("Authorization", "Bearer "+mustSign(t, w.ed.ring, pass(w.clock.Now())))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent || rec.Header().Get("X-Crowdgate-Release") != "1" {
		t.Errorf("%d, X-Crowdgate-Release %q", rec.Code, rec.Header().Get("X-Crowdgate-Release"))
	}
}

// BenchmarkMiddlewareHit is the origin's hot path: a visitor's request with a token that
// was verified before.
func BenchmarkMiddlewareHit(b *testing.B) {
	v, tok := benchVerifier(b)
	var served atomic.Int64
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	r := httptest.NewRequest("GET", "/checkout", nil)
	r.AddCookie(&http.Cookie{Name: "cg_a_launch", Value: tok})
	h.ServeHTTP(httptest.NewRecorder(), r)
	start := v.verified.Load()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rec := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(rec, r)
		}
	})
	if n := v.verified.Load() - start; n != 0 {
		b.Fatalf("%d signature verifications on cache hits", n)
	}
	if served.Load() == 0 {
		b.Fatal("nothing served")
	}
}

// BenchmarkVerifyHit is Verify alone on a token verified before.
func BenchmarkVerifyHit(b *testing.B) {
	v, tok := benchVerifier(b)
	if _, err := v.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchVerifier is a Verifier on the real clock (the test clock's mutex would be the
// bottleneck) and a token valid for the next 15 minutes.
func benchVerifier(b *testing.B) (*Verifier, string) {
	w := newWorld(b)
	v := mustVerifier(b, Config{JWKSURL: w.jwks.URL()})
	return v, mustSign(b, w.ed.ring, pass(time.Now()))
}

// BenchmarkVerifyMiss is what a cache hit saves: one full verification per call.
func BenchmarkVerifyMiss(b *testing.B) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			w := newWorld(b)
			s := w.ed
			if alg == "ES256" {
				s = w.ec
			}
			tok := mustSign(b, s.ring, pass(w.clock.Now()))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := w.v.verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
