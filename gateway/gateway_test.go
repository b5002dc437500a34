package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/internal/jwks"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/ws"
)

const adminToken = "test-admin-token"

// stack is a gateway over a private Redis, driven by hand: tests call
// admit() instead of running the controller's loops, so nothing sleeps.
type stack struct {
	t     testing.TB
	srv   *httptest.Server
	redis *queuetest.Server
	store *queue.Store
	keys  *admission.Keyring
	ctl   *admission.Controller
	// With stackOptions.booking:
	core    *booking.Core
	sandbox *booking.Sandbox
	gw      *gateway.Server
}

func newStack(t testing.TB, routes ...string) *stack {
	t.Helper()
	return newStackWith(t, stackOptions{routes: routes})
}

// stackOptions are what some tests add to the plain stack.
type stackOptions struct {
	routes   []string
	upstream *url.URL // reverse-proxy to this origin
	sockets  bool     // run a WebSocket hub
	running  bool     // run the admission controller's loops (fast refresh)
	domain   string   // cookie domain
	trusted  string   // trusted proxy CIDR
	bypass   string   // a network no per-address limit counts
	booking  bool     // serve the booking core with the sandbox provider
	// redis, when set, is another stack's Redis: this stack is a second
	// instance beside it, with its own store client, keyring and controller.
	redis   *queuetest.Server
	metered bool // the controller's series on the gateway's /metrics, as in serve
	// captcha verifies rooms' CAPTCHA responses (local providers).
	captcha captcha.Set

	// adaptEvery, when set, is how often the running controller steps
	// adaptive rooms.
	adaptEvery time.Duration
	// logger receives the gateway's log; roomMissing is its
	// Config.RoomMissing.
	logger      *slog.Logger
	roomMissing func(room string)
}

func newStackWith(t testing.TB, o stackOptions) *stack {
	t.Helper()
	rs := o.redis
	if rs == nil {
		rs = queuetest.Run(t)
	}
	store, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(context.Background(), store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ccfg := admission.Config{Refresh: 50 * time.Millisecond, AdaptEvery: o.adaptEvery}
	if o.booking {
		// "Notify me", as serve offers it with a channel that reaches
		// people.
		ccfg.Notify, ccfg.PhoneCodes, ccfg.ResumeURL = notify.NewOutbox(rs.Client(t)), []string{"+91"}, gateway.ResumePath
	}
	if o.metered {
		ccfg.Registerer = reg
	}
	if o.captcha != nil {
		ccfg.Captcha = captchaVerifier{o.captcha}
	}
	// As serve does: sites' key sets for enqueue tokens.
	ccfg.EnqueueKeys = jwks.NewCache(jwks.CacheConfig{})
	ctl, err := admission.NewController(store, keys, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.running {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = ctl.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	rt, err := gateway.ParseRoutes(o.routes...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{AdminToken: adminToken, Routes: rt, Ready: store.Ping, Store: store, Upstream: o.upstream, CookieDomain: o.domain, Registry: reg,
		Logger: o.logger, RoomMissing: o.roomMissing}
	if o.trusted != "" {
		_, n, err := net.ParseCIDR(o.trusted)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TrustedProxies = []*net.IPNet{n}
	}
	if o.bypass != "" {
		cfg.LimitBypass = []netip.Prefix{netip.MustParsePrefix(o.bypass)}
	}
	// The server's address is known before its handler, so the sandbox
	// can post its webhooks back to it.
	var handler http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	st := &stack{t: t, srv: srv, redis: rs, store: store, keys: keys, ctl: ctl}
	if o.booking {
		st.sandbox, err = booking.NewSandbox(rs.Client(t), booking.SandboxConfig{
			Secret:     []byte(sandboxSecret),
			PayURL:     func(id string) string { return "/pay/sandbox/" + id },
			WebhookURL: "http://" + srv.Listener.Addr().String() + "/api/v1/payments/sandbox/webhook",
		})
		if err != nil {
			t.Fatal(err)
		}
		st.core, err = booking.NewCore(rs.Client(t), booking.Config{Providers: []booking.Provider{st.sandbox}, SoldOut: store.CloseSoldOut, Restocked: store.ReopenSoldOut})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Booking, cfg.Sandbox, cfg.Notify = st.core, st.sandbox, true
	}
	if o.sockets {
		wcfg := ws.Config{}
		if st.core != nil {
			wcfg.Tickets = func(room string) (int64, int64, bool) {
				left, ok := st.core.Tickets(room)
				return left.Available, left.Held, ok
			}
		}
		hub, err := ws.New(ctl, store, wcfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- hub.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hub: %v", err)
			}
		})
		cfg.Sockets = hub
	}
	g, err := gateway.New(cfg, ctl, keys)
	if err != nil {
		t.Fatal(err)
	}
	st.gw = g
	handler = g.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return st
}

// sandboxSecret signs the test stack's sandbox webhooks.
const sandboxSecret = "test-sandbox-secret-0123456789"

// response is a finished request: status, headers, body.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// errorCode returns the contract error code, failing unless the body has
// exactly the contract's error shape.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: body %q is not the contract's error shape", r.status, r.body)
	}
	return b.Error.Code
}

func (s *stack) do(method, path, body string, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (s *stack) admin(method, path, body string) response {
	s.t.Helper()
	return s.do(method, path, body, "Authorization", "Bearer "+adminToken, "Content-Type", "application/json")
}

func (s *stack) putRoom(room, body string) {
	s.t.Helper()
	if r := s.admin("PUT", "/admin/v1/rooms/"+room, body); r.status != 201 && r.status != 200 {
		s.t.Fatalf("put room: %d %s", r.status, r.body)
	}
}

func (s *stack) admit(room string) []string {
	s.t.Helper()
	a, err := s.store.Admit(context.Background(), room, 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	return a.IDs
}

func cookie(r response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer wrong"},
		{"Authorization", "Basic " + adminToken},
		{"Authorization", "Bearer " + adminToken + "x"},
	} {
		r := s.do("GET", "/admin/v1/rooms", "", h...)
		if r.status != 401 || r.errorCode(t) != "unauthorized" {
			t.Fatalf("%v: %d %s", h, r.status, r.body)
		}
	}
	if r := s.admin("GET", "/admin/v1/rooms", ""); r.status != 200 {
		t.Fatalf("right token: %d %s", r.status, r.body)
	}
	// Keep guessing: the address is cut off with 429, and then even the
	// right token is not looked at, so a guess cannot be confirmed.
	var limited bool
	for range 20 {
		r := s.do("GET", "/admin/v1/rooms", "", "Authorization", "Bearer guess")
		if r.status == 429 {
			limited = true
			if r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without code or Retry-After: %v %s", r.header, r.body)
			}
			break
		}
	}
	if !limited {
		t.Fatal("20 wrong admin tokens were never rate-limited")
	}
	if r := s.admin("GET", "/admin/v1/rooms", ""); r.status != 429 {
		t.Fatalf("while limited, right token: %d", r.status)
	}
}

func TestRoomAdmin(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := s.admin("PUT", "/admin/v1/rooms/launch", `{"admit_per_minute": 600, "max_active": 0, "session_seconds": 900,
		"queue_opens_at": "2026-12-01T10:00:00Z", "sale_starts_at": "2026-12-01T10:30:00Z",
		"mode": "fifo", "paused": false, "passthrough": false, "closed": false}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["admit_per_minute"] != 600.0 || m["sale_starts_at"] != "2026-12-01T10:30:00Z" {
		t.Fatalf("create body %v", m)
	}
	if r := s.admin("PUT", "/admin/v1/rooms/launch", `{"admit_per_minute": 60}`); r.status != 200 {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	r = s.admin("GET", "/admin/v1/rooms/launch", "")
	m := r.json(t)
	if r.status != 200 || m["admit_per_minute"] != 60.0 || m["session_seconds"] != 900.0 || m["queue_opens_at"] != nil {
		t.Fatalf("get after replace: %d %v", r.status, m)
	}
	stats, ok := m["stats"].(map[string]any)
	if !ok {
		t.Fatalf("no stats in %v", m)
	}
	for _, k := range []string{"waiting", "active", "admitted_total", "abandoned_total", "admit_rate_per_minute", "drain_eta_seconds"} {
		if _, ok := stats[k].(float64); !ok {
			t.Errorf("stats.%s missing or not a number: %v", k, stats)
		}
	}
	r = s.admin("PATCH", "/admin/v1/rooms/launch", `{"paused": true, "max_active": 10}`)
	if m := r.json(t); r.status != 200 || m["paused"] != true || m["max_active"] != 10.0 || m["admit_per_minute"] != 60.0 {
		t.Fatalf("patch: %d %v", r.status, m)
	}
	if r := s.admin("GET", "/admin/v1/rooms", ""); r.status != 200 || len(r.json(t)["rooms"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	// Bad input: a 4xx in the contract's shape, and the room unchanged.
	bad := []struct {
		method, room, body string
		status             int
	}{
		{"PATCH", "launch", `{"admit_per_minute": -1}`, 400},
		{"PATCH", "launch", `{"admit_per_minute": "fast"}`, 400},
		{"PATCH", "launch", `{"admit_per_minute": 1.5}`, 400},
		{"PATCH", "launch", `{"admit_per_minute": 99999999999}`, 400},
		{"PATCH", "launch", `{"mode": "lottery"}`, 400},
		{"PATCH", "launch", `{"colour": "red"}`, 400},
		{"PATCH", "launch", `{"queue_opens_at": "tomorrow"}`, 400},
		{"PATCH", "launch", `{"queue_opens_at": "2026-12-02T10:00:00Z", "sale_starts_at": "2026-12-01T10:00:00Z"}`, 400},
		{"PATCH", "launch", `{"session_seconds": 0}`, 400},
		{"PATCH", "launch", `[1,2]`, 400},
		{"PATCH", "launch", `{"paused": true}{"paused": false}`, 400},
		{"PATCH", "launch", `{"paused": tru`, 400},
		{"PATCH", "launch", ``, 400},
		{"PATCH", "launch", `{"closed": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"PUT", "Launch", `{}`, 400},
		{"PUT", "-launch", `{}`, 400},
		{"PUT", strings.Repeat("a", 65), `{}`, 400},
		{"PATCH", "missing", `{"paused": true}`, 404},
		{"GET", "missing", ``, 404},
		{"DELETE", "missing", ``, 404},
	}
	for _, b := range bad {
		r := s.admin(b.method, "/admin/v1/rooms/"+url.PathEscape(b.room), b.body)
		if r.status != b.status {
			t.Errorf("%s %s %.60q: %d %s, want %d", b.method, b.room, b.body, r.status, r.body, b.status)
			continue
		}
		r.errorCode(t)
	}
	r = s.admin("GET", "/admin/v1/rooms/launch", "")
	if m := r.json(t); m["admit_per_minute"] != 60.0 || m["paused"] != true || m["max_active"] != 10.0 || m["mode"] != "fifo" {
		t.Fatalf("bad input changed the room: %v", m)
	}

	if r := s.admin("DELETE", "/admin/v1/rooms/launch", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := s.admin("GET", "/admin/v1/rooms/launch", ""); r.status != 404 || r.errorCode(t) != "not_found" {
		t.Fatalf("get deleted: %d %s", r.status, r.body)
	}
}

func TestFanFlow(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	s.putRoom("other", `{"admit_per_minute": 60000}`)

	first := s.do("POST", "/api/v1/rooms/launch/join", "")
	second := s.do("POST", "/api/v1/rooms/launch/join", "{}")
	if first.status != 200 || second.status != 200 {
		t.Fatalf("join: %d %s / %d %s", first.status, first.body, second.status, second.body)
	}
	j1, j2 := first.json(t), second.json(t)
	if j1["status"] != "waiting" || j1["position"] != 1.0 || j2["position"] != 2.0 {
		t.Fatalf("positions: %v %v", j1, j2)
	}
	if _, ok := j1["eta_seconds"].(float64); !ok {
		t.Fatalf("no eta_seconds: %v", j1)
	}
	qt := j2["queue_token"].(string)
	c := cookie(second, "cg_q_launch")
	if c == nil || c.Value != qt || !c.HttpOnly {
		t.Fatalf("queue cookie %+v, want HttpOnly with %s", c, qt)
	}

	// The same place, by cookie and by bearer token; never a second place.
	for _, h := range [][]string{{"Cookie", "cg_q_launch=" + qt}, {"Authorization", "Bearer " + qt}} {
		r := s.do("POST", "/api/v1/rooms/launch/join", "", h...)
		if m := r.json(t); r.status != 200 || m["position"] != 2.0 || m["queue_token"] != qt {
			t.Fatalf("rejoin with %s: %d %v", h[0], r.status, m)
		}
		r = s.do("GET", "/api/v1/rooms/launch/status", "", h...)
		if m := r.json(t); r.status != 200 || m["position"] != 2.0 || m["status"] != "waiting" {
			t.Fatalf("status with %s: %d %v", h[0], r.status, m)
		}
	}
	if st, _ := s.store.Stats(context.Background(), "launch"); st.Waiting != 2 {
		t.Fatalf("waiting %d after rejoins, want 2", st.Waiting)
	}

	// Forged, tampered and other-room tokens are refused.
	otherRoom := s.do("POST", "/api/v1/rooms/other/join", "").json(t)["queue_token"].(string)
	for _, tok := range []string{"1.AAAAAAAAAAAAAAAAAAAAAA", qt + "x", "zz" + qt[strings.Index(qt, "."):], otherRoom, "garbage", strings.Repeat("a", 5000)} {
		r := s.do("POST", "/api/v1/rooms/launch/join", "", "Authorization", "Bearer "+tok)
		if r.status != 401 || r.errorCode(t) != "unauthorized" {
			t.Fatalf("join with %.40q: %d %s", tok, r.status, r.body)
		}
		if r := s.do("GET", "/api/v1/rooms/launch/status", "", "Cookie", "cg_q_launch="+tok); r.status != 401 {
			t.Fatalf("status with %.40q: %d %s", tok, r.status, r.body)
		} else if c := cookie(r, "cg_q_launch"); c == nil || c.MaxAge >= 0 {
			t.Fatalf("a bad queue cookie was not cleared: %v", r.header)
		}
	}
	if r := s.do("GET", "/api/v1/rooms/launch/status", ""); r.status != 401 {
		t.Fatalf("status without a token: %d", r.status)
	}
	if r := s.do("POST", "/api/v1/rooms/launch/join", `{"vip": true}`); r.status != 400 {
		t.Fatalf("join with an unknown field: %d", r.status)
	}

	// Admission: the status carries the token, a cookie holds it, and it
	// opens forward auth for this room only.
	time.Sleep(10 * time.Millisecond) // let the room's bucket fill (60000/min = 1/ms)
	if ids := s.admit("launch"); len(ids) != 2 {
		t.Fatalf("admitted %v", ids)
	}
	r := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt)
	m := r.json(t)
	at, _ := m["admission_token"].(string)
	if r.status != 200 || m["status"] != "admitted" || at == "" {
		t.Fatalf("admitted status: %d %v", r.status, m)
	}
	if c := cookie(r, "cg_a_launch"); c == nil || c.Value != at {
		t.Fatalf("admission cookie: %v", r.header)
	}
	p, err := s.keys.Verify(at, "launch")
	if err != nil || p.Subject != j2["queue_id"] {
		t.Fatalf("admission token: %+v %v", p, err)
	}
	again := s.do("POST", "/api/v1/rooms/launch/join", "", "Authorization", "Bearer "+qt).json(t)
	if again["admission_token"] != at {
		t.Fatal("asking again gave a different admission")
	}
	if r := s.do("GET", "/auth/v1/check?room=launch", "", "Cookie", "cg_a_launch="+at); r.status != 200 {
		t.Fatalf("forward auth with the cookie: %d", r.status)
	}
	if r := s.do("GET", "/auth/v1/check?room=launch", "", "Authorization", "Bearer "+at); r.status != 200 {
		t.Fatalf("forward auth with the bearer: %d", r.status)
	}
	if r := s.do("GET", "/auth/v1/check?room=other", "", "Authorization", "Bearer "+at); r.status != 401 {
		t.Fatalf("forward auth, other room: %d", r.status)
	}

	// Giving up the place.
	if r := s.do("DELETE", "/api/v1/rooms/launch/ticket", "", "Authorization", "Bearer "+qt); r.status != 204 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt); r.status != 404 || r.errorCode(t) != "not_found" {
		t.Fatalf("status after leave: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/api/v1/rooms/missing/join", ""); r.status != 404 {
		t.Fatalf("join a missing room: %d", r.status)
	}
}

func TestJoinScheduleAndClosed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	s.putRoom("soon", `{"queue_opens_at": "`+future+`"}`)
	r := s.do("POST", "/api/v1/rooms/soon/join", "")
	if r.status != 409 || r.errorCode(t) != "conflict" || r.header.Get("Retry-After") == "" {
		t.Fatalf("join before the queue opens: %d %v %s", r.status, r.header, r.body)
	}
	s.putRoom("pre", `{"admit_per_minute": 100, "sale_starts_at": "`+future+`"}`)
	if m := s.do("POST", "/api/v1/rooms/pre/join", "").json(t); m["status"] != "prequeue" || m["position"] != 1.0 {
		t.Fatalf("join before the sale: %v", m)
	}
	s.putRoom("done", `{"closed": true}`)
	if m := s.do("POST", "/api/v1/rooms/done/join", "").json(t); m["status"] != "closed" {
		t.Fatalf("join a closed room: %v", m)
	}
	// A waiter whose room closes is told so.
	s.putRoom("closing", `{}`)
	qt := s.do("POST", "/api/v1/rooms/closing/join", "").json(t)["queue_token"].(string)
	s.admin("PATCH", "/admin/v1/rooms/closing", `{"closed": true}`)
	if m := s.do("GET", "/api/v1/rooms/closing/status", "", "Authorization", "Bearer "+qt).json(t); m["status"] != "closed" {
		t.Fatalf("waiter in a closed room: %v", m)
	}
}

func TestForwardAuthRoutes(t *testing.T) {
	t.Parallel()
	s := newStack(t, "/checkout/*=launch,/events/coldplay=launch", "/=lobby")
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	cases := []struct {
		header, uri string
		status      int
		returnTo    string
	}{
		{"X-Original-URI", "/checkout/pay?x=1", 401, "/checkout/pay?x=1"},
		{"X-Forwarded-Uri", "/static/../checkout/pay", 401, ""},
		{"X-Envoy-Original-Path", "/%63heckout/", 401, "/%63heckout/"},
		{"X-Original-URI", "/events/coldplay/seat", 401, "/events/coldplay/seat"},
		{"X-Original-URI", "//evil.example/checkout/", 401, ""},
	}
	for _, c := range cases {
		r := s.do("GET", "/auth/v1/check", "", c.header, c.uri)
		if r.status != c.status {
			t.Errorf("%s %s: %d", c.header, c.uri, r.status)
			continue
		}
		wr := r.header.Get("X-Crowdgate-Waiting-Room")
		u, err := url.Parse(wr)
		if err != nil || u.Host != strings.TrimPrefix(s.srv.URL, "http://") || !strings.HasPrefix(u.Path, "/rooms/") {
			t.Errorf("%s: waiting room %q", c.uri, wr)
		}
		if c.returnTo != "" && u.Query().Get("return_to") != c.returnTo {
			t.Errorf("%s: return_to %q", c.uri, u.Query().Get("return_to"))
		}
		if strings.Contains(c.uri, "evil") && u.Query().Get("return_to") != "" {
			t.Errorf("%s: an off-site return_to was passed on", c.uri)
		}
	}
	// No route at all (only possible without the "/" rule): 200.
	bare := newStack(t, "/checkout=launch")
	if r := bare.do("GET", "/auth/v1/check", "", "X-Original-URI", "/about"); r.status != 200 {
		t.Fatalf("unprotected path: %d", r.status)
	}
	// Envoy's path_prefix form.
	if r := bare.do("POST", "/auth/v1/check/checkout/pay", ""); r.status != 401 {
		t.Fatalf("envoy form: %d", r.status)
	}
	// A hostile Host cannot steer the waiting-room URL elsewhere.
	r := s.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/", "X-Forwarded-Host", "evil.example/path?")
	if wr := r.header.Get("X-Crowdgate-Waiting-Room"); strings.Contains(wr, "evil") {
		t.Fatalf("hostile X-Forwarded-Host reached the URL: %s", wr)
	}

	// An admitted visitor passes for the routes of their room.
	qt := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	time.Sleep(5 * time.Millisecond)
	s.admit("launch")
	at := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt).json(t)["admission_token"].(string)
	if r := s.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/pay", "Cookie", "cg_a_launch="+at); r.status != 200 {
		t.Fatalf("admitted: %d", r.status)
	}
	if r := s.do("GET", "/auth/v1/check", "", "X-Original-URI", "/shop", "Cookie", "cg_a_launch="+at); r.status != 401 {
		t.Fatalf("admitted to launch, asking for lobby: %d", r.status)
	}
	if r := s.do("GET", "/auth/v1/check?room=BAD", ""); r.status != 400 {
		t.Fatalf("bad room id: %d", r.status)
	}
}

// TestForwardAuthClientCannotPickRoom: a proxy sets one URI header (or,
// Envoy, the path); a client that adds its own, or a room= to its URL,
// must not be judged by a room of its choosing.
func TestForwardAuthClientCannotPickRoom(t *testing.T) {
	t.Parallel()
	s := newStack(t, "/checkout/=launch,/free/=free")
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	s.putRoom("free", `{"passthrough": true}`)
	free := s.do("POST", "/api/v1/rooms/free/join", "").json(t)["admission_token"].(string)
	bearer := "Bearer " + free
	for _, c := range []struct {
		name string
		path string
		h    []string
		want int
	}{
		{"own room", "/auth/v1/check", []string{"X-Original-URI", "/free/x"}, 200},
		{"envoy form, own room", "/auth/v1/check/free/x", nil, 200},
		{"envoy form, room= in the fan's URL", "/auth/v1/check/checkout/pay?room=free", nil, 401},
		{"traefik, client's X-Original-URI", "/auth/v1/check", []string{"X-Original-URI", "/about", "X-Forwarded-Uri", "/checkout/pay"}, 401},
		{"traefik, client's other room", "/auth/v1/check", []string{"X-Original-URI", "/free/x", "X-Forwarded-Uri", "/checkout/pay"}, 401},
		{"envoy, client's header", "/auth/v1/check/checkout/pay", []string{"X-Envoy-Original-Path", "/free/x"}, 401},
		{"nginx, client's X-Forwarded-Uri on a free path", "/auth/v1/check", []string{"X-Original-URI", "/free/x", "X-Forwarded-Uri", "/about"}, 200},
	} {
		r := s.do("GET", c.path, "", append([]string{"Authorization", bearer}, c.h...)...)
		if r.status != c.want {
			t.Errorf("%s: %d, want %d", c.name, r.status, c.want)
		}
		if r.status == 401 && !strings.Contains(r.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/") {
			t.Errorf("%s: no waiting room in %v", c.name, r.header)
		}
	}
}

func TestHealthAndKeys(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if r := s.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := s.do("GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("readyz %d", r.status)
	}
	r := s.do("GET", "/.well-known/jwks.json", "")
	keys, _ := r.json(t)["keys"].([]any)
	if r.status != 200 || len(keys) != 1 {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	r = s.admin("POST", "/admin/v1/keys/rotate", "")
	if r.status != 200 || r.json(t)["kid"] == "" {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if keys, _ := s.do("GET", "/.well-known/jwks.json", "").json(t)["keys"].([]any); len(keys) != 2 {
		t.Fatalf("after rotation the JWKS has %d keys, want 2", len(keys))
	}
	if r := s.do("GET", "/metrics", ""); r.status != 200 || !strings.Contains(string(r.body), "crowdgate_http_request_duration_seconds_count") {
		t.Fatalf("metrics: %d", r.status)
	}
	if !s.redis.Real {
		return
	}
	s.redis.Stop()
	if r := s.do("GET", "/readyz", ""); r.status != 503 || r.errorCode(t) != "unavailable" {
		t.Fatalf("readyz without redis: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz without redis: %d", r.status)
	}
	if r := s.do("POST", "/api/v1/rooms/any/join", ""); r.status < 500 || r.errorCode(t) == "" {
		t.Fatalf("join without redis: %d %s", r.status, r.body)
	}
}

// TestFailOpenOrClosed: with the store down, a room that fails open lets
// visitors without a token through forward auth; one that fails closed (the
// default) keeps sending them to the waiting room. Admitted visitors pass
// in both, since their tokens verify without the store.
func TestFailOpenOrClosed(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{routes: []string{"/open/=open,/closed/=shut"}, running: true})
	if !s.redis.Real {
		t.Skip("needs a redis-server to stop")
	}
	s.putRoom("open", `{"admit_per_minute": 60000, "on_store_failure": "open"}`)
	s.putRoom("shut", `{"admit_per_minute": 60000}`)
	if m := s.admin("GET", "/admin/v1/rooms/shut", "").json(t); m["on_store_failure"] != "closed" {
		t.Fatalf("default failure mode: %v", m)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/shut", `{"on_store_failure": "sometimes"}`); r.status != 400 {
		t.Fatalf("bad failure mode: %d", r.status)
	}
	qt := s.do("POST", "/api/v1/rooms/shut/join", "").json(t)["queue_token"].(string)
	var at string
	for deadline := time.Now().Add(3 * time.Second); at == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		at, _ = s.do("GET", "/api/v1/rooms/shut/status", "", "Authorization", "Bearer "+qt).json(t)["admission_token"].(string)
	}
	if at == "" {
		t.Fatal("never admitted")
	}
	check := func(uri string, h ...string) int {
		return s.do("GET", "/auth/v1/check", "", append([]string{"X-Original-URI", uri}, h...)...).status
	}
	if check("/open/x") != 401 || check("/closed/x") != 401 {
		t.Fatal("with the store up, visitors without a token must wait")
	}
	time.Sleep(100 * time.Millisecond) // let the controller cache both rooms
	s.redis.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for check("/open/x") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("a fail-open room never opened while the store was down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := check("/closed/x"); got != 401 {
		t.Fatalf("fail-closed room with the store down: %d", got)
	}
	if got := check("/closed/x", "Authorization", "Bearer "+at); got != 200 {
		t.Fatalf("admitted visitor with the store down: %d", got)
	}
}

func TestCookieDomain(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{domain: "example.test"})
	s.putRoom("launch", `{}`)
	r := s.do("POST", "/api/v1/rooms/launch/join", "")
	if c := cookie(r, "cg_q_launch"); c == nil || c.Domain != "example.test" {
		t.Fatalf("queue cookie %+v, want Domain=example.test", c)
	}
	if _, err := gateway.New(gateway.Config{AdminToken: "x", Ready: func(context.Context) error { return nil }, CookieDomain: "evil.example/path"}, nil, nil); err == nil {
		t.Fatal("a cookie domain with a path was accepted")
	}
}

// TestTrustedProxies: behind a trusted proxy each fan is their own address
// (a brute-forcing one is cut off, the organizer is not); without the
// setting, a client's X-Forwarded-For is never believed.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	guess := func(s *stack, from string) int {
		var last int
		for range 12 {
			last = s.do("GET", "/admin/v1/rooms", "", "Authorization", "Bearer guess", "X-Forwarded-For", from).status
		}
		return last
	}
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32"})
	if got := guess(s, "203.0.113.7"); got != 429 {
		t.Fatalf("brute force behind the proxy: %d", got)
	}
	if r := s.do("GET", "/admin/v1/rooms", "", "Authorization", "Bearer "+adminToken, "X-Forwarded-For", "198.51.100.1"); r.status != 200 {
		t.Fatalf("another address behind the same proxy: %d", r.status)
	}
	direct := newStack(t)
	guess(direct, "203.0.113.7")
	if r := direct.do("GET", "/admin/v1/rooms", "", "Authorization", "Bearer "+adminToken, "X-Forwarded-For", "198.51.100.1"); r.status != 429 {
		t.Fatalf("an untrusted X-Forwarded-For escaped the limit: %d", r.status)
	}
}
