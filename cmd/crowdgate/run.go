package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/internal/jwks"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/ws"
)

const usage = `Crowdgate: a fair virtual waiting room and admission gateway.

Usage:
  crowdgate serve [flags]    run everything (see crowdgate serve -h)
  crowdgate room <command>   list, get, create, set, pause, resume, close or delete rooms, their
                             thresholds and bypass rules, and their access codes (see crowdgate room -h)
  crowdgate event <command>  list, get, set or delete events, read their log, audit them (see crowdgate event -h)
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

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	c, err := o.config(stderr)
	if err != nil {
		return err
	}
	log := c.log

	redis.SetLogger(redisLogger{log})
	rdb, closeRedis, err := openRedis(o, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	store, keys, err := openQueue(ctx, rdb, o.grace, c.keyPEM)
	if err != nil {
		return err
	}
	defer store.Close()
	if o.demo && c.upstream == nil && len(c.routes) == 0 {
		// The full loop for a newcomer: /shop/ is a page of a demo origin,
		// protected by the demo room (demo.go).
		origin, stop, err := startDemoOrigin(store)
		if err != nil {
			return err
		}
		defer stop()
		c.upstream, c.routes = origin, gateway.Routes{{Prefix: "/shop/", Room: demoRoom}}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if o.adminToken == "" {
		o.adminToken = randomToken()
		fmt.Fprintf(stdout, "admin token (generated, shown once): %s\n", o.adminToken)
	}
	lns, err := listen(o)
	if err != nil {
		return err
	}
	defer lns.close() // after Serve has closed them, a no-op
	book, err := startBooking(ctx, o, rdb, store, lns.public.Addr(), c.public, log, reg)
	if err != nil {
		return err
	}
	notifier, err := newNotifier(o, rdb, book.core, log, reg)
	if err != nil {
		return err
	}
	// Each siteverify call is counted, so a provider that cannot be
	// reached shows on /metrics, not only in the log.
	captchaMetrics, err := gateway.NewCaptchaMetrics(reg, slices.Sorted(maps.Keys(c.captcha))...)
	if err != nil {
		return err
	}
	ctl, err := admission.NewController(store, keys, admission.Config{
		Logger: log, Registerer: reg, Health: bookingHealth(book.core),
		// Sites that sign enqueue tokens with EdDSA or ES256 publish their
		// keys; they are fetched when a token first needs them.
		EnqueueKeys: jwks.NewCache(jwks.CacheConfig{}),
		// Waiters who left their contact hear when their turn is near and
		// when it has come, with a link that brings them back to their place.
		Notify: notify.NewOutbox(rdb), ResumeURL: resumeURL(c.public, lns.public.Addr()),
		PhoneCodes: c.phoneCodes,
		Captcha:    captchaVerifier{c.captcha.Observed(captchaMetrics.Observe)},
		// Rooms' changes, for the organizer's own systems.
		RoomHooks: o.roomHookURL != "",
	})
	if err != nil {
		return err
	}
	roomHooks, err := newRoomHooks(o, rdb, ctl, log, reg)
	if err != nil {
		return err
	}
	var keeper *configKeeper // nil without a config file
	if o.configFile != "" {
		rooms, events, err := applyConfig(ctx, store, ctl, book.core, o.configFile, log)
		if err != nil {
			return err
		}
		if keeper, err = newConfigKeeper(store, ctl, book.core, rooms, events, log, reg); err != nil {
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
	srv, err := gateway.New(gateway.Config{
		Sockets:        hub,
		Notify:         c.notify,
		Booking:        book.core,
		Sandbox:        book.sandbox,
		Upstream:       c.upstream,
		AdminToken:     o.adminToken,
		PublicURL:      c.public,
		CookieDomain:   o.cookieDomain,
		TrustedProxies: c.trusted,
		LimitBypass:    c.bypass,
		MaxConnsPerIP:  c.connsPerIP,
		PrivateMetrics: lns.metrics != nil,
		Routes:         c.routes,
		RoomMissing:    keeper.missing,
		Ready:          store.Ping,
		Store:          store,
		Logger:         log,
		Registry:       reg,
	}, ctl, keys)
	if err != nil {
		return err
	}
	var crowd *demoCrowd // the demo's simulated people; nil without --demo
	if o.demo {
		crowd, err = startDemo(ctx, demoSetup{
			ctl: ctl, store: store, core: book.core, addr: lns.public.Addr().String(), public: c.public,
			adminToken: o.adminToken, routes: c.routes, grace: o.grace, log: log,
		}, stdout)
		if err != nil {
			return err
		}
	}
	log.Info("crowdgate listening", "addr", lns.public.Addr().String(), "version", version, "routes", len(c.routes))

	g, gctx := errgroup.WithContext(ctx)
	if lns.metrics != nil {
		log.Info("metrics listening", "addr", lns.metrics.Addr().String(), "pprof", o.pprof)
		g.Go(func() error { return srv.ServePrivate(gctx, lns.metrics, true, o.pprof) })
	}
	if lns.debug != nil {
		log.Info("profiling", "addr", lns.debug.Addr().String())
		g.Go(func() error { return srv.ServePrivate(gctx, lns.debug, false, true) })
	}
	g.Go(func() error { return ctl.Run(gctx) })
	g.Go(func() error { return hub.Run(gctx) })
	g.Go(func() error { return book.core.Run(gctx) })
	g.Go(func() error { return notifier.Run(gctx) })
	if roomHooks != nil {
		g.Go(func() error { return roomHooks.Run(gctx) })
	}
	g.Go(func() error { return srv.Serve(gctx, lns.public, o.drain) })
	g.Go(func() error { return srv.RunHistory(gctx) })
	if crowd != nil {
		g.Go(func() error { return crowd.Run(gctx) })
	}
	g.Go(func() error { return srv.RunProblems(gctx) })
	if keeper != nil {
		g.Go(func() error { return keeper.Run(gctx) })
	}
	err = g.Wait()
	log.Info("crowdgate stopped")
	return err
}

// openQueue opens the waiting line on rdb, checks that Redis answers, and
// loads the admission keyring from it (or keyPEM). The store is closed
// when it fails.
func openQueue(ctx context.Context, rdb redis.UniversalClient, grace time.Duration, keyPEM []byte) (*queue.Store, *admission.Keyring, error) {
	store, err := queue.NewStore(rdb, queue.Config{Grace: grace})
	if err != nil {
		return nil, nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = store.Ping(pingCtx)
	cancel()
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{
		KeyPEM:           keyPEM,
		MaxTokenLifetime: queue.MaxSessionSeconds * time.Second,
	})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, keys, nil
}

// listeners are serve's: the public one, and the operator's, so metrics
// (and profiling) are never on the public one when asked for elsewhere.
type listeners struct{ public, metrics, debug net.Listener }

// listen opens o's listeners; when one fails, those opened are closed.
func listen(o options) (listeners, error) {
	var l listeners
	var err error
	if l.public, err = net.Listen("tcp", o.addr); err != nil {
		return listeners{}, err
	}
	if o.metricsAddr != "" {
		if l.metrics, err = net.Listen("tcp", o.metricsAddr); err != nil {
			l.close()
			return listeners{}, fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	if o.debugAddr != "" {
		if l.debug, err = net.Listen("tcp", o.debugAddr); err != nil {
			l.close()
			return listeners{}, fmt.Errorf("--debug-addr: %w", err)
		}
	}
	return l, nil
}

func (l listeners) close() {
	for _, ln := range []net.Listener{l.public, l.metrics, l.debug} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// redisLogger sends go-redis's own messages (reconnects, pool dials) to the
// structured log at debug level instead of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}

// captchaVerifier hands admission the deployment's CAPTCHA verifiers.
type captchaVerifier struct{ captcha.Set }

func (v captchaVerifier) VerifyCaptcha(ctx context.Context, provider string, c admission.CaptchaCheck) error {
	return v.Verify(ctx, provider, captcha.Check(c))
}
