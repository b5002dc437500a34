package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// The client settings that decide how fast a gateway serves again after
// Redis fails over, and how long a request waits on a Redis that does not
// answer; docs/reliability.md has the measurements behind them. A setting
// given in a URL's query (dial_timeout=, read_timeout=, ...) wins over
// these. ContextTimeoutEnabled is on for every kind of client, so that
// Crowdgate's own deadlines (5 s for a batch of scripts, 0.9 s for
// /readyz) bound the wait for the reply too, not only the wait to send.
const (
	// dialTimeout bounds one connection attempt. Redis is on the local
	// network: an attempt that takes a second is to a host that is gone
	// (its packets dropped, not refused), and go-redis's 5 s made every
	// command and every cluster-map reload that tried the dead master
	// wait 5 s per attempt.
	dialTimeout = time.Second
	// clusterDialerRetries: one attempt per dial to a cluster node, not
	// go-redis's 5 (100 ms apart). A cluster's failover takes seconds
	// (cluster-node-timeout and an election), more than retried dials
	// can ride over, and a dead node's address often drops packets
	// rather than refusing them (a pod IP that is gone): 5 attempts cost
	// 5 dial timeouts, for a command and for a reload of the slot map
	// that tried the dead node first, during which no other reload runs.
	// The cluster client's own loop retries the command, on the new
	// master once the map says so. One Redis and Sentinel keep the 5
	// attempts: a restarting Redis, or the sentinels' switch, refuses
	// connections for a moment, and the attempts carry a join over a
	// one-second restart instead of failing it (measured: none of 328
	// requests failed, against 181 of 486 with one attempt).
	clusterDialerRetries = 1
	// readTimeout bounds the wait for a reply. Every Crowdgate command and
	// script is bounded (sweeps and rebuilds go in steps) and takes
	// milliseconds; a Redis that has not answered in 2 s is frozen or cut
	// off, and the visitor is better told to retry (503, Retry-After) than
	// kept waiting 3 s (one Redis) or 5 s (cluster) per try.
	readTimeout = 2 * time.Second
	// clusterReload is how old the cluster client's slot map may grow
	// (go-redis: 60 s). A master that is frozen or cut off, rather than
	// dead, fails commands only after readTimeout, so a reload on
	// failure alone came up to 2 s after the promotion; a reload every
	// second (one CLUSTER SLOTS per gateway) finds the new master sooner.
	clusterReload = time.Second
)

// openRedis connects to the configured Redis, or starts the embedded store.
// The returned stop closes it; call it last.
//
//	(empty)                                    the embedded store (miniredis)
//	redis://, rediss://, unix://               one Redis (go-redis's ParseURL)
//	host:port,host:port,...                    Redis Cluster
//	redis-sentinel://host:port,.../name[/db]   Redis Sentinel: the master the
//	                                           sentinels know as name
//	rediss-sentinel://...                      the same over TLS
func openRedis(o options, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if o.redisURL == "" {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true) // expire keys by the wall clock, as Redis does
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("embedded store: %w", err)
		}
		log.Warn("using the embedded in-process store: single process only, nothing survives a restart; set CROWDGATE_REDIS_URL for production")
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return c, func() { _ = c.Close(); m.Close() }, nil
	}
	c, err := newRedisClient(o.redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("--redis: %w", err)
	}
	return c, func() { _ = c.Close() }, nil
}

// newRedisClient returns the client for a --redis value other than empty.
func newRedisClient(spec string) (redis.UniversalClient, error) {
	switch {
	case strings.HasPrefix(spec, "redis-sentinel://"), strings.HasPrefix(spec, "rediss-sentinel://"):
		opt, err := parseSentinelURL(spec)
		if err != nil {
			return nil, err
		}
		fill(&opt.DialTimeout, dialTimeout)
		fill(&opt.ReadTimeout, readTimeout)
		opt.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(opt), nil
	case strings.Contains(spec, "://"): // redis://, rediss://, unix://
		opt, err := redis.ParseURL(spec)
		if err != nil {
			return nil, err
		}
		fill(&opt.DialTimeout, dialTimeout)
		fill(&opt.ReadTimeout, readTimeout)
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
	}
	addrs := strings.Split(spec, ",")
	for i, a := range addrs {
		addrs[i] = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(addrs[i]); err != nil {
			return nil, fmt.Errorf("%q is neither a redis:// URL nor host:port", a)
		}
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      addrs,
		DialTimeout:                dialTimeout,
		DialerRetries:              clusterDialerRetries,
		ReadTimeout:                readTimeout,
		ContextTimeoutEnabled:      true,
		ClusterStateReloadInterval: clusterReload,
	})
	c.AddHook(reloadOnFailure{c})
	return c, nil
}

// reloadOnFailure asks the cluster client to reload the cluster's slot map
// whenever a command fails in a way a failover explains (queue.Unavailable):
// the master of its slot refused, reset or did not answer, or a node said
// CLUSTERDOWN or TRYAGAIN. go-redis reloads the map on MOVED and READONLY,
// which only a live node can answer, and otherwise every 60 s: after a
// master died it went on dialling the dead master for 55 s after its
// replica had been promoted (measured), and a fail-open room let everyone
// through meanwhile. The reload is go-redis's own lazy one: in the
// background, one at a time, at most every 200 ms however many commands
// fail, from the first node that answers CLUSTER SLOTS.
type reloadOnFailure struct{ c *redis.ClusterClient }

func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if queue.Unavailable(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		failed := queue.Unavailable(err)
		for _, c := range cmds {
			failed = failed || queue.Unavailable(c.Err())
		}
		if failed {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// parseSentinelURL reads
//
//	redis-sentinel://[user:password@]host:port[,host:port...]/<master name>[/<db>][?option=value...]
//
// The hosts are the sentinels; the user and password are the Redis
// servers' (the master's and its replicas'); sentinel_username= and
// sentinel_password= give the sentinels' own, when they have one. The
// other options are go-redis's (dial_timeout=, read_timeout=,
// pool_size=, ...), as in a redis:// URL. rediss-sentinel:// is the
// same over TLS, to the sentinels and the servers.
func parseSentinelURL(spec string) (*redis.FailoverOptions, error) {
	scheme, rest, _ := strings.Cut(spec, "://")
	// The hosts are a comma list, which net/url does not take as a host:
	// split them off by hand, and let net/url read the rest.
	authority, path, _ := strings.Cut(rest, "/")
	path, rawQuery, _ := strings.Cut(path, "?")
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i], authority[i+1:]
	}
	var sentinels []string
	for _, h := range strings.Split(authority, ",") {
		h = strings.TrimSpace(h)
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, fmt.Errorf("sentinel address %q is not host:port", h)
		}
		sentinels = append(sentinels, h)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" || len(parts) > 2 {
		return nil, fmt.Errorf("%s URL path must be /<master name> or /<master name>/<db>, not %q", scheme, "/"+path)
	}
	name, err := url.PathUnescape(parts[0])
	if err != nil {
		return nil, err
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"master_name", "addr", "username", "password"} {
		if q.Has(k) {
			return nil, fmt.Errorf("%s URL: %s= is given by the URL itself", scheme, k)
		}
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if userinfo != "" {
		u, err := url.Parse("redis://" + userinfo + "@h")
		if err != nil {
			return nil, fmt.Errorf("%s URL: user and password: %w", scheme, err)
		}
		if n := u.User.Username(); n != "" {
			q.Set("username", n)
		}
		if p, ok := u.User.Password(); ok {
			q.Set("password", p)
		}
	}
	q.Set("master_name", name)
	for _, s := range sentinels[1:] {
		q.Add("addr", s)
	}
	if len(parts) == 2 {
		q.Set("db", parts[1])
	}
	// go-redis's own sentinel URL: the first sentinel as the host, the
	// others as addr=, the options as they were.
	opt, err := redis.ParseFailoverURL(strings.TrimSuffix(scheme, "-sentinel") + "://" + sentinels[0] + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	opt.SentinelUsername, opt.SentinelPassword = sentinelUser, sentinelPass
	return opt, nil
}

// fill sets *d to def when the URL left it unset (0; a negative value is
// the URL's way of saying "none").
func fill(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
