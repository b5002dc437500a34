package gateway

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connCap caps the connections one client address holds open at once on
// the main listener: 20,000 idle sockets from one host would otherwise use
// up the process's files and leave new visitors timing out. It is an
// http.Server's ConnState hook, so connections stay the plain *net.TCPConn
// the WebSocket hub writes to directly; a hijacked connection (a WebSocket)
// leaves the count, being capped by the hub's own per-address limit.
//
// The address is the connection's: X-Forwarded-For cannot be read before a
// request, and a proxy's connections carry every fan. So trusted proxies
// and loopback (a proxy or sidecar on the same host) are exempt. An IPv6
// client counts by its /64, the block one subscriber is given.
type connCap struct {
	max     int
	exempt  []*net.IPNet
	refused prometheus.Counter
	log     *slog.Logger

	mu     sync.Mutex
	open   map[netip.Addr]int
	warned time.Time // the last log line about refusals
	quiet  int       // refusals since then
}

// newConnCap caps connections at max per address; those from the trusted
// networks, and from loopback, are exempt.
func newConnCap(max int, trusted []*net.IPNet, refused prometheus.Counter, log *slog.Logger) *connCap {
	exempt := append([]*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
	}, trusted...)
	return &connCap{max: max, exempt: exempt, refused: refused, log: log, open: map[netip.Addr]int{}}
}

// key is what a connection from a counts against; false when it counts
// against nothing (exempt, or not an IP connection).
func (l *connCap) key(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip := ta.AddrPort().Addr().Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	for _, n := range l.exempt {
		if n.Contains(ip.AsSlice()) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// track is the http.Server's ConnState hook. Every connection is counted
// when new and uncounted when closed or hijacked, refused ones included;
// the server calls it from its accept loop for new connections, so a
// refusal never starts a goroutine.
func (l *connCap) track(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		k, ok := l.key(c.RemoteAddr())
		if !ok {
			return
		}
		l.mu.Lock()
		l.open[k]++
		over := l.open[k] > l.max
		l.mu.Unlock()
		if over {
			l.refuse(c, k)
		}
	case http.StateClosed, http.StateHijacked:
		k, ok := l.key(c.RemoteAddr())
		if !ok {
			return
		}
		l.mu.Lock()
		if l.open[k] <= 1 {
			delete(l.open, k)
		} else {
			l.open[k]--
		}
		l.mu.Unlock()
	}
}

// refusal is the contract's overload answer, sent before closing a
// connection over the cap. It is best effort: the request is not read, and
// a client whose request was already in flight may see a reset instead.
var refusal = func() string {
	body := `{"error":{"code":"rate_limited","message":"too many open connections from this address"}}`
	return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 5\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (l *connCap) refuse(c net.Conn, k netip.Addr) {
	l.refused.Inc()
	// A new socket's send buffer is empty: the write does not wait, and the
	// deadline makes sure of it.
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = io.WriteString(c, refusal)
	_ = c.Close()

	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiet++
	if now := time.Now(); now.Sub(l.warned) >= time.Minute {
		l.log.Warn("connections refused: over the per-address cap", "addr", k.String(), "max_conns_per_ip", l.max,
			"refused", l.quiet)
		l.warned, l.quiet = now, 0
	}
}
