package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// monitorSecret is the bypass header's secret in these tests.
const monitorSecret = "monitor-0123456789abcdef"

// bypassRoom is a room document with every kind of bypass rule.
const bypassRoom = `{"admit_per_minute": 60, "bypass": {"cidrs": ["203.0.113.0/24", "2001:db8::/32"],
	"paths": ["/checkout/health", "/checkout/static/"], "header": {"name": "X-Monitor-Key", "secret": "` + monitorSecret + `"}}}`

// roomStats reads a room's stats from the admin API.
func roomStats(t *testing.T, s *stack, room string) api.Stats {
	t.Helper()
	r := s.admin("GET", "/admin/v1/rooms/"+room, "")
	var out api.Room
	if err := json.Unmarshal(r.body, &out); err != nil || r.status != http.StatusOK || out.Stats == nil {
		t.Fatalf("GET room %s: %d %s", room, r.status, r.body)
	}
	return *out.Stats
}

// TestBypassForwardAuth: behind forward auth, a request with the room's
// secret header, from one of its networks (as a trusted proxy forwards
// the address), or whose every original URI is under its paths passes
// without an admission: no cookie, no place, no active user, and no
// X-Crowdgate-Room for the origin. A wrong secret, another network, a
// path that only starts like one, a spelling that reads as another path,
// and a URI a client adds do not. Each pass is counted, by rule, in the
// room's stats and in the metrics.
func TestBypassForwardAuth(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop"}, trusted: "127.0.0.1/32", metered: true})
	s.putRoom("shop", bypassRoom)
	check := func(uri string, header ...string) response {
		t.Helper()
		return s.do("GET", "/auth/v1/check", "", append([]string{"X-Original-URI", uri}, header...)...)
	}
	passes := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusOK || r.header.Get("X-Crowdgate-Room") != "" || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s: %d %v, want a bare 200", what, r.status, r.header)
		}
	}
	refused := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/shop") {
			t.Fatalf("%s: %d %v, want 401 to the waiting room", what, r.status, r.header)
		}
	}
	refused("no rule", check("/checkout/cart"))

	passes("the secret header", check("/checkout/cart", "X-Monitor-Key", monitorSecret))
	refused("a wrong secret", check("/checkout/cart", "X-Monitor-Key", monitorSecret+"x"))
	refused("a short secret", check("/checkout/cart", "X-Monitor-Key", monitorSecret[:8]))
	refused("the secret twice", check("/checkout/cart", "X-Monitor-Key", monitorSecret, "X-Monitor-Key", monitorSecret))
	refused("the secret under another name", check("/checkout/cart", "X-Monitor-Token", monitorSecret))

	passes("a network", check("/checkout/cart", "X-Forwarded-For", "203.0.113.9"))
	passes("an IPv6 network", check("/checkout/cart", "X-Forwarded-For", "2001:db8::5"))
	refused("another network", check("/checkout/cart", "X-Forwarded-For", "198.51.100.1"))
	// The trusted proxy appends the address it saw: the client's own claim
	// to the left of it does not count.
	refused("a claimed network", check("/checkout/cart", "X-Forwarded-For", "203.0.113.9, 198.51.100.1"))

	passes("a path", check("/checkout/health"))
	passes("a path with a query", check("/checkout/health?probe=1"))
	passes("a path under a prefix", check("/checkout/static/app.js"))
	passes("an escape that reads the same", check("/checkout/static/app%2Ejs"))
	for _, uri := range []string{
		"/checkout/healthz", "/checkout/health/", "/checkout/HEALTH", "/checkout/static",
		"/checkout/static/../cart", "/checkout/static/%2e%2e/cart", "/checkout/static/..%2fcart",
		"/checkout/static/%252e%252e/cart", `/checkout/static/..\cart`, "/checkout/static/..;/cart",
		"/checkout/static/.%2e/cart", "/checkout/static/%ef%bc%8e%ef%bc%8e/cart",
	} {
		refused(uri, check(uri))
	}
	refused("a client's own URI header", check("/checkout/cart", "X-Forwarded-Uri", "/checkout/health"))
	passes("Envoy's path form", s.do("GET", "/auth/v1/check/checkout/health", ""))
	refused("Envoy's path form, elsewhere", s.do("GET", "/auth/v1/check/checkout/cart", "", "X-Envoy-Original-Path", "/checkout/health"))

	st := roomStats(t, s, "shop")
	if st.Waiting != 0 || st.Active != 0 || st.AdmittedTotal != 0 {
		t.Fatalf("bypassed requests took places or admissions: %+v", st)
	}
	if err := s.ctl.FlushRefusals(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = roomStats(t, s, "shop")
	if b := st.Bypassed; b == nil || *b != (api.BypassCounts{Header: 1, CIDR: 2, Path: 5}) {
		t.Fatalf("counted %+v, want 1 header, 2 cidr, 5 path", b)
	}
	m := series(t, s)
	for rule, want := range map[string]string{"header": "1", "cidr": "2", "path": "5"} {
		if got := m[`crowdgate_bypass_total{room="shop",rule="`+rule+`"}`]; got != want {
			t.Errorf("crowdgate_bypass_total{rule=%q} = %q, want %s", rule, got, want)
		}
	}
	if got := m[`crowdgate_forward_auth_total{result="bypass"}`]; got != "8" {
		t.Errorf(`crowdgate_forward_auth_total{result="bypass"} = %q, want 8`, got)
	}
}

// TestBypassNetworksNeedTheClientsAddress: forward auth asks from the
// proxy, so without --trusted-proxies its address is the proxy's and no
// network rule applies, even one that covers the proxy; a trusted proxy
// that forwards no X-Forwarded-For leaves its own address too. The reverse
// proxy, asked by the client itself, judges the client's address.
func TestBypassNetworksNeedTheClientsAddress(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "origin") }))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)
	loopback := `{"admit_per_minute": 60, "bypass": {"cidrs": ["127.0.0.0/8", "::1"]}}`

	untrusted := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop"}, upstream: up})
	untrusted.putRoom("shop", loopback)
	if r := untrusted.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/cart", "X-Forwarded-For", "127.0.0.1"); r.status != http.StatusUnauthorized {
		t.Fatalf("forward auth from an untrusted proxy whose address a rule covers: %d, want 401", r.status)
	}
	if r := untrusted.do("GET", "/checkout/cart", "", "Accept", "application/json"); r.status != http.StatusOK || string(r.body) != "origin" {
		t.Fatalf("the reverse proxy, asked from a covered address: %d %s, want the origin", r.status, r.body)
	}

	trusted := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop"}, trusted: "127.0.0.1/32"})
	trusted.putRoom("shop", loopback)
	if r := trusted.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/cart"); r.status != http.StatusUnauthorized {
		t.Fatalf("a trusted proxy that names no client: %d, want 401", r.status)
	}
	if r := trusted.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/cart", "X-Forwarded-For", "127.0.0.2"); r.status != http.StatusOK {
		t.Fatalf("a trusted proxy naming a covered client: %d, want 200", r.status)
	}
}

// TestBypassReverseProxy: through the reverse proxy, bypassed requests
// reach the origin without an admission, and the secret header does not:
// it is Crowdgate's to check. In a quiet traffic-triggered room, where a
// newcomer is admitted on arrival, a bypassed request is not: no cookie,
// no active user. A wrong secret or a path outside the rules goes to the
// waiting room.
func TestBypassReverseProxy(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Monitor", strings.Join(r.Header.Values("X-Monitor-Key"), ","))
		w.Header().Set("X-Seen-Room", r.Header.Get("X-Crowdgate-Room"))
		_, _ = io.WriteString(w, "origin:"+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)
	s := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop", "/live/=live"}, upstream: up, running: true, metered: true})
	s.putRoom("shop", bypassRoom)
	s.putRoom("live", `{"admit_per_minute": 600, "trigger": {"active_users": 100}, "bypass": {"header": {"name": "X-Monitor-Key", "secret": "`+monitorSecret+`"}}}`)
	asJSON := []string{"Accept", "application/json"}
	get := func(path string, header ...string) response {
		t.Helper()
		return s.do("GET", path, "", append(header, asJSON...)...)
	}
	r := get("/checkout/cart", "X-Monitor-Key", monitorSecret)
	if r.status != http.StatusOK || string(r.body) != "origin:/checkout/cart" {
		t.Fatalf("the secret header: %d %s, want the origin", r.status, r.body)
	}
	if r.header.Get("X-Seen-Monitor") != "" || r.header.Get("X-Seen-Room") != "" {
		t.Fatalf("the origin saw X-Monitor-Key %q, X-Crowdgate-Room %q", r.header.Get("X-Seen-Monitor"), r.header.Get("X-Seen-Room"))
	}
	if r := get("/checkout/cart", "X-Monitor-Key", "wrong-"+monitorSecret); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d %s, want 401", r.status, r.body)
	}
	if r := get("/checkout/static/app.js"); r.status != http.StatusOK || string(r.body) != "origin:/checkout/static/app.js" {
		t.Fatalf("a path rule: %d %s", r.status, r.body)
	}
	if r := get("/checkout/static/../cart"); r.status != http.StatusUnauthorized {
		t.Fatalf("a path that reads as another: %d %s, want 401", r.status, r.body)
	}

	// A quiet triggered room: a newcomer is admitted on arrival, with a
	// cookie (once the controller has the room: until then, nothing is
	// made); a bypassed request is let through with neither.
	var fan response
	waitFor(t, "a newcomer admitted on arrival", func() bool {
		fan = get("/live/feed")
		return fan.status == http.StatusOK
	})
	if admissionCookieOf(fan, "live") == "" || roomStats(t, s, "live").Active != 1 {
		t.Fatalf("a newcomer to the quiet room: %d %v", fan.status, fan.header)
	}
	bypassed := get("/live/feed", "X-Monitor-Key", monitorSecret)
	if bypassed.status != http.StatusOK || admissionCookieOf(bypassed, "live") != "" || bypassed.header.Get("X-Seen-Monitor") != "" {
		t.Fatalf("bypassed in a quiet room: %d %v", bypassed.status, bypassed.header)
	}
	if st := roomStats(t, s, "live"); st.Active != 1 || st.AdmittedTotal != 1 {
		t.Fatalf("a bypassed request counted as an active user: %+v", st)
	}
	waitFor(t, "the counts in the store", func() bool {
		b := roomStats(t, s, "shop").Bypassed
		return b != nil && b.Header == 1 && b.Path == 1
	})
	if got := series(t, s)[`crowdgate_bypass_total{room="live",rule="header"}`]; got != "1" {
		t.Errorf(`crowdgate_bypass_total{room="live",rule="header"} = %q, want 1`, got)
	}
}

// TestBypassRulesThroughTheAdminAPI: rules are set with PUT and PATCH and
// read back with GET, the secret never shown; a document read back keeps
// the secret when set again; bad rules are refused with 400 and change
// nothing; the dashboard lists them with their counts.
func TestBypassRulesThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := s.admin("PUT", "/admin/v1/rooms/shop", bypassRoom)
	if r.status != http.StatusCreated || strings.Contains(string(r.body), monitorSecret) {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	get := func() api.Room {
		t.Helper()
		r := s.admin("GET", "/admin/v1/rooms/shop", "")
		if strings.Contains(string(r.body), monitorSecret) {
			t.Fatalf("GET shows the secret: %s", r.body)
		}
		var out api.Room
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := api.Bypass{CIDRs: []string{"203.0.113.0/24", "2001:db8::/32"}, Paths: []string{"/checkout/health", "/checkout/static/"},
		Header: api.BypassHeader{Name: "X-Monitor-Key", SecretSet: true}}
	if got := get(); !equalBypass(got.Bypass, want) || got.Stats.Bypassed == nil || *got.Stats.Bypassed != (api.BypassCounts{}) {
		t.Fatalf("GET: %+v, stats %+v", got.Bypass, got.Stats.Bypassed)
	}

	// PATCH changes the lists given; a lower-case name is written canonically.
	r = s.admin("PATCH", "/admin/v1/rooms/shop", `{"bypass": {"cidrs": ["10.0.0.7"], "header": {"name": "x-probe-key"}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	want.CIDRs, want.Header.Name = []string{"10.0.0.7/32"}, "X-Probe-Key"
	if got := get(); !equalBypass(got.Bypass, want) {
		t.Fatalf("after PATCH: %+v, want %+v", got.Bypass, want)
	}

	// A document read back from GET keeps the secret when PUT again.
	doc := s.admin("GET", "/admin/v1/rooms/shop", "").json(t)
	body, _ := json.Marshal(map[string]any{"admit_per_minute": 60, "bypass": doc["bypass"]})
	if r := s.admin("PUT", "/admin/v1/rooms/shop", string(body)); r.status != http.StatusOK {
		t.Fatalf("PUT of the document read back: %d %s", r.status, r.body)
	}
	if got := get(); !got.Bypass.Header.SecretSet {
		t.Fatalf("the secret was lost: %+v", got.Bypass)
	}
	if r := s.admin("PUT", "/admin/v1/rooms/other", string(body)); r.status != http.StatusBadRequest {
		t.Fatalf("secret_set for a room with no secret stored: %d %s, want 400", r.status, r.body)
	}

	for _, bad := range []string{
		`{"bypass": {"cidrs": ["10.0.0.1/8"]}}`,
		`{"bypass": {"cidrs": ["0.0.0.0/0"]}}`,
		`{"bypass": {"cidrs": ["example.com"]}}`,
		`{"bypass": {"cidrs": ["10.0.0.0/8", "10.0.0.0/8"]}}`,
		`{"bypass": {"cidrs": [` + strings.Repeat(`"10.0.0.0/8",`, 64) + `"10.0.0.0/8"]}}`,
		`{"bypass": {"paths": ["health"]}}`,
		`{"bypass": {"paths": [""]}}`,
		`{"bypass": {"paths": ["/static/../"]}}`,
		`{"bypass": {"paths": ["/a\n/b"]}}`,
		`{"bypass": {"paths": ["/static/*"]}}`,
		`{"bypass": {"header": {"name": "X-Crowdgate-Room", "secret": "` + monitorSecret + `"}}}`,
		`{"bypass": {"header": {"name": "Connection", "secret": "` + monitorSecret + `"}}}`,
		`{"bypass": {"header": {"name": "X_Probe", "secret": "` + monitorSecret + `"}}}`,
		`{"bypass": {"header": {"name": "X-Probe Key", "secret": "` + monitorSecret + `"}}}`,
		`{"bypass": {"header": {"secret": "short"}}}`,
		`{"bypass": {"header": {"name": "X-New", "secret_set": false}}}`,
		`{"bypass": {"cidr": ["10.0.0.0/8"]}}`,
		`{"bypass": {"paths": "/health"}}`,
		`{"bypass": []}`,
	} {
		r := s.admin("PATCH", "/admin/v1/rooms/shop", bad)
		if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" {
			t.Errorf("%s: %d %s, want 400 invalid_request", bad, r.status, r.body)
		}
	}
	if got := get(); !equalBypass(got.Bypass, want) {
		t.Fatalf("a refused change changed the rules: %+v", got.Bypass)
	}

	// name "" removes the header rule, its secret with it; empty lists clear.
	if r := s.admin("PATCH", "/admin/v1/rooms/shop", `{"bypass": {"cidrs": [], "paths": [], "header": {"name": ""}}}`); r.status != http.StatusOK {
		t.Fatalf("clearing: %d %s", r.status, r.body)
	}
	if got := get(); !equalBypass(got.Bypass, api.Bypass{CIDRs: []string{}, Paths: []string{}}) || got.Stats.Bypassed != nil {
		t.Fatalf("cleared: %+v, stats %+v", got.Bypass, got.Stats.Bypassed)
	}

	// A configuration file gives the secret itself.
	if _, err := gateway.DecodeRoom("shop", []byte(`{"bypass": {"header": {"name": "X-Probe-Key", "secret_set": true}}}`)); err == nil {
		t.Error("a configuration file's secret_set was taken")
	}
	if r, err := gateway.DecodeRoom("shop", []byte(bypassRoom)); err != nil || r.Bypass.Secret != monitorSecret {
		t.Errorf("a configuration file's rules: %+v %v", r.Bypass, err)
	}
}

func equalBypass(a, b api.Bypass) bool {
	return strings.Join(a.CIDRs, ",") == strings.Join(b.CIDRs, ",") && strings.Join(a.Paths, ",") == strings.Join(b.Paths, ",") &&
		a.Header == b.Header && a.CIDRs != nil && a.Paths != nil
}

// TestDashboardShowsBypassRules: the dashboard's room lists the rules,
// never the secret, and what they let through.
func TestDashboardShowsBypassRules(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop"}})
	s.putRoom("shop", bypassRoom)
	if r := s.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/health"); r.status != http.StatusOK {
		t.Fatalf("check: %d", r.status)
	}
	if err := s.ctl.FlushRefusals(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := s.admin("GET", "/admin/v1/dashboard?brief=1", "")
	if r.status != http.StatusOK || strings.Contains(string(r.body), monitorSecret) {
		t.Fatalf("dashboard: %d %s", r.status, r.body)
	}
	var d struct {
		Rooms []struct {
			Bypass api.Bypass `json:"bypass"`
			Stats  api.Stats  `json:"stats"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil || len(d.Rooms) != 1 {
		t.Fatalf("dashboard: %s (%v)", r.body, err)
	}
	if room := d.Rooms[0]; room.Bypass.Header.Name != "X-Monitor-Key" || len(room.Bypass.CIDRs) != 2 || room.Stats.Bypassed == nil || room.Stats.Bypassed.Path != 1 {
		t.Fatalf("dashboard room: %+v", room)
	}
}

// FuzzBypassRules: whatever bypass document a room is given, what is
// accepted is valid, and reads back as itself: each network parses to
// itself, each path is one a rule may be.
func FuzzBypassRules(f *testing.F) {
	for _, s := range []string{
		`{"cidrs": ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"], "paths": ["/health", "/static/"], "header": {"name": "X-Monitor-Key", "secret": "0123456789abcdef"}}`,
		`{"cidrs": ["10.0.0.1/8"]}`, `{"cidrs": ["::ffff:10.0.0.0/104"]}`, `{"cidrs": ["fe80::1%eth0/64"]}`, `{"cidrs": []}`,
		`{"paths": ["/a/../b"]}`, `{"paths": ["/%2e"]}`, `{"paths": ["/a\u0000"]}`, `{"paths": ["/é/"]}`, `{"paths": null}`,
		`{"header": {"name": "x-monitor-key", "secret": "0123456789abcdef"}}`, `{"header": {"name": "X-Crowdgate-Room", "secret": "0123456789abcdef"}}`,
		`{"header": {"name": "", "secret_set": true}}`, `{"header": {"name": "Te", "secret": "0123456789abcdef"}}`, `[]`, `null`, `{"x": 1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := gateway.DecodeRoom("x", []byte(`{"admit_per_minute": 60, "bypass": `+doc+`}`))
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted invalid rules %+v from %q: %v", r.Bypass, doc, err)
		}
		b := r.Bypass
		for _, p := range b.CIDRs() {
			if q, err := queue.ParseBypassCIDR(p.String()); err != nil || q != p {
				t.Fatalf("network %v from %q reads back as %v (%v)", p, doc, q, err)
			}
		}
		for _, p := range b.Paths() {
			if err := queue.ValidBypassPath(p); err != nil {
				t.Fatalf("path %q from %q: %v", p, doc, err)
			}
		}
		if again := queue.NewBypass(b.CIDRs(), b.Paths(), b.Header, b.Secret); again != b {
			t.Fatalf("rules %+v from %q do not read back as themselves: %+v", b, doc, again)
		}
	})
}
