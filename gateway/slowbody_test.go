package gateway_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSlowBodiesDoNotLockOthersOut: 300 anonymous connections from one
// address, each with a hold's headers and one byte of its 100-byte body,
// are more than the booking guard's 256 slots. They must take none: other
// visitors' event and order reads, and their holds, answer as usual.
func TestSlowBodiesDoNotLockOthersOut(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")
	addr := s.srv.Listener.Addr().String()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "POST /api/v1/events/gig/holds HTTP/1.1\r\nHost: x\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the server take them all in

	start := time.Now()
	for i := range 20 {
		if r := s.do("GET", "/api/v1/events/gig", ""); r.status != http.StatusOK {
			t.Fatalf("event read %d behind 300 slow bodies: %d %s", i, r.status, r.body)
		}
		if r := s.do("GET", "/api/v1/orders/no-such-order", ""); r.status != http.StatusNotFound {
			t.Fatalf("order read %d behind 300 slow bodies: %d %s", i, r.status, r.body)
		}
	}
	if r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`); r.status != http.StatusCreated {
		t.Fatalf("hold behind 300 slow bodies: %d %s", r.status, r.body)
	}
	t.Logf("41 requests behind 300 slow bodies in %v", time.Since(start))

	// The slow ones are still waiting for their bodies, not answered.
	_ = conns[0].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conns[0].Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Fatalf("a slow body was answered before its deadline: %d %v", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
