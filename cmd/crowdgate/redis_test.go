package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelURL: a redis-sentinel:// URL names the sentinels, the master
// and the database; its user and password are the Redis servers', the
// sentinels' own come as options, and go-redis's options pass through.
func TestSentinelURL(t *testing.T) {
	t.Parallel()
	opt, err := parseSentinelURL("redis-sentinel://app:s3cret@10.0.0.1:26379,10.0.0.2:26379, 10.0.0.3:26379/main-redis/2?dial_timeout=3s&sentinel_password=sp&pool_size=50")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"}
	if opt.MasterName != "main-redis" || !reflect.DeepEqual(opt.SentinelAddrs, want) || opt.DB != 2 ||
		opt.Username != "app" || opt.Password != "s3cret" || opt.SentinelPassword != "sp" || opt.SentinelUsername != "" ||
		opt.DialTimeout != 3*time.Second || opt.PoolSize != 50 || opt.TLSConfig != nil {
		t.Fatalf("parsed %+v", opt)
	}
	opt, err = parseSentinelURL("rediss-sentinel://:pw@sentinel.example:26379/mymaster")
	if err != nil {
		t.Fatal(err)
	}
	if opt.MasterName != "mymaster" || opt.Password != "pw" || opt.Username != "" || opt.TLSConfig == nil || opt.TLSConfig.ServerName != "sentinel.example" {
		t.Fatalf("rediss-sentinel: %+v", opt)
	}
	for _, bad := range []string{
		"redis-sentinel://10.0.0.1:26379",                            // no master name
		"redis-sentinel://10.0.0.1:26379/",                           // no master name
		"redis-sentinel://10.0.0.1/mymaster",                         // no port
		"redis-sentinel://10.0.0.1:26379,/mymaster",                  // an empty address
		"redis-sentinel://10.0.0.1:26379/mymaster/0/extra",           // too much path
		"redis-sentinel://10.0.0.1:26379/mymaster/zero",              // not a database
		"redis-sentinel://10.0.0.1:26379/mymaster?master_name=x",     // said twice
		"redis-sentinel://10.0.0.1:26379/mymaster?addr=h:1",          // said twice
		"redis-sentinel://10.0.0.1:26379/mymaster?colour=red",        // unknown option
		"redis-sentinel://10.0.0.1:26379/mymaster?dial_timeout=soon", // bad value
	} {
		if _, err := parseSentinelURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestRedisClientSettings: each kind of --redis gets the timeouts that
// bound a wait on a dead or frozen Redis (docs/reliability.md), unless the
// URL says otherwise, and the cluster client refreshes its slot map every
// second and after failures.
func TestRedisClientSettings(t *testing.T) {
	check := func(name string, got *redis.Options, dial, read time.Duration) {
		t.Helper()
		if got.DialTimeout != dial || got.ReadTimeout != read || got.DialerRetries != 5 || !got.ContextTimeoutEnabled {
			t.Errorf("%s: dial %v, read %v, dialer retries %d, context timeouts %v", name, got.DialTimeout, got.ReadTimeout, got.DialerRetries, got.ContextTimeoutEnabled)
		}
	}
	for spec, want := range map[string][2]time.Duration{
		"redis://127.0.0.1:6379/0":                    {dialTimeout, readTimeout},
		"unix:///run/redis.sock":                      {dialTimeout, readTimeout},
		"redis://127.0.0.1:6379/0?read_timeout=500ms": {dialTimeout, 500 * time.Millisecond},
	} {
		c, err := newRedisClient(spec)
		if err != nil {
			t.Fatal(err)
		}
		check(spec, c.(*redis.Client).Options(), want[0], want[1])
		_ = c.Close()
	}
	// The failover client's options are those of its connections to the
	// master; Options shows them.
	c, err := newRedisClient("redis-sentinel://127.0.0.1:1/mymaster?dial_timeout=250ms")
	if err != nil {
		t.Fatal(err)
	}
	check("sentinel", c.(*redis.Client).Options(), 250*time.Millisecond, readTimeout)
	_ = c.Close()

	c, err = newRedisClient("127.0.0.1:7000, 127.0.0.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	co := c.(*redis.ClusterClient).Options()
	if co.DialTimeout != dialTimeout || co.ReadTimeout != readTimeout || co.DialerRetries != clusterDialerRetries ||
		!co.ContextTimeoutEnabled || co.ClusterStateReloadInterval != time.Second || !reflect.DeepEqual(co.Addrs, []string{"127.0.0.1:7000", "127.0.0.1:7001"}) {
		t.Errorf("cluster: %+v", co)
	}
	_ = c.Close()
}
