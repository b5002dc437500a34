package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestConnCapPerAddress: a client address holds at most max connections
// open; the next is refused at once (counted, and answered 429 when the
// answer gets there before the close), and one closing frees a place.
// Trusted proxies are exempt.
func TestConnCapPerAddress(t *testing.T) {
	t.Parallel()
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	// Loopback is exempt in production; here it stands for a client.
	cap := newConnCap(3, nil, refused, slog.New(slog.DiscardHandler))
	cap.exempt = nil
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ConnState: cap.track}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	var open []net.Conn
	for i := range 3 {
		c, ok := servedPath(t, addr, "/")
		if !ok {
			t.Fatalf("connection %d of 3 refused", i+1)
		}
		open = append(open, c)
	}
	if _, ok := servedPath(t, addr, "/"); ok {
		t.Fatal("a fourth connection from the same address was served")
	}
	if n := counterValue(t, refused); n != 1 {
		t.Fatalf("%v refusals counted, want 1", n)
	}
	_ = open[0].Close()
	eventually(t, "a place freed by a close", func() bool {
		c, ok := servedPath(t, addr, "/")
		if ok {
			open[0] = c
		}
		return ok
	})

	// Behind a trusted proxy every fan comes through its connections.
	_, lo, _ := net.ParseCIDR("127.0.0.0/8")
	trusting := newConnCap(1, []*net.IPNet{lo}, refused, slog.New(slog.DiscardHandler))
	trusting.exempt = trusting.exempt[2:] // the trusted network only
	srv2 := &http.Server{Handler: srv.Handler, ConnState: trusting.track}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv2.Serve(ln2) }()
	t.Cleanup(func() { _ = srv2.Close() })
	for i := range 5 {
		if _, ok := servedPath(t, ln2.Addr().String(), "/"); !ok {
			t.Fatalf("connection %d from a trusted proxy refused", i+1)
		}
	}
}

// TestServeCapsConnections: Serve puts the cap on the listener it serves.
func TestServeCapsConnections(t *testing.T) {
	t.Parallel()
	s, err := New(Config{AdminToken: "x", Ready: func(context.Context) error { return nil }, MaxConnsPerIP: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.conns.exempt = nil // let loopback stand for a client
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, time.Second) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := ln.Addr().String()
	for i := range 2 {
		if _, ok := servedPath(t, addr, "/healthz"); !ok {
			t.Fatalf("connection %d of 2 refused", i+1)
		}
	}
	if _, ok := servedPath(t, addr, "/healthz"); ok {
		t.Fatal("a third connection was served with --max-conns-per-ip 2")
	}
}

// servedPath opens a connection to addr and makes one request on it, which
// it leaves open; ok is false when the server refused or closed it instead.
func servedPath(t *testing.T, addr, path string) (net.Conn, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, false
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return c, res.StatusCode == http.StatusOK
}

// TestConnKey: IPv4 counts by address, IPv6 by its /64; loopback and
// trusted networks count against nothing.
func TestConnKey(t *testing.T) {
	t.Parallel()
	_, trusted, _ := net.ParseCIDR("10.0.0.0/8")
	l := newConnCap(1, []*net.IPNet{trusted}, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		addr, want string // want "" counts against nothing
	}{
		{"203.0.113.7:1", "203.0.113.7"},
		{"[::ffff:203.0.113.7]:1", "203.0.113.7"},
		{"[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::"},
		{"[2001:db8:1:2::9]:1", "2001:db8:1:2::"},
		{"127.0.0.1:1", ""},
		{"[::1]:1", ""},
		{"10.2.3.4:1", ""},
	} {
		k, ok := l.key(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
		got := ""
		if ok {
			got = k.String()
		}
		if got != tc.want {
			t.Errorf("%s counts against %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}
