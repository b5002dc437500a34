package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/gateway"
)

// options are serve's settings, from flags over environment over defaults.
type options struct {
	addr, redisURL, adminToken, signingKey, upstream, webhookSecret, configFile string
	publicURL, logLevel, logFormat, debugAddr, cookieDomain, trusted            string
	limitBypass                                                                 string
	smtpAddr, smtpFrom, smtpUser, smtpPassword, notifyURL, notifySecret         string
	phoneCodes                                                                  string
	roomHookURL, roomHookSecret                                                 string
	metricsAddr                                                                 string
	routes                                                                      multiFlag
	grace, drain                                                                time.Duration
	wsPerIP, connsPerIP                                                         int
	demo, pprof                                                                 bool
	// captcha are the CAPTCHA providers' settings, by provider name.
	captcha map[string]*captchaOptions
}

// captchaOptions are one CAPTCHA provider's settings: its secret (given
// as is, or in a file), and its siteverify URL when not the provider's.
type captchaOptions struct {
	secret, secretFile, verifyURL string
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
	fs.Var(&o.routes, "route", "[host]/path-prefix=room rules, comma-separated; repeatable; with the config file's routes (CROWDGATE_ROUTES)")
	fs.StringVar(&o.webhookSecret, "sandbox-webhook-secret", env("CROWDGATE_SANDBOX_WEBHOOK_SECRET", ""), "secret of the sandbox payment provider (CROWDGATE_SANDBOX_WEBHOOK_SECRET)")
	fs.StringVar(&o.configFile, "config", env("CROWDGATE_CONFIG", ""), "YAML file of rooms and events to create at start, and routes (CROWDGATE_CONFIG)")
	fs.StringVar(&o.smtpAddr, "smtp-addr", env("CROWDGATE_SMTP_ADDR", ""), "host:port of the SMTP relay for email notifications; empty = no email (CROWDGATE_SMTP_ADDR)")
	fs.StringVar(&o.smtpFrom, "smtp-from", env("CROWDGATE_SMTP_FROM", "Crowdgate <tickets@localhost>"), "sender of notification emails (CROWDGATE_SMTP_FROM)")
	fs.StringVar(&o.smtpUser, "smtp-user", env("CROWDGATE_SMTP_USER", ""), "SMTP AUTH user; empty = no AUTH (CROWDGATE_SMTP_USER)")
	fs.StringVar(&o.smtpPassword, "smtp-password", env("CROWDGATE_SMTP_PASSWORD", ""), "SMTP AUTH password (CROWDGATE_SMTP_PASSWORD)")
	fs.StringVar(&o.notifyURL, "notify-webhook-url", env("CROWDGATE_NOTIFY_WEBHOOK_URL", ""), "URL that receives every notification as signed JSON, e.g. an SMS or WhatsApp gateway (CROWDGATE_NOTIFY_WEBHOOK_URL)")
	fs.StringVar(&o.phoneCodes, "notify-phone-codes", env("CROWDGATE_NOTIFY_PHONE_CODES", ""), "comma list of country codes (+91,+44) whose phone numbers waiters may leave for \"notify me\"; empty = email only (CROWDGATE_NOTIFY_PHONE_CODES)")
	fs.StringVar(&o.notifySecret, "notify-webhook-secret", env("CROWDGATE_NOTIFY_WEBHOOK_SECRET", ""), "HMAC secret of the notification webhook's Crowdgate-Signature (CROWDGATE_NOTIFY_WEBHOOK_SECRET)")
	fs.StringVar(&o.roomHookURL, "room-webhook-url", env("CROWDGATE_ROOM_WEBHOOK_URL", ""), "URL that receives rooms' changes (queue opened, sale started, activated, quiet, paused, sold out, closed, rate changed) as signed JSON (CROWDGATE_ROOM_WEBHOOK_URL)")
	fs.StringVar(&o.roomHookSecret, "room-webhook-secret", env("CROWDGATE_ROOM_WEBHOOK_SECRET", ""), "HMAC secret of the room webhook's Crowdgate-Signature (CROWDGATE_ROOM_WEBHOOK_SECRET)")
	fs.StringVar(&o.publicURL, "public-url", env("CROWDGATE_PUBLIC_URL", ""), "URL fans reach Crowdgate at, for absolute links; empty = from each request's Host (CROWDGATE_PUBLIC_URL)")
	fs.StringVar(&o.cookieDomain, "cookie-domain", env("CROWDGATE_COOKIE_DOMAIN", ""), "Domain of the queue and admission cookies, so origins on other hosts of the site receive them; empty = Crowdgate's host only (CROWDGATE_COOKIE_DOMAIN)")
	fs.StringVar(&o.trusted, "trusted-proxies", env("CROWDGATE_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For is believed, e.g. 127.0.0.1/32,10.0.0.0/8 (CROWDGATE_TRUSTED_PROXIES)")
	fs.StringVar(&o.logLevel, "log-level", env("CROWDGATE_LOG_LEVEL", "info"), "debug, info, warn or error (CROWDGATE_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", env("CROWDGATE_LOG_FORMAT", "json"), "json or text (CROWDGATE_LOG_FORMAT)")
	fs.DurationVar(&o.grace, "grace", envDur("CROWDGATE_GRACE", time.Minute), "how long a silent waiter keeps their place (CROWDGATE_GRACE)")
	fs.DurationVar(&o.drain, "drain", envDur("CROWDGATE_DRAIN", 10*time.Second), "how long shutdown waits for in-flight requests (CROWDGATE_DRAIN)")
	fs.StringVar(&o.debugAddr, "debug-addr", env("CROWDGATE_DEBUG_ADDR", ""), "if set, serve Go profiling (/debug/pprof/) on this separate address; keep it private (CROWDGATE_DEBUG_ADDR)")
	fs.IntVar(&o.wsPerIP, "ws-max-per-ip", envInt("CROWDGATE_WS_MAX_PER_IP", 64), "concurrent WebSockets allowed from one address (CROWDGATE_WS_MAX_PER_IP)")
	fs.StringVar(&o.limitBypass, "limit-bypass", env("CROWDGATE_LIMIT_BYPASS", ""), "comma-separated CIDRs whose joins no per-address limit counts and whose joins never raise a room's challenge: venues, partners (CROWDGATE_LIMIT_BYPASS)")
	fs.IntVar(&o.connsPerIP, "max-conns-per-ip", envInt("CROWDGATE_MAX_CONNS_PER_IP", 256), "open connections allowed from one address; --trusted-proxies and loopback are exempt; 0 = no cap (CROWDGATE_MAX_CONNS_PER_IP)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", env("CROWDGATE_METRICS_ADDR", ""), "if set, serve /metrics on this separate, private address only; empty = /metrics on --addr, to loopback and private networks only (CROWDGATE_METRICS_ADDR)")
	fs.BoolVar(&o.pprof, "pprof", getenv("CROWDGATE_PPROF") == "1", "also serve Go profiling (/debug/pprof/) on --metrics-addr (CROWDGATE_PPROF=1)")
	fs.BoolVar(&o.demo, "demo", getenv("CROWDGATE_DEMO") == "1", "create a demo room and print how to use it (CROWDGATE_DEMO=1)")
	o.captcha = map[string]*captchaOptions{}
	for _, p := range []string{captcha.Turnstile, captcha.HCaptcha, captcha.ReCAPTCHA} {
		co, env := &captchaOptions{}, func(k string) string { return getenv("CROWDGATE_" + strings.ToUpper(p) + "_" + k) }
		o.captcha[p] = co
		fs.StringVar(&co.secret, p+"-secret", env("SECRET"), "secret key of "+p+", for rooms whose captcha is "+p+"; prefer the env var or the file (CROWDGATE_"+strings.ToUpper(p)+"_SECRET)")
		fs.StringVar(&co.secretFile, p+"-secret-file", env("SECRET_FILE"), "file holding the secret key of "+p+" (CROWDGATE_"+strings.ToUpper(p)+"_SECRET_FILE)")
		fs.StringVar(&co.verifyURL, p+"-verify-url", env("VERIFY_URL"), p+"'s siteverify URL; empty = "+captcha.Providers[p].VerifyURL+" (CROWDGATE_"+strings.ToUpper(p)+"_VERIFY_URL)")
	}
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
	// A newcomer's demo reads better as text, unless json was asked for.
	if o.demo && getenv("CROWDGATE_LOG_FORMAT") == "" && !hasFlag(args, "log-format") {
		o.logFormat = "text"
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

// serveConfig is options parsed and checked: what serve builds from, known
// good before it opens a store or a listener.
type serveConfig struct {
	log      *slog.Logger
	routes   gateway.Routes
	public   *url.URL // nil: from each request's Host
	upstream *url.URL // nil: no origin to proxy to
	trusted  []*net.IPNet
	// bypass: networks the rooms' per-address limits do not count.
	bypass []netip.Prefix
	keyPEM []byte // nil: a signing key generated and shared through the store
	// connsPerIP is gateway's MaxConnsPerIP: serve's 0 (no cap) is its -1.
	connsPerIP int
	// notify: a channel that reaches people is configured, so waiters are
	// offered "notify me", with phone numbers of phoneCodes.
	notify     bool
	phoneCodes []string
	// captcha verifies the responses of the providers given a secret.
	captcha captcha.Set
}

// config parses and checks o, reading the signing key's file; logs go to w.
func (o options) config(w io.Writer) (serveConfig, error) {
	var c serveConfig
	var err error
	if c.log, err = newLogger(o, w); err != nil {
		return c, err
	}
	if c.routes, err = o.parseRoutes(); err != nil {
		return c, err
	}
	if o.publicURL != "" {
		if c.public, err = url.Parse(o.publicURL); err != nil {
			return c, fmt.Errorf("--public-url: %w", err)
		}
	}
	if o.upstream != "" {
		if c.upstream, err = url.Parse(o.upstream); err != nil {
			return c, fmt.Errorf("--upstream: %w", err)
		}
	}
	for _, cidr := range strings.Split(o.trusted, ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return c, fmt.Errorf("--trusted-proxies: %w", err)
		}
		c.trusted = append(c.trusted, n)
	}
	for _, cidr := range strings.Split(o.limitBypass, ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return c, fmt.Errorf("--limit-bypass: %w", err)
		}
		c.bypass = append(c.bypass, p.Masked())
	}
	if o.signingKey != "" {
		if c.keyPEM, err = os.ReadFile(o.signingKey); err != nil {
			return c, fmt.Errorf("--signing-key: %w", err)
		}
	}
	if o.notifyURL != "" && o.notifySecret == "" {
		return c, errors.New("--notify-webhook-url needs --notify-webhook-secret, so receivers can verify what they get")
	}
	if o.roomHookURL != "" && o.roomHookSecret == "" {
		return c, errors.New("--room-webhook-url needs --room-webhook-secret, so receivers can verify what they get")
	}
	c.notify = o.smtpAddr != "" || o.notifyURL != ""
	for cc := range strings.SplitSeq(o.phoneCodes, ",") {
		if cc = strings.TrimSpace(cc); cc == "" {
			continue
		}
		if len(cc) < 2 || len(cc) > 5 || cc[0] != '+' || strings.Trim(cc[1:], "0123456789") != "" {
			return c, fmt.Errorf("--notify-phone-codes: %q is not a country code like +91", cc)
		}
		c.phoneCodes = append(c.phoneCodes, cc)
	}
	c.connsPerIP = o.connsPerIP
	if c.connsPerIP <= 0 {
		c.connsPerIP = -1
	}
	if c.captcha, err = o.captchaSet(); err != nil {
		return c, err
	}
	return c, nil
}

// parseRoutes returns the routes of --route (or CROWDGATE_ROUTES) and of
// the config file's routes, together: a host and prefix given in both is
// an error, as it is given twice in either.
func (o options) parseRoutes() (gateway.Routes, error) {
	rs, err := gateway.ParseRoutes(o.routes...)
	if err != nil {
		return nil, fmt.Errorf("--route: %w", err)
	}
	if o.configFile == "" {
		return rs, nil
	}
	data, err := os.ReadFile(o.configFile)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	file, err := configRoutes(data)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", o.configFile, err)
	}
	if len(file) == 0 {
		return rs, nil
	}
	if rs, err = gateway.ParseRoutes(append(slices.Clone(o.routes), file...)...); err != nil {
		return nil, fmt.Errorf("--route and --config %s routes together: %w", o.configFile, err)
	}
	return rs, nil
}

// captchaSet builds a verifier for each CAPTCHA provider given a secret.
func (o options) captchaSet() (captcha.Set, error) {
	set := captcha.Set{}
	for p, co := range o.captcha {
		secret := co.secret
		switch {
		case co.secret != "" && co.secretFile != "":
			return nil, fmt.Errorf("--%s-secret and --%s-secret-file: give one", p, p)
		case co.secretFile != "":
			b, err := os.ReadFile(co.secretFile)
			if err != nil {
				return nil, fmt.Errorf("--%s-secret-file: %w", p, err)
			}
			secret = strings.TrimSpace(string(b))
			if secret == "" {
				return nil, fmt.Errorf("--%s-secret-file: %s is empty", p, co.secretFile)
			}
		case secret == "":
			if co.verifyURL != "" {
				return nil, fmt.Errorf("--%s-verify-url needs a secret (--%s-secret-file)", p, p)
			}
			continue
		}
		v, err := captcha.New(captcha.Config{Provider: p, Secret: secret, VerifyURL: co.verifyURL})
		if err != nil {
			return nil, fmt.Errorf("--%s-secret: %w", p, err)
		}
		set[p] = v
	}
	return set, nil
}
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}
