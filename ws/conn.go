package ws

import (
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// frame is one WebSocket frame as it goes on the wire, header included:
// encoded once, and shared read-only by every socket that gets the same
// bytes (a room closing, an admission to several tabs).
type frame struct {
	wire []byte
	last bool // a close frame: the socket ends once it is written
}

// WebSocket opcodes (RFC 6455, 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// encodeFrame returns a final, unmasked server frame (servers never mask).
func encodeFrame(op byte, payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, n+10)
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

func textFrame(payload []byte) frame { return frame{wire: encodeFrame(opText, payload)} }

// headroom is what framed needs in front of a payload: the header of a
// text frame of up to 64 KiB.
const headroom = 4

// framed makes a text frame of b[headroom:] in place, writing the header
// into the headroom, so that a message built for one socket costs one
// allocation.
func framed(b []byte) frame {
	n := len(b) - headroom
	switch {
	case n <= 125:
		b[2], b[3] = 0x80|opText, byte(n)
		return frame{wire: b[2:]}
	case n <= 0xFFFF:
		b[0], b[1] = 0x80|opText, 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return frame{wire: b}
	}
	return textFrame(b[headroom:])
}

// closeFrame says goodbye with a code and a reason (cut to fit the 125
// bytes a control frame may carry); the socket ends after it.
func closeFrame(code int, reason string) frame {
	return frame{wire: encodeFrame(opClose, websocket.FormatCloseMessage(code, truncate(reason, 123))), last: true}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// pingFrame is the same bytes for every socket.
var pingFrame = frame{wire: encodeFrame(opPing, nil)}

// conn is one fan's socket. Its reader goroutine owns reading (gorilla);
// every write after the upgrade goes through the hub's writer pool, one
// writer at a time per socket, from a bounded queue: a socket whose queue
// overflows is a slow client and is dropped (it reconnects). Holding no
// goroutine for writing is what keeps a waiting socket small.
type conn struct {
	ws     *websocket.Conn
	raw    syscall.RawConn // nil when the connection is not a plain socket
	w      *waiter
	ip     string
	opened time.Time

	mu        sync.Mutex
	queue     []frame
	scheduled bool // in the writer pool's ready queue or being written
	done      bool // closed or closing: nothing more is queued
	lastPing  time.Time
}

func newConn(ws *websocket.Conn, ip string, now time.Time) *conn {
	return &conn{ws: ws, raw: rawConn(ws.NetConn()), ip: ip, opened: now, lastPing: now}
}

// push queues frames, in order, and reports whether the socket must be
// scheduled for writing. It returns ok=false when the queue would overflow:
// the caller drops the socket.
func (c *conn) push(limit int, fs ...frame) (schedule, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false, true
	}
	if len(c.queue)+len(fs) > limit {
		c.done = true
		return false, false
	}
	for _, f := range fs {
		c.queue = append(c.queue, f)
		if f.last {
			c.done = true
			break
		}
	}
	if c.scheduled {
		return false, true
	}
	c.scheduled = true
	return true, true
}

// take returns the queued frames, or nil (and unschedules) when none are.
func (c *conn) take() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	if len(q) == 0 {
		c.scheduled = false
		return nil
	}
	c.queue = nil
	return q
}

// join returns the frames' bytes as one buffer (in scratch when there are
// several), and whether the last ends the socket.
func join(frames []frame, scratch *[]byte) (b []byte, last bool) {
	last = frames[len(frames)-1].last
	if len(frames) == 1 {
		return frames[0].wire, last
	}
	buf := (*scratch)[:0]
	for _, f := range frames {
		buf = append(buf, f.wire...)
	}
	*scratch = buf
	return buf, last
}

// writeNow writes what of b the socket takes without waiting, and returns
// the rest (empty when all went). On a plain socket it is one write(2) with
// no deadline to arm: a socket with room in its send buffer, the usual
// case, takes the bytes at once. A wrapped connection (TLS) may block in
// any write, so it takes nothing here: everything goes through writeWait.
func (c *conn) writeNow(b []byte) (rest []byte, err error) {
	if c.raw != nil {
		return c.writeRaw(b)
	}
	return b, nil
}

// writeWait writes b whole, waiting for room up to wait.
func (c *conn) writeWait(b []byte, wait time.Duration) error {
	nc := c.ws.NetConn()
	if err := nc.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	if _, err := nc.Write(b); err != nil {
		return err
	}
	return nc.SetWriteDeadline(time.Time{})
}

// writeWire writes b whole: at once if it fits, else waiting up to wait.
func (c *conn) writeWire(b []byte, wait time.Duration) error {
	rest, err := c.writeNow(b)
	if err == nil && len(rest) > 0 {
		err = c.writeWait(rest, wait)
	}
	return err
}

// kill ends the socket at once; its reader then unregisters it.
func (c *conn) kill() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	_ = c.ws.NetConn().Close()
}

func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
