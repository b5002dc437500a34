package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/ws"
)

// Config configures a Server.
type Config struct {
	// AdminToken is the bearer token of /admin/*. Required.
	AdminToken string
	// PublicURL is the address fans reach Crowdgate at, used in absolute
	// URLs (X-Crowdgate-Waiting-Room). When nil it is derived from each
	// request's Host.
	PublicURL *url.URL
	// CookieDomain, when set, is the Domain of the queue and admission
	// cookies (e.g. "example.com"), so an origin on another host of the
	// site receives the admission cookie. Empty: Crowdgate's host only.
	CookieDomain string
	// TrustedProxies are the networks whose X-Forwarded-For is believed:
	// behind nginx or a load balancer every fan would otherwise share the
	// proxy's address (for the per-address socket cap and the admin
	// brute-force limit). Empty: the connection's address, always.
	TrustedProxies []*net.IPNet
	// LimitBypass are networks whose joins no per-address limit counts
	// and whose address never raises a room's challenge (venues' kiosks,
	// partners' servers): see queue/gate.go.
	LimitBypass []netip.Prefix
	// Routes map paths to rooms for forward auth.
	Routes Routes
	// RoomMissing, when set, is told the room a route or an event names
	// when a request or RunProblems finds that it does not exist, so that
	// whoever declared the room can put it back (cmd/crowdgate's
	// configuration file keeper). It must not block.
	RoomMissing func(room string)
	// Ready reports whether the store answers (/readyz).
	Ready func(context.Context) error
	// Store is the queue data the gateway serves that is no admission
	// decision: the admin API's and dashboard's reads of rooms, their
	// figures and history, the audit log, a draw's fairness proof and the
	// fans' notify-me contacts. Rooms are written, and fans admitted,
	// through the admission.Controller given to New, never here. Required
	// with a controller.
	Store *queue.Store
	// Upstream is the origin to reverse-proxy to (embedding mode): paths
	// Crowdgate does not serve itself go there, protected ones only with a
	// valid admission token for their room. Nil: no proxy.
	Upstream *url.URL
	// Sockets serves the fans' WebSocket; without it the route is absent.
	Sockets *ws.Hub
	// Notify says a notification channel that reaches people (email, a
	// webhook) is configured: only then are waiters offered "notify me".
	Notify bool
	// Booking serves events, holds, orders and payment webhooks; without
	// it those routes are absent.
	Booking *booking.Core
	// Sandbox is the built-in payment provider, whose pay page is served
	// here; nil: no pay page.
	Sandbox *booking.Sandbox
	// BookingConcurrency caps the booking API's requests in flight on this
	// instance; beyond it requests are shed with 429. Default 256.
	BookingConcurrency int
	// MaxConnsPerIP caps the connections one client address holds open at
	// once on the listener Serve serves; trusted proxies and loopback are
	// exempt (see connCap). 0: 256; negative: no cap.
	MaxConnsPerIP int
	// PrivateMetrics says /metrics is served on a private listener
	// (ServePrivate) and the main listener answers it 404. When false the
	// main listener serves it, but only to clients on loopback or a private
	// network (judged on the real client address): it names rooms and
	// events, with their lines and tickets, before they are announced.
	PrivateMetrics bool
	// PassCacheSize bounds the verified-token cache. Default 100000.
	PassCacheSize int
	// Logger receives one line per failed request; default discards.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and serves /metrics. Default: a new one.
	Registry *prometheus.Registry
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Validate reports what is missing from c.
func (c Config) Validate() error {
	if c.AdminToken == "" {
		return errors.New("gateway: an admin token is required")
	}
	if c.Ready == nil {
		return errors.New("gateway: a readiness check is required")
	}
	if c.Upstream != nil && (c.Upstream.Scheme != "http" && c.Upstream.Scheme != "https" || c.Upstream.Host == "") {
		return fmt.Errorf("gateway: upstream %q must be an absolute http(s) URL", c.Upstream)
	}
	if c.CookieDomain != "" && !hostPattern.MatchString(c.CookieDomain) {
		return fmt.Errorf("gateway: cookie domain %q is not a host name", c.CookieDomain)
	}
	if c.PublicURL != nil && (c.PublicURL.Scheme != "http" && c.PublicURL.Scheme != "https" || c.PublicURL.Host == "") {
		return fmt.Errorf("gateway: public URL %q must be an absolute http(s) URL", c.PublicURL)
	}
	return nil
}

// Server is Crowdgate's HTTP face: the admin API, the fans' API, forward
// auth, JWKS, health and metrics.
type Server struct {
	cfg    Config
	echo   *echo.Echo
	ctl    *admission.Controller
	keys   *admission.Keyring
	passes *admission.PassCache
	log    *slog.Logger
	// readiness says once that /readyz finds the store down, not per probe.
	readiness *queue.Outage
	history   *queue.Outage // the dashboard's history sampler's
	admin     *adminGuard
	proxy     *httputil.ReverseProxy

	reqSeq    atomic.Uint64
	reqPrefix string

	latency     *prometheus.HistogramVec
	observersMu sync.RWMutex
	observers   map[routeCode]prometheus.Observer
	checks      *prometheus.CounterVec
	allowed     prometheus.Counter // checks' "allowed" child, resolved once

	visitors  *limiterSet   // booking requests per admitted visitor
	inflight  chan struct{} // booking requests in flight (see shed)
	shedTotal prometheus.Counter
	conns     *connCap     // nil: no per-address connection cap
	metrics   http.Handler // the registry, in Prometheus' format

	// captchaFails are failed CAPTCHAs per address (captcha.go).
	captchaFails *limiterSet
	// templates are the rooms' compiled page templates (look.go).
	templates pageTemplateCache
	// origin measures the origin's answers to the reverse proxy (origin.go).
	origin *originMetrics
	// missing is what names a room that does not exist (problems.go).
	missing *missingRooms
}

// New returns a Server over the admission controller and keyring.
func New(cfg Config, ctl *admission.Controller, keys *admission.Keyring) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ctl != nil && cfg.Store == nil {
		return nil, errors.New("gateway: a store is required with a controller")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PassCacheSize <= 0 {
		cfg.PassCacheSize = 100_000
	}
	if cfg.BookingConcurrency <= 0 {
		cfg.BookingConcurrency = 256
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 256
	}
	var prefix [4]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		ctl:       ctl,
		keys:      keys,
		passes:    admission.NewPassCache(keys, cfg.PassCacheSize, cfg.Now),
		log:       cfg.Logger,
		readiness: queue.NewOutage(cfg.Logger, "readiness", cfg.Now),
		history:   queue.NewOutage(cfg.Logger, "history", cfg.Now),
		admin:     newAdminGuard(cfg.AdminToken, cfg.Now),
		reqPrefix: hex.EncodeToString(prefix[:]),
		observers: map[routeCode]prometheus.Observer{},
		visitors:  newLimiterSet(visitorEvery, visitorBurst),
		inflight:  make(chan struct{}, cfg.BookingConcurrency),
		shedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_booking_shed_total", Help: "Booking requests turned away with 429 because too many were in flight.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crowdgate_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status; its _count counts requests.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_forward_auth_total", Help: "Forward-auth answers by result.",
		}, []string{"result"}),
	}
	s.allowed = s.checks.WithLabelValues("allowed")
	s.captchaFails = newLimiterSet(captchaFailEvery, captchaFailBurst)
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crowdgate_connections_refused_total", Help: "Connections closed at once because their address already held --max-conns-per-ip.",
	})
	if cfg.MaxConnsPerIP > 0 {
		s.conns = newConnCap(cfg.MaxConnsPerIP, cfg.TrustedProxies, refused, cfg.Logger)
	}
	missing, err := newMissingRooms(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.missing = missing
	origin, err := newOriginMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.origin = origin
	s.metrics = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	for _, m := range []prometheus.Collector{s.latency, s.checks, s.shedTotal, refused} {
		if err := cfg.Registry.Register(m); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	s.echo = s.routes()
	return s, nil
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s }

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(s.cfg.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range s.cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.Use(s.observe, s.sameSiteWrites)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.publicMetrics)
	e.GET("/.well-known/jwks.json", s.jwks)

	s.pageRoutes(e)
	s.fairnessRoutes(e)
	s.revocationRoutes(e)
	s.wsRoutes(e)
	s.apiDocRoutes(e)

	e.Any(checkRoute, s.check)
	e.Any(checkPathPrefix+"*", s.check) // Envoy ext_authz appends the original path

	fan := e.Group(fanRoomRoute, s.roomParam)
	fan.POST("/join", s.join)
	fan.GET("/status", s.status)
	fan.DELETE("/ticket", s.leave)
	fan.POST("/release", s.release)
	s.notifyRoutes(fan)

	admin := e.Group(adminAPI, s.admin.middleware)
	admin.GET(adminRoomsRoute, s.listRooms)
	rooms := admin.Group(adminRoomRoute, s.roomParam)
	rooms.PUT("", s.putRoom)
	rooms.PATCH("", s.patchRoom)
	rooms.GET("", s.getRoom)
	rooms.DELETE("", s.deleteRoom)
	rooms.POST(roomCodesRoute, s.addCodes)
	rooms.GET(roomCodesRoute, s.countCodes)
	rooms.DELETE(roomCodesRoute, s.clearCodes)
	rooms.GET(roomHooksDeadRoute, s.hookDeadLetters)
	rooms.POST(roomHooksDeadRoute+"/retry", s.retryHookDeadLetters)
	rooms.PUT(roomTemplateRoute, s.putPageTemplate)
	rooms.GET(roomTemplateRoute, s.getPageTemplate)
	rooms.DELETE(roomTemplateRoute, s.deletePageTemplate)
	admin.POST("/keys/rotate", s.rotateKey)
	s.bookingRoutes(e, admin)
	s.dashboardRoutes(e, admin)
	s.shopRoutes(e)
	s.proxyRoutes(e) // last: everything not matched above
	return e
}

// Serve serves HTTP on ln until ctx ends, then stops accepting, lets
// in-flight requests finish (up to drain), and returns nil. Requests still
// running when drain runs out are cut (their connections closed) and
// counted in one WARN line: the stop was asked for (SIGTERM), so it is no
// error, and the process exits 0 as the contract says; the log line is
// what tells the operator that --drain is shorter than their slowest
// requests. WebSockets are the hub's to close, not counted here.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// A connection is active from the first byte of a request until its
	// answer is written (one request at a time: no HTTP/2 here), so the
	// active ones at the end of the drain are the requests cut.
	var activeMu sync.Mutex
	active := map[net.Conn]struct{}{}
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		activeMu.Lock()
		if state == http.StateActive {
			active[c] = struct{}{}
		} else {
			delete(active, c)
		}
		activeMu.Unlock()
		if s.conns != nil {
			s.conns.track(c, state)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		activeMu.Lock()
		cut := len(active)
		activeMu.Unlock()
		_ = srv.Close() // Shutdown leaves them open; the process is going
		s.log.Warn("drain time ran out: requests cut", "cut", cut, "drain", drain.String())
	}
	<-errc
	return nil
}

// ServePrivate serves the operator's endpoints on ln until ctx ends:
// /metrics when metrics, the Go profiler under /debug/pprof/ when profile.
// ln must not be reachable from the internet (--metrics-addr,
// --debug-addr). On ctx's end it stops accepting, gives a scrape in
// progress a second, and returns nil.
func (s *Server) ServePrivate(ctx context.Context, ln net.Listener, metrics, profile bool) error {
	mux := http.NewServeMux()
	if metrics {
		mux.Handle("GET /metrics", s.metrics)
	}
	if profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // a 30 s profile is not worth waiting for
	}
	<-errc
	return nil
}

// publicMetrics is /metrics on the main listener: 404 when it is served
// privately, and to clients outside loopback and private networks, so a
// public edge does not tell the internet the names of unannounced rooms
// and their figures.
func (s *Server) publicMetrics(c echo.Context) error {
	if s.cfg.PrivateMetrics || !privateClient(c.RealIP()) {
		return notFound("not found")
	}
	s.metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}

// sharedSpace is RFC 6598's carrier-grade NAT range, which some clusters
// use for pods: not reachable from the internet.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// privateClient reports whether ip is on loopback or a private network
// (RFC 1918, RFC 6598, IPv6 unique local).
func privateClient(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || sharedSpace.Contains(a)
}

// observe gives every request an id (kept from X-Request-Id when sane),
// times it, and logs it when it failed.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := s.requestID(c.Request())
		c.Response().Header()[echo.HeaderXRequestID] = []string{id}
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		code := c.Response().Status
		s.observer(route, code).Observe(time.Since(start).Seconds())
		if code >= 500 {
			s.log.Warn("request", "request_id", id, "method", c.Request().Method, "route", route, "status", code, "duration_ms", millis(time.Since(start)))
		}
		return nil
	}
}

// millis is a duration as log lines give it: milliseconds, with a
// fraction, under a key that says so ("duration_ms").
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// requestID is the caller's X-Request-Id when sane, else a new one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get(echo.HeaderXRequestID); validRequestID(id) {
		return id
	}
	return s.reqPrefix + "-" + strconv.FormatUint(s.reqSeq.Add(1), 36)
}

// routeCode keys the latency histogram's children.
type routeCode struct {
	route string
	code  int
}

// observer returns the histogram child of (route, code), resolving its
// labels once: label hashing was a visible share of a forward-auth check.
func (s *Server) observer(route string, code int) prometheus.Observer {
	k := routeCode{route, code}
	s.observersMu.RLock()
	o, ok := s.observers[k]
	s.observersMu.RUnlock()
	if ok {
		return o
	}
	o = s.latency.WithLabelValues(route, strconv.Itoa(code))
	s.observersMu.Lock()
	s.observers[k] = o
	s.observersMu.Unlock()
	return o
}

// validRequestID accepts a caller's request id of 1 to 64 characters from
// [A-Za-z0-9._-], so it can be logged and echoed safely.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers within readyTimeout whatever the store does: a client
// that ignores its context's deadline (go-redis without
// ContextTimeoutEnabled waits out its read timeout and retries) must not
// turn a frozen Redis into a hung probe. The check left behind ends on its
// own timeouts.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.cfg.Ready(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.readiness.Fail("readiness check", err)
		return &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "the store is not reachable"}
	}
	s.readiness.OK()
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// readyTimeout bounds /readyz: under a probe's usual 1 s timeout.
const readyTimeout = 900 * time.Millisecond

func (s *Server) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.Blob(http.StatusOK, "application/jwk-set+json", s.keys.JWKS())
}
