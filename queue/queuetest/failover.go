package queuetest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterConfig shapes a cluster started by StartCluster. The zero value is
// RunCluster's: three masters, no replicas, Redis's own node timeout.
type ClusterConfig struct {
	// Masters is the number of masters; at least 3, the fewest with which
	// the others can agree that one failed. Default 3.
	Masters int
	// Replicas is the number of replicas of each master. Default 0.
	Replicas int
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before the others count it as failed and its replica
	// takes over. Zero keeps Redis's default (15 s).
	NodeTimeout time.Duration
}

// Cluster is a private Redis Cluster on loopback ports that a test can
// break: kill a node, freeze it, bring it back.
type Cluster struct {
	// Addrs lists every node, masters first, as host:port.
	Addrs []string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	args  map[string][]string
}

// StartCluster starts a private Redis Cluster shaped by cfg, stopped when
// the test ends, and returns once every slot is served and every replica
// is in sync with its master. Like RunCluster it skips in -short runs, and
// without redis-server and redis-cli except when CI is set.
func StartCluster(tb testing.TB, cfg ClusterConfig) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a Redis Cluster")
	}
	need(tb, "redis-server", "redis-cli")
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	if cfg.Masters < 3 {
		tb.Fatalf("queuetest: a cluster needs at least 3 masters, not %d", cfg.Masters)
	}
	c := &Cluster{procs: map[string]*exec.Cmd{}, args: map[string][]string{}}
	tb.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.procs {
			_ = p.Process.Signal(syscall.SIGCONT) // a frozen node dies too
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	for range cfg.Masters * (1 + cfg.Replicas) {
		port := freePort(tb)
		dir := tb.TempDir()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
			"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", "", "--loglevel", "warning"}
		if cfg.NodeTimeout > 0 {
			args = append(args, "--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10))
		}
		c.args[addr] = args
		c.Addrs = append(c.Addrs, addr)
		c.Start(tb, addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, c.Addrs...),
		"--cluster-replicas", strconv.Itoa(cfg.Replicas), "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.settled(cfg.Masters * cfg.Replicas) {
		if time.Now().After(deadline) {
			tb.Fatalf("the cluster did not reach cluster_state:ok with every replica in sync:\n%s", c.nodes(context.Background()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// settled reports whether every node says cluster_state:ok and knows of
// every replica, and every replica's link to its master is up.
func (c *Cluster) settled(replicas int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, a := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		info, err := n.ClusterInfo(ctx).Result()
		nodes, _ := n.ClusterNodes(ctx).Result()
		repl, _ := n.Info(ctx, "replication").Result()
		_ = n.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") || strings.Count(nodes, "slave") != replicas {
			return false
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return false
		}
	}
	return true
}

// nodes returns CLUSTER NODES as the first node that answers sees it, for
// failure messages.
func (c *Cluster) nodes(ctx context.Context) string {
	for _, a := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		s, err := n.ClusterNodes(ctx).Result()
		_ = n.Close()
		if err == nil {
			return s
		}
	}
	return "(no node answers)"
}

// Start starts node addr (again, after Kill): it rejoins the cluster with
// the identity in its nodes.conf, as a restarted pod would.
func (c *Cluster) Start(tb testing.TB, addr string) {
	tb.Helper()
	c.mu.Lock()
	cmd := exec.Command("redis-server", c.args[addr]...)
	err := cmd.Start()
	if err == nil {
		c.procs[addr] = cmd
	}
	c.mu.Unlock()
	if err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	if err := waitPing(&redis.Options{Addr: addr}); err != nil {
		tb.Fatalf("redis-server %s did not come up: %v", addr, err)
	}
}

// Kill kills node addr at once (SIGKILL), as a crash or a lost machine
// would.
func (c *Cluster) Kill(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[addr]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		delete(c.procs, addr)
	}
}

// Freeze stops node addr with SIGSTOP: it keeps its sockets open and
// answers nothing, as a host cut off from the network does. The test's end
// resumes and kills it.
func (c *Cluster) Freeze(tb testing.TB, addr string) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[addr]; p != nil {
		if err := Freeze(p.Process); err != nil {
			tb.Fatal(err)
		}
	}
}

// MasterOf returns the master that serves key's slot, as the live nodes
// see it.
func (c *Cluster) MasterOf(tb testing.TB, key string) string {
	tb.Helper()
	ctx := context.Background()
	for _, a := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		slot, err := n.ClusterKeySlot(ctx, key).Result()
		var shards []redis.ClusterShard
		if err == nil {
			shards, err = n.ClusterShards(ctx).Result()
		}
		_ = n.Close()
		if err != nil {
			continue
		}
		for _, sh := range shards {
			for _, r := range sh.Slots {
				if r.Start <= slot && slot <= r.End {
					for _, node := range sh.Nodes {
						if node.Role == "master" {
							return node.IP + ":" + strconv.FormatInt(node.Port, 10)
						}
					}
				}
			}
		}
	}
	tb.Fatalf("no node knows the master of %q:\n%s", key, c.nodes(ctx))
	return ""
}

// ReplicasOf returns the replicas of master.
func (c *Cluster) ReplicasOf(tb testing.TB, master string) []string {
	tb.Helper()
	ctx := context.Background()
	n := redis.NewClient(&redis.Options{Addr: master})
	defer n.Close()
	id, err := n.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		tb.Fatal(err)
	}
	nodes, err := n.ClusterNodes(ctx).Result()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == id {
			out = append(out, strings.SplitN(f[1], "@", 2)[0])
		}
	}
	return out
}

// WaitPromoted polls the given replicas (every 5 ms) until one of them
// says it is a master, and returns it with the moment it was first seen
// so: the cluster's own failover, from which a client's recovery is
// measured. It fails the test after timeout.
func WaitPromoted(tb testing.TB, replicas []string, timeout time.Duration) (string, time.Time) {
	tb.Helper()
	var clients []*redis.Client
	for _, a := range replicas {
		n := redis.NewClient(&redis.Options{Addr: a, DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond})
		defer n.Close()
		clients = append(clients, n)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, n := range clients {
			role, err := n.Do(context.Background(), "ROLE").Slice()
			if err == nil && len(role) > 0 && role[0] == "master" {
				return replicas[i], time.Now()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("none of %v became a master within %v", replicas, timeout)
	return "", time.Time{}
}

// need skips the test (fails it when CI is set) without the programs.
func need(tb testing.TB, programs ...string) {
	tb.Helper()
	for _, bin := range programs {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s not found and CI is set: install it (.ci/run lists the Debian packages)", bin)
			}
			tb.Skipf("needs %s", bin)
		}
	}
}

// Freeze stops process p with SIGSTOP: it keeps its sockets open and
// answers nothing, as a Redis stuck in a long command, a swapping host or
// a paused VM does. Thaw resumes it.
func Freeze(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// Thaw resumes a process stopped by Freeze.
func Thaw(p *os.Process) error { return p.Signal(syscall.SIGCONT) }

// Process returns the redis-server's process, for Freeze and Thaw; nil for
// the embedded fallback or a stopped server.
func (s *Server) Process() *os.Process {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return nil
	}
	return s.cmd.Process
}
