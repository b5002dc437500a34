package queuetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelConfig shapes a Sentinel group started by StartSentinel.
type SentinelConfig struct {
	// MasterName is the name the sentinels monitor the master by. Default
	// "crowdgate".
	MasterName string
	// DownAfter is down-after-milliseconds: how long the master may not
	// answer before a sentinel thinks it down. Default 1 s (Redis's is
	// 30 s; tests do not wait that long).
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; sentinels that split their
	// votes try again after twice this. Default 4 s (Redis's is 3 min).
	FailoverTimeout time.Duration
	// AppendFsync, when set, turns on the AOF of the master and the replica
	// with this appendfsync policy ("always", "everysec", "no").
	AppendFsync string
}

// Sentinel is a private Redis master, one replica and three sentinels
// watching them (quorum 2), on loopback ports: the way a highly available
// single Redis is usually run.
type Sentinel struct {
	// MasterName is the name the sentinels know the master by.
	MasterName string
	// Sentinels are the sentinels' host:port addresses.
	Sentinels []string
	// Master and Replica are the data nodes' host:port addresses at start.
	Master, Replica string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	logs  []string // the sentinels' log files
}

// StartSentinel starts a master, a replica and three sentinels, stopped
// when the test ends, and returns once the replica is in sync and every
// sentinel knows the replica and the other two sentinels, so that killing
// the master leads to a failover. It skips in -short runs, and without
// redis-server and redis-sentinel (Debian's redis-sentinel package) except
// when CI is set.
func StartSentinel(tb testing.TB, cfg SentinelConfig) *Sentinel {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts Redis Sentinel")
	}
	need(tb, "redis-server", "redis-sentinel")
	if cfg.MasterName == "" {
		cfg.MasterName = "crowdgate"
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 4 * time.Second
	}
	s := &Sentinel{MasterName: cfg.MasterName, procs: map[string]*exec.Cmd{}}
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.procs {
			_ = p.Process.Signal(syscall.SIGCONT)
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	data := func(port int, extra ...string) []string {
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", tb.TempDir(),
			"--save", "", "--logfile", "", "--loglevel", "warning"}
		if cfg.AppendFsync != "" {
			args = append(args, "--appendonly", "yes", "--appendfsync", cfg.AppendFsync)
		} else {
			args = append(args, "--appendonly", "no")
		}
		return append(args, extra...)
	}
	mport, rport := freePort(tb), freePort(tb)
	s.Master, s.Replica = "127.0.0.1:"+strconv.Itoa(mport), "127.0.0.1:"+strconv.Itoa(rport)
	s.start(tb, s.Master, "redis-server", data(mport)...)
	s.start(tb, s.Replica, "redis-server", data(rport, "--replicaof", "127.0.0.1", strconv.Itoa(mport))...)
	for range 3 {
		port := freePort(tb)
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf") // sentinels rewrite their file
		body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile "sentinel.log"
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %[3]s %[5]d
sentinel failover-timeout %[3]s %[6]d
sentinel parallel-syncs %[3]s 1
`, port, dir, cfg.MasterName, mport, cfg.DownAfter.Milliseconds(), cfg.FailoverTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.start(tb, addr, "redis-sentinel", conf)
		s.Sentinels = append(s.Sentinels, addr)
		s.logs = append(s.logs, filepath.Join(dir, "sentinel.log"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.settled() {
		if time.Now().After(deadline) {
			tb.Fatal("the sentinels did not find the replica and each other within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func (s *Sentinel) start(tb testing.TB, addr, bin string, args ...string) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	s.mu.Lock()
	s.procs[addr] = cmd
	s.mu.Unlock()
	if err := waitPing(&redis.Options{Addr: addr}); err != nil {
		tb.Fatalf("%s %s did not come up: %v", bin, addr, err)
	}
}

// settled reports whether the replica is in sync and every sentinel sees
// the master up, one replica and two other sentinels.
func (s *Sentinel) settled() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := redis.NewClient(&redis.Options{Addr: s.Replica})
	repl, err := r.Info(ctx, "replication").Result()
	_ = r.Close()
	if err != nil || !strings.Contains(repl, "master_link_status:up") {
		return false
	}
	for _, a := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		m, err1 := c.Master(ctx, s.MasterName).Result()
		reps, err2 := c.Replicas(ctx, s.MasterName).Result()
		sens, err3 := c.Sentinels(ctx, s.MasterName).Result()
		_ = c.Close()
		if err1 != nil || err2 != nil || err3 != nil || m["flags"] != "master" || len(reps) != 1 || len(sens) != 2 {
			return false
		}
	}
	return true
}

// Log returns what the sentinels logged, for a test's failure message.
func (s *Sentinel) Log() string {
	var b strings.Builder
	for i, f := range s.logs {
		l, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- sentinel %s\n%s", s.Sentinels[i], l)
	}
	return b.String()
}

// Kill kills the process at addr (a data node or a sentinel) at once, as
// a crash would.
func (s *Sentinel) Kill(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.procs[addr]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		delete(s.procs, addr)
	}
}

// Switch is a sentinel's +switch-master announcement: the moment the
// sentinels made another node the master.
type Switch struct {
	At        time.Time
	NewMaster string
}

// WatchSwitch subscribes to +switch-master on every sentinel and sends
// the first announcement it hears; call it before breaking the master.
func (s *Sentinel) WatchSwitch(tb testing.TB) <-chan Switch {
	tb.Helper()
	out := make(chan Switch, 1)
	var once sync.Once
	for _, a := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		ps := c.Subscribe(context.Background(), "+switch-master")
		if _, err := ps.Receive(context.Background()); err != nil { // the subscription is in place
			tb.Fatalf("subscribe to %s: %v", a, err)
		}
		tb.Cleanup(func() { _ = ps.Close(); _ = c.Close() })
		go func() {
			for msg := range ps.Channel() {
				at := time.Now()
				// "<name> <old ip> <old port> <new ip> <new port>"
				f := strings.Fields(msg.Payload)
				if len(f) == 5 && f[0] == s.MasterName {
					once.Do(func() { out <- Switch{At: at, NewMaster: f[3] + ":" + f[4]} })
				}
			}
		}()
	}
	return out
}
