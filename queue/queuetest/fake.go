package queuetest

import (
	"bufio"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Failing returns a client of a fake Redis that answers every command with
// reply, a RESP line such as "-LOADING Redis is loading the dataset in
// memory\r\n", or closes each connection at once when reply is "": the
// answers of a Redis that is restarting, failing over or going away,
// without waiting for one to do so.
func Failing(tb testing.TB, reply string) *redis.Client {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go answer(c, reply)
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Frozen returns a client of a fake Redis that accepts connections and
// reads every command but never answers, as a Redis stopped with SIGSTOP
// (or a network that drops everything) does. The client has go-redis's
// default timeouts and retries.
func Frozen(tb testing.TB) *redis.Client {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or answered
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), Protocol: 2, DisableIdentity: true})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// answer reads RESP commands (*N, then N $len/data pairs) from c and
// answers each with reply.
func answer(c net.Conn, reply string) {
	defer c.Close()
	if reply == "" {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		var n int
		if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
			return
		}
		for i := 0; i < 2*n; i++ {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}
