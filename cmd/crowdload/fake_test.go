package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeGate is a small Crowdgate for the tests: the fans' join and
// WebSocket protocol and the admin room calls, admitting one fan per tick
// in join order. Its knobs name fans by join order (-1: nobody).
type fakeGate struct {
	url string

	adminToken string
	heartbeat  time.Duration // position message period
	admitEvery time.Duration // one admission per tick
	neverAdmit bool
	bumpFan    int // second position message jumps by 1000
	restartFan int // first connection closed with 1012 after one position
	failJoin   int // join answers 500
	forbidWS   int // WebSocket handshake answers 403
	closeFan   int // told {"type":"closed"}
	dropFan    int // connection cut without a close frame after one position

	mu            sync.Mutex
	paused        bool
	joined        int
	admitted      int
	admittedAt    []int64
	restarted     bool
	bumped        bool
	wsOpen        int
	wsPeak        int
	openAtUnpause int
	puts, patches int
	remotes       map[string]bool
}

func newFakeGate(t *testing.T, configure func(*fakeGate)) *fakeGate {
	t.Helper()
	f := &fakeGate{
		adminToken: "secret", heartbeat: 20 * time.Millisecond, admitEvery: 2 * time.Millisecond,
		bumpFan: -1, restartFan: -1, failJoin: -1, forbidWS: -1, closeFan: -1, dropFan: -1,
		remotes: map[string]bool{},
	}
	if configure != nil {
		configure(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/rooms/{room}/join", f.join)
	mux.HandleFunc("GET /ws/v1/rooms/{room}", f.ws)
	mux.HandleFunc("/admin/v1/rooms/{room}", f.admin)
	srv := httptest.NewServer(mux)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(f.admitEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			f.mu.Lock()
			// The bumped fan is not admitted before its bump went out, so
			// the test sees it however the goroutines are scheduled.
			if !f.paused && !f.neverAdmit && f.admitted < f.joined && (f.admitted != f.bumpFan || f.bumped) {
				f.admittedAt = append(f.admittedAt, time.Now().UnixMilli())
				f.admitted++
			}
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		close(done)
		wg.Wait()
	})
	f.url = srv.URL
	return f
}

func (f *fakeGate) join(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := f.joined
	f.joined++
	pos := n - f.admitted + 1
	f.mu.Unlock()
	if n == f.failJoin {
		http.Error(w, `{"error":{"code":"internal","message":"boom"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"waiting","position":%d,"eta_seconds":1,"queue_id":"q-%d","queue_token":"tok-%d"}`, pos, n, n)
}

var upgrader = websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 1024}

func (f *fakeGate) ws(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("queue_token"), "tok-"))
	if err != nil {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	if n == f.forbidWS {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	f.mu.Lock()
	f.remotes[host] = true
	f.wsOpen++
	f.wsPeak = max(f.wsPeak, f.wsOpen)
	f.mu.Unlock()
	gone := make(chan struct{})
	go func() { // reads control frames; ends when the client goes
		defer close(gone)
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() {
		c.Close()
		<-gone
		f.mu.Lock()
		f.wsOpen--
		f.mu.Unlock()
	}()
	send := func(format string, a ...any) bool {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		return c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, format, a...)) == nil
	}
	closeWith := func(code int) {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	}
	tick := time.NewTicker(f.heartbeat)
	defer tick.Stop()
	for sent := 0; ; sent++ {
		f.mu.Lock()
		admitted, pos := n < f.admitted, n-f.admitted+1
		var at int64
		if admitted {
			at = f.admittedAt[n]
		}
		restart := n == f.restartFan && sent == 1 && !f.restarted
		if restart {
			f.restarted = true
		}
		f.mu.Unlock()
		switch {
		case n == f.closeFan:
			send(`{"type":"closed","reason":"sold_out"}`)
			closeWith(websocket.CloseNormalClosure)
			return
		case n == f.dropFan && sent == 1:
			return
		case restart:
			closeWith(websocket.CloseServiceRestart)
			return
		case admitted && n != f.dropFan: // the dropped fan is cut off before it hears
			send(`{"type":"admitted","admission_token":"eyJhbGciOiJFZERTQSJ9.e30.c2ln","expires_at":"2026-12-01T10:15:00Z","admitted_at_ms":%d}`, at)
			closeWith(websocket.CloseNormalClosure)
			return
		}
		bump := n == f.bumpFan && sent == 1
		if bump {
			pos += 1000
		}
		if !send(`{"type":"position","status":"waiting","position":%d,"ahead":%d,"eta_seconds":3,"eta_low_seconds":2,"eta_high_seconds":4}`, pos, pos-1) {
			return
		}
		if bump {
			f.mu.Lock()
			f.bumped = true
			f.mu.Unlock()
		}
		select {
		case <-tick.C:
		case <-gone:
			return
		}
	}
}

func (f *fakeGate) admin(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.adminToken {
		http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, http.StatusUnauthorized)
		return
	}
	var body struct {
		Paused *bool `json:"paused"`
	}
	if r.Method != http.MethodGet {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":{"code":"invalid_request","message":"bad json"}}`, http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		f.puts++
		f.paused = body.Paused != nil && *body.Paused
	case http.MethodPatch:
		f.patches++
		if body.Paused != nil {
			f.paused = *body.Paused
			f.openAtUnpause = f.wsOpen
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"paused":%t,"stats":{"waiting":%d,"active":%d,"admitted_total":%d}}`,
		f.paused, f.joined-f.admitted, f.admitted, f.admitted)
}

func (f *fakeGate) snapshot() (puts, patches, openAtUnpause, peak int, remotes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, f.patches, f.openAtUnpause, f.wsPeak, len(f.remotes)
}
