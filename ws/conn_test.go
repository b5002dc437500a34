//go:build unix

package ws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSlowSocketHoldsNoWriter: with one pool writer, a socket whose reader
// has stopped fills its buffers; the writer hands it off and keeps serving
// the others, and once the slow reader reads again it gets every frame
// whole and in order, the ones cut by a full buffer included.
func TestSlowSocketHoldsNoWriter(t *testing.T) {
	h, err := New(nil, nil, Config{Writers: 1, SendQueue: 1000, WriteWait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *conn, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := h.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		// Small buffers both ways, so the slow socket fills at once.
		_ = ws.NetConn().(*net.TCPConn).SetWriteBuffer(4096)
		conns <- newConn(ws, "", time.Now())
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	smallBuffer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	slow, _, err := (&websocket.Dialer{NetDialContext: smallBuffer.DialContext}).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowConn := <-conns
	if slowConn.raw == nil {
		t.Fatal("a TCP socket should be written raw")
	}
	fast, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	fastConn := <-conns

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()

	// 64 frames of 32 KiB: far more than the slow socket's buffers hold.
	const frames, size = 64, 32 << 10
	want := make([][]byte, frames)
	for i := range want {
		want[i] = bytes.Repeat([]byte{'a' + byte(i%26)}, size)
		copy(want[i], fmt.Sprintf("%03d", i))
		h.send(slowConn, "position", textFrame(want[i]))
	}
	for i := range 3 {
		h.send(fastConn, "position", textFrame([]byte(fmt.Sprintf(`{"n":%d}`, i))))
		_ = fast.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := fast.ReadMessage()
		if err != nil || string(got) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("fast socket, message %d: %q, %v (the only writer is stuck on the slow one?)", i, got, err)
		}
	}

	for i := range frames {
		_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("slow socket, frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("slow socket, frame %d: %d bytes starting %q, want %q", i, len(got), got[:min(3, len(got))], want[i][:3])
		}
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
}

func TestEncodeFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 0xFFFF, 0x10000} {
		b := encodeFrame(opText, make([]byte, n))
		var head int
		switch {
		case n <= 125:
			head = 2
		case n <= 0xFFFF:
			head = 4
		default:
			head = 10
		}
		if len(b) != head+n || b[0] != 0x81 {
			t.Errorf("payload %d: frame of %d bytes, first byte %#x", n, len(b), b[0])
		}
	}
	if f := closeFrame(1000, strings.Repeat("x", 200)); len(f.wire) != 2+125 || !f.last {
		t.Errorf("close frame with a long reason: %d bytes, last %v; want the 125-byte cap", len(f.wire), f.last)
	}
}
