package queuetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RunCluster starts a private three-master Redis Cluster on free loopback
// ports, stopped when the test ends, and returns its node addresses. It
// proves that every script touches the keys of one hash slot only: a
// cluster node refuses a script that reaches a key of another slot. It
// skips in -short runs, and without redis-server and redis-cli except
// when CI is set.
func RunCluster(tb testing.TB) []string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a Redis Cluster")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s not found and CI is set: install redis-server", bin)
			}
			tb.Skipf("needs %s", bin)
		}
	}
	var addrs []string
	for range 3 {
		port := freePort(tb)
		dir := tb.TempDir()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf",
			"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", "", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := waitPing(&redis.Options{Addr: addr}); err != nil {
			tb.Fatalf("redis-server %s did not come up: %v", addr, err)
		}
		addrs = append(addrs, addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	var nodes []*redis.Client
	for _, a := range addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		defer n.Close()
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			info, err := n.ClusterInfo(context.Background()).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return addrs
		}
		if time.Now().After(deadline) {
			tb.Fatal("the cluster did not reach cluster_state:ok")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		// The cluster bus listens on port + 10000: it must fit and be free.
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			_ = bus.Close()
			return port
		}
	}
}

// waitPing waits up to 10 s for a just-started redis-server to answer.
func waitPing(opt *redis.Options) error {
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ClusterClient starts a cluster as RunCluster does and returns a client
// of it, closed when the test ends.
func ClusterClient(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: RunCluster(tb)})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
