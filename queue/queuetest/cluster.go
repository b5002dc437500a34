package queuetest

import (
	"context"
	"fmt"
	"net"
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
	return StartCluster(tb, ClusterConfig{}).Addrs
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
