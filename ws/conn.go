package ws

import (
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// frame is one thing to write on a socket.
type frame struct {
	data     []byte                     // a text message, or
	prepared *websocket.PreparedMessage // one encoded once for many sockets, or
	ping     bool                       // a ping, or
	close    int                        // a close frame with this code (then the socket ends)
	reason   string
}

// conn is one fan's socket. Its reader goroutine owns reading; writes go
// through the hub's writer pool, one writer at a time per socket, from a
// bounded queue: a socket whose queue overflows is a slow client and is
// dropped (it reconnects). Holding no goroutine for writing is what keeps a
// waiting socket small.
type conn struct {
	ws     *websocket.Conn
	w      *waiter
	ip     string
	opened time.Time

	mu        sync.Mutex
	queue     []frame
	scheduled bool // in the writer pool's ready queue or being written
	done      bool // closed or closing: nothing more is queued
	lastPing  time.Time
}

// push queues f and reports whether the socket must be scheduled for
// writing. It returns ok=false when the queue is full: the caller drops the
// socket.
func (c *conn) push(f frame, limit int) (schedule, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false, true
	}
	if len(c.queue) >= limit {
		c.done = true
		return false, false
	}
	c.queue = append(c.queue, f)
	if f.close != 0 {
		c.done = true
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

// write sends frames on the socket; false means the socket is finished.
func (c *conn) write(frames []frame, wait time.Duration) bool {
	for _, f := range frames {
		deadline := time.Now().Add(wait)
		var err error
		switch {
		case f.close != 0:
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(f.close, f.reason), deadline)
			_ = c.ws.NetConn().Close()
			return false
		case f.ping:
			err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
		case f.prepared != nil:
			_ = c.ws.SetWriteDeadline(deadline)
			err = c.ws.WritePreparedMessage(f.prepared)
		default:
			_ = c.ws.SetWriteDeadline(deadline)
			err = c.ws.WriteMessage(websocket.TextMessage, f.data)
		}
		if err != nil {
			_ = c.ws.NetConn().Close()
			return false
		}
	}
	return true
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
