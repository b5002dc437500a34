package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/ws"
)

const usage = `Crowdgate: a fair virtual waiting room and admission gateway.

Usage:
  crowdgate serve [flags]    run everything (see crowdgate serve -h)
  crowdgate room <command>   list, get, set, pause, resume or close rooms (see crowdgate room -h)
  crowdgate event <command>  list, get or set events, read their log, audit them (see crowdgate event -h)
  crowdgate verify-shuffle   check a random_prequeue room's draw (see crowdgate verify-shuffle -h)
  crowdgate version          print the version

Every flag of serve can also be set by its CROWDGATE_* environment variable.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "room":
		return newAdminCLI(getenv, stdout, stderr).room(ctx, args[1:])
	case "event":
		return newAdminCLI(getenv, stdout, stderr).event(ctx, args[1:])
	case "verify-shuffle":
		return verifyShuffle(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "crowdgate", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// options are serve's settings, from flags over environment over defaults.
type options struct {
	addr, redisURL, adminToken, signingKey, upstream, webhookSecret, configFile string
	publicURL, logLevel, logFormat, debugAddr, cookieDomain, trusted            string
	smtpAddr, smtpFrom, smtpUser, smtpPassword, notifyURL, notifySecret         string
	metricsAddr                                                                 string
	routes                                                                      multiFlag
	grace, drain                                                                time.Duration
	wsPerIP, connsPerIP                                                         int
	demo, pprof                                                                 bool
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envDur := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(name)); err == nil {
			return d
		}
		return def
	}
	envInt := func(name string, def int) int {
		if n, err := strconv.Atoi(getenv(name)); err == nil {
			return n
		}
		return def
	}
	fs.StringVar(&o.addr, "addr", env("CROWDGATE_ADDR", "127.0.0.1:8080"), "listen address (CROWDGATE_ADDR)")
	fs.StringVar(&o.redisURL, "redis", env("CROWDGATE_REDIS_URL", ""), "redis://, rediss:// or unix:// URL; host:port,host:port for Redis Cluster; redis-sentinel://host:port,host:port/<master name> for Redis Sentinel; empty = embedded single-process store (CROWDGATE_REDIS_URL)")
	fs.StringVar(&o.adminToken, "admin-token", env("CROWDGATE_ADMIN_TOKEN", ""), "bearer token for /admin/*; empty = generate one and print it (CROWDGATE_ADMIN_TOKEN)")
	fs.StringVar(&o.signingKey, "signing-key", env("CROWDGATE_SIGNING_KEY_FILE", ""), "PEM private key (Ed25519 or P-256) for admission tokens; empty = generated and shared through the store (CROWDGATE_SIGNING_KEY_FILE)")
	fs.StringVar(&o.upstream, "upstream", env("CROWDGATE_UPSTREAM", ""), "origin URL to reverse-proxy admitted visitors to (CROWDGATE_UPSTREAM)")
	fs.Var(&o.routes, "route", "path-prefix=room rules, comma-separated; repeatable (CROWDGATE_ROUTES)")
	fs.StringVar(&o.webhookSecret, "sandbox-webhook-secret", env("CROWDGATE_SANDBOX_WEBHOOK_SECRET", ""), "secret of the sandbox payment provider (CROWDGATE_SANDBOX_WEBHOOK_SECRET)")
	fs.StringVar(&o.configFile, "config", env("CROWDGATE_CONFIG", ""), "YAML file of rooms and events to create at start (CROWDGATE_CONFIG)")
	fs.StringVar(&o.smtpAddr, "smtp-addr", env("CROWDGATE_SMTP_ADDR", ""), "host:port of the SMTP relay for email notifications; empty = no email (CROWDGATE_SMTP_ADDR)")
	fs.StringVar(&o.smtpFrom, "smtp-from", env("CROWDGATE_SMTP_FROM", "Crowdgate <tickets@localhost>"), "sender of notification emails (CROWDGATE_SMTP_FROM)")
	fs.StringVar(&o.smtpUser, "smtp-user", env("CROWDGATE_SMTP_USER", ""), "SMTP AUTH user; empty = no AUTH (CROWDGATE_SMTP_USER)")
	fs.StringVar(&o.smtpPassword, "smtp-password", env("CROWDGATE_SMTP_PASSWORD", ""), "SMTP AUTH password (CROWDGATE_SMTP_PASSWORD)")
	fs.StringVar(&o.notifyURL, "notify-webhook-url", env("CROWDGATE_NOTIFY_WEBHOOK_URL", ""), "URL that receives every notification as signed JSON, e.g. an SMS or WhatsApp gateway (CROWDGATE_NOTIFY_WEBHOOK_URL)")
	fs.StringVar(&o.notifySecret, "notify-webhook-secret", env("CROWDGATE_NOTIFY_WEBHOOK_SECRET", ""), "HMAC secret of the notification webhook's Crowdgate-Signature (CROWDGATE_NOTIFY_WEBHOOK_SECRET)")
	fs.StringVar(&o.publicURL, "public-url", env("CROWDGATE_PUBLIC_URL", ""), "URL fans reach Crowdgate at, for absolute links; empty = from each request's Host (CROWDGATE_PUBLIC_URL)")
	fs.StringVar(&o.cookieDomain, "cookie-domain", env("CROWDGATE_COOKIE_DOMAIN", ""), "Domain of the queue and admission cookies, so origins on other hosts of the site receive them; empty = Crowdgate's host only (CROWDGATE_COOKIE_DOMAIN)")
	fs.StringVar(&o.trusted, "trusted-proxies", env("CROWDGATE_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For is believed, e.g. 127.0.0.1/32,10.0.0.0/8 (CROWDGATE_TRUSTED_PROXIES)")
	fs.StringVar(&o.logLevel, "log-level", env("CROWDGATE_LOG_LEVEL", "info"), "debug, info, warn or error (CROWDGATE_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", env("CROWDGATE_LOG_FORMAT", "json"), "json or text (CROWDGATE_LOG_FORMAT)")
	fs.DurationVar(&o.grace, "grace", envDur("CROWDGATE_GRACE", time.Minute), "how long a silent waiter keeps their place (CROWDGATE_GRACE)")
	fs.DurationVar(&o.drain, "drain", envDur("CROWDGATE_DRAIN", 10*time.Second), "how long shutdown waits for in-flight requests (CROWDGATE_DRAIN)")
	fs.StringVar(&o.debugAddr, "debug-addr", env("CROWDGATE_DEBUG_ADDR", ""), "if set, serve Go profiling (/debug/pprof/) on this separate address; keep it private (CROWDGATE_DEBUG_ADDR)")
	fs.IntVar(&o.wsPerIP, "ws-max-per-ip", envInt("CROWDGATE_WS_MAX_PER_IP", 64), "concurrent WebSockets allowed from one address (CROWDGATE_WS_MAX_PER_IP)")
	fs.IntVar(&o.connsPerIP, "max-conns-per-ip", envInt("CROWDGATE_MAX_CONNS_PER_IP", 256), "open connections allowed from one address; --trusted-proxies and loopback are exempt; 0 = no cap (CROWDGATE_MAX_CONNS_PER_IP)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", env("CROWDGATE_METRICS_ADDR", ""), "if set, serve /metrics on this separate, private address only; empty = /metrics on --addr, to loopback and private networks only (CROWDGATE_METRICS_ADDR)")
	fs.BoolVar(&o.pprof, "pprof", getenv("CROWDGATE_PPROF") == "1", "also serve Go profiling (/debug/pprof/) on --metrics-addr (CROWDGATE_PPROF=1)")
	fs.BoolVar(&o.demo, "demo", getenv("CROWDGATE_DEMO") == "1", "create a demo room and print how to use it (CROWDGATE_DEMO=1)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.pprof && o.metricsAddr == "" {
		return o, errors.New("--pprof serves on --metrics-addr: set it too (or use --debug-addr)")
	}
	if len(o.routes) == 0 {
		if v := getenv("CROWDGATE_ROUTES"); v != "" {
			o.routes = multiFlag{v}
		}
	}
	return o, nil
}

func newLogger(o options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", o.logFormat)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	if o.demo && getenv("CROWDGATE_LOG_FORMAT") == "" && !hasFlag(args, "log-format") {
		o.logFormat = "text"
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	routes, err := gateway.ParseRoutes(o.routes...)
	if err != nil {
		return fmt.Errorf("--route: %w", err)
	}
	var public *url.URL
	if o.publicURL != "" {
		if public, err = url.Parse(o.publicURL); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	}
	var upstream *url.URL
	if o.upstream != "" {
		if upstream, err = url.Parse(o.upstream); err != nil {
			return fmt.Errorf("--upstream: %w", err)
		}
	}
	if o.demo && upstream == nil && len(routes) == 0 {
		// The full loop for a newcomer: /shop/ is a page of a demo origin,
		// protected by the demo room.
		origin, stop, err := startDemoOrigin()
		if err != nil {
			return err
		}
		defer stop()
		upstream, routes = origin, gateway.Routes{{Prefix: "/shop/", Room: "demo"}}
	}
	var trusted []*net.IPNet
	for _, cidr := range strings.Split(o.trusted, ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("--trusted-proxies: %w", err)
		}
		trusted = append(trusted, n)
	}
	var keyPEM []byte
	if o.signingKey != "" {
		if keyPEM, err = os.ReadFile(o.signingKey); err != nil {
			return fmt.Errorf("--signing-key: %w", err)
		}
	}

	redis.SetLogger(redisLogger{log})
	rdb, closeRedis, err := openRedis(o, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	store, err := queue.NewStore(rdb, queue.Config{Grace: o.grace})
	if err != nil {
		return err
	}
	defer store.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = store.Ping(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{
		KeyPEM:           keyPEM,
		MaxTokenLifetime: queue.MaxSessionSeconds * time.Second,
	})
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if o.adminToken == "" {
		o.adminToken = randomToken()
		fmt.Fprintf(stdout, "admin token (generated, shown once): %s\n", o.adminToken)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close() // after Serve has closed it, a no-op
	// The operator's listeners: metrics (and profiling) never on the
	// public one when asked for.
	var metricsLn, debugLn net.Listener
	if o.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", o.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer metricsLn.Close()
	}
	if o.debugAddr != "" {
		if debugLn, err = net.Listen("tcp", o.debugAddr); err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		defer debugLn.Close()
	}
	book, err := startBooking(ctx, o, rdb, store, keys, ln.Addr(), public, log, reg)
	if err != nil {
		return err
	}
	ctl, err := admission.NewController(store, keys, admission.Config{Logger: log, Registerer: reg, Health: bookingHealth(book.core)})
	if err != nil {
		return err
	}
	if o.configFile != "" {
		if err := applyConfig(ctx, store, ctl, book.core, o.configFile, log); err != nil {
			return err
		}
	}
	hub, err := ws.New(ctl, store, ws.Config{
		Logger: log, Registerer: reg, MaxPerIP: o.wsPerIP, Heartbeat: o.grace / 3,
		Tickets: func(room string) (int64, int64, bool) {
			left, ok := book.core.Tickets(room)
			return left.Available, left.Held, ok
		},
	})
	if err != nil {
		return err
	}
	connsPerIP := o.connsPerIP
	if connsPerIP <= 0 {
		connsPerIP = -1 // serve's 0 is no cap; gateway's is its default
	}
	srv, err := gateway.New(gateway.Config{
		Sockets:        hub,
		Booking:        book.core,
		Sandbox:        book.sandbox,
		Upstream:       upstream,
		AdminToken:     o.adminToken,
		PublicURL:      public,
		CookieDomain:   o.cookieDomain,
		TrustedProxies: trusted,
		MaxConnsPerIP:  connsPerIP,
		PrivateMetrics: metricsLn != nil,
		Routes:         routes,
		Ready:          store.Ping,
		Store:          store,
		Logger:         log,
		Registry:       reg,
	}, ctl, keys)
	if err != nil {
		return err
	}
	if o.demo {
		if err := startDemo(ctx, ctl, book.core, ln.Addr().String(), public, o.adminToken, routes, stdout); err != nil {
			return err
		}
	}
	log.Info("crowdgate listening", "addr", ln.Addr().String(), "version", version, "routes", len(routes))

	g, gctx := errgroup.WithContext(ctx)
	if metricsLn != nil {
		log.Info("metrics listening", "addr", metricsLn.Addr().String(), "pprof", o.pprof)
		g.Go(func() error { return srv.ServePrivate(gctx, metricsLn, true, o.pprof) })
	}
	if debugLn != nil {
		log.Info("profiling", "addr", debugLn.Addr().String())
		g.Go(func() error { return srv.ServePrivate(gctx, debugLn, false, true) })
	}
	g.Go(func() error { return ctl.Run(gctx) })
	g.Go(func() error { return hub.Run(gctx) })
	g.Go(func() error { return book.core.Run(gctx) })
	g.Go(func() error { return book.notifier.Run(gctx) })
	g.Go(func() error { return srv.Serve(gctx, ln, o.drain) })
	g.Go(func() error { return srv.RunHistory(gctx) })
	err = g.Wait()
	log.Info("crowdgate stopped")
	return err
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// startDemo creates the demo room and its event (unless they exist) and
// prints where to go.
func startDemo(ctx context.Context, ctl *admission.Controller, core *booking.Core, addr string, public *url.URL, adminToken string, routes gateway.Routes, w io.Writer) error {
	if _, err := ctl.Room(ctx, "demo"); errors.Is(err, queue.ErrRoomNotFound) {
		room := queue.Room{Name: "demo", AdmitPerMinute: 30, SessionSeconds: 900}.WithDefaults()
		if _, _, err := ctl.PutRoom(ctx, room); err != nil {
			return fmt.Errorf("demo room: %w", err)
		}
	} else if err != nil {
		return err
	}
	if _, err := core.Event(ctx, "demo"); errors.Is(err, booking.ErrEventNotFound) {
		ev := booking.Event{ID: "demo", Room: "demo", HoldSeconds: 600, TicketTypes: []booking.TicketType{
			{ID: "ga", Name: "General admission", Capacity: 500, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
			{ID: "vip", Name: "VIP", Capacity: 50, PriceMinor: 500000, Currency: "INR", PerOrderLimit: 2},
		}}
		if _, err := core.PutEvent(ctx, ev); err != nil {
			return fmt.Errorf("demo event: %w", err)
		}
	} else if err != nil {
		return err
	}
	base := "http://" + addr
	if public != nil {
		base = strings.TrimSuffix(public.String(), "/")
	}
	fmt.Fprintf(w, `
Crowdgate demo is running. Room "demo" admits 30 people a minute; event "demo" sells behind it.
%[3]s
  Waiting room page:  %[1]s/rooms/demo
  Tickets (admitted): %[1]s/events/demo   (hold, then pay on the sandbox's page)
  Join the line:      curl -si -X POST %[1]s/api/v1/rooms/demo/join
  Your place:         curl -s -H "Authorization: Bearer <queue_token>" %[1]s/api/v1/rooms/demo/status
  Room and figures:   curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/rooms/demo
  Change the rate:    curl -s -X PATCH -H "Authorization: Bearer %[2]s" -d '{"admit_per_minute":600}' %[1]s/admin/v1/rooms/demo
  Tickets sold:       curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/events/demo
  Event log:          curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/events/demo/log
  Forward-auth check: curl -si "%[1]s/auth/v1/check?room=demo"
  Signing keys:       %[1]s/.well-known/jwks.json
  Metrics:            %[1]s/metrics

`, base, adminToken, demoShop(base, routes))
	return nil
}

func demoShop(base string, routes gateway.Routes) string {
	if len(routes) != 1 || routes[0].Prefix != "/shop/" {
		return ""
	}
	return "\n  Protected page:     " + base + "/shop/   (the demo origin: you wait, then get in)\n"
}

// startDemoOrigin serves the demo's origin site on a loopback port: the
// page a fan reaches once admitted.
func startDemoOrigin() (*url.URL, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("demo origin: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Demo shop</title><body style="font-family:system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>You're in.</h1><p>This is the demo origin behind Crowdgate. You waited in room <b>demo</b>, were admitted,
and your admission cookie let this request through the reverse proxy.</p>
<p><a href="/events/demo">Buy tickets</a> (Crowdgate's booking core, paid with the sandbox provider).</p></body></html>`)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, func() { _ = srv.Close() }, nil
}

// redisLogger sends go-redis's own messages (reconnects, pool dials) to the
// structured log at debug level instead of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}
