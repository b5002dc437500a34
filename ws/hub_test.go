package ws_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/ws"
)

// stack is a gateway with a running hub over a private Redis; admissions
// are made by hand with store.Admit.
type stack struct {
	t      *testing.T
	srv    *httptest.Server
	store  *queue.Store
	keys   *admission.Keyring
	cancel context.CancelFunc
	done   chan struct{}
}

func newStack(t *testing.T, cfg ws.Config) *stack {
	t.Helper()
	rs := queuetest.Run(t)
	store, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ctx := context.Background()
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tick == 0 {
		cfg.Tick = 20 * time.Millisecond
	}
	hub, err := ws.New(ctl, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{AdminToken: "tok", Ready: store.Ping, Store: store, Sockets: hub}, ctl, keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	hctx, cancel := context.WithCancel(ctx)
	s := &stack{t: t, srv: srv, store: store, keys: keys, cancel: cancel, done: make(chan struct{})}
	go func() { _ = hub.Run(hctx); close(s.done) }()
	t.Cleanup(func() { s.stop(); srv.Close() })
	return s
}

func (s *stack) stop() {
	s.cancel()
	<-s.done
}

func (s *stack) room(name, body string) {
	s.t.Helper()
	req, _ := http.NewRequest("PUT", s.srv.URL+"/admin/v1/rooms/"+name, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode >= 300 {
		s.t.Fatalf("room: %v %v", res, err)
	}
	res.Body.Close()
}

func (s *stack) join(room string) (token, id string) {
	s.t.Helper()
	res, err := http.Post(s.srv.URL+"/api/v1/rooms/"+room+"/join", "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var j struct{ QueueToken, QueueID string }
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &struct {
		QueueToken *string `json:"queue_token"`
		QueueID    *string `json:"queue_id"`
	}{&j.QueueToken, &j.QueueID}); err != nil || j.QueueToken == "" {
		s.t.Fatalf("join: %s %v", b, err)
	}
	return j.QueueToken, j.QueueID
}

func (s *stack) admit(room string, n int) {
	s.t.Helper()
	// One decision per call at a huge rate lets in up to the bucket's burst.
	for got := 0; got < n; {
		time.Sleep(2 * time.Millisecond)
		a, err := s.store.Admit(context.Background(), room, n-got)
		if err != nil {
			s.t.Fatal(err)
		}
		got += len(a.IDs)
	}
}

func (s *stack) dial(room, token string, header http.Header) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws/v1/rooms/" + room + "?queue_token=" + token
	return websocket.DefaultDialer.Dial(u, header)
}

// connect opens a fan's socket, closed when the test ends.
func (s *stack) connect(room, token string) *websocket.Conn {
	s.t.Helper()
	c, _, err := s.dial(room, token, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// message is any server frame.
type message struct {
	Type           string `json:"type"`
	Status         string `json:"status"`
	Position       int64  `json:"position"`
	Ahead          int64  `json:"ahead"`
	ETASeconds     int64  `json:"eta_seconds"`
	ETALowSeconds  int64  `json:"eta_low_seconds"`
	ETAHighSeconds int64  `json:"eta_high_seconds"`
	AdmissionToken string `json:"admission_token"`
	Reason         string `json:"reason"`
	// Present only when something sells behind the room.
	TicketsAvailable *int64 `json:"tickets_available"`
	TicketsHeld      *int64 `json:"tickets_held"`
}

func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return m
}

// until reads frames until one satisfies ok, failing on any position that
// rises on the way.
func until(t *testing.T, c *websocket.Conn, last int64, ok func(message) bool) message {
	t.Helper()
	for {
		m := read(t, c)
		if m.Type == "position" {
			if last > 0 && m.Position > last {
				t.Fatalf("position rose from %d to %d", last, m.Position)
			}
			last = m.Position
		}
		if ok(m) {
			return m
		}
	}
}

func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if ok := asClose(err, &ce); ok {
				return ce.Code
			}
			t.Fatalf("socket ended without a close frame: %v", err)
		}
	}
}

func asClose(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

func TestPositionsFallThenAdmitted(t *testing.T) {
	s := newStack(t, ws.Config{})
	s.room("launch", `{"admit_per_minute": 0}`)
	s.join("launch")
	s.join("launch")
	token, id := s.join("launch")

	c := s.connect("launch", token)
	first := read(t, c)
	if first.Type != "position" || first.Position != 3 || first.Ahead != 2 || first.Status != "waiting" {
		t.Fatalf("first frame %+v", first)
	}
	// A second tab of the same place sees the same position.
	c2 := s.connect("launch", token)
	if m := read(t, c2); m.Position != 3 {
		t.Fatalf("second tab: %+v", m)
	}

	s.room("launch", `{"admit_per_minute": 600000}`)
	s.admit("launch", 1)
	m := until(t, c, 3, func(m message) bool { return m.Type == "position" && m.Position == 2 })
	if m.ETASeconds < 0 || m.ETALowSeconds > m.ETASeconds || m.ETAHighSeconds < m.ETASeconds {
		t.Fatalf("eta range %+v", m)
	}
	until(t, c2, 3, func(m message) bool { return m.Position == 2 })

	start := time.Now()
	s.admit("launch", 2)
	m = until(t, c, 2, func(m message) bool { return m.Type == "admitted" })
	if lag := time.Since(start); lag > time.Second {
		t.Errorf("admitted message %v after the decision", lag)
	}
	p, err := s.keys.Verify(m.AdmissionToken, "launch")
	if err != nil || p.Subject != id {
		t.Fatalf("admission token: %+v %v", p, err)
	}
	if code := closeCode(t, c); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d after admission", code)
	}
}

func TestMinimumUpdateInterval(t *testing.T) {
	s := newStack(t, ws.Config{MinUpdate: 100 * time.Millisecond})
	s.room("launch", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	c := s.connect("launch", token)
	for range 3 { // the same position, re-sent although nothing changed
		if m := read(t, c); m.Type != "position" || m.Position != 1 {
			t.Fatalf("frame %+v", m)
		}
	}
}

func TestRefusedBeforeUpgrade(t *testing.T) {
	s := newStack(t, ws.Config{MaxPerIP: 2})
	s.room("launch", `{"admit_per_minute": 0}`)
	s.room("other", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	otherToken, _ := s.join("other")
	cases := []struct {
		name, room, token string
		header            http.Header
		status            int
	}{
		{"forged", "launch", "1.AAAAAAAAAAAAAAAAAAAAAA", nil, 401},
		{"other room", "launch", otherToken, nil, 401},
		{"no room", "nope", token, nil, 401},
		{"cross-site", "launch", token, http.Header{"Origin": {"https://evil.example"}}, 403},
	}
	for _, c := range cases {
		_, res, err := s.dial(c.room, c.token, c.header)
		if err == nil || res == nil || res.StatusCode != c.status {
			t.Errorf("%s: %v %v, want %d", c.name, res, err, c.status)
		}
	}
	// A plain GET, no upgrade: the contract's JSON error, not the
	// upgrader's text.
	res, err := http.Get(s.srv.URL + "/ws/v1/rooms/launch?queue_token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 400 || body.Error.Code != "invalid_request" {
		t.Errorf("plain GET: %d %+v %v, want 400 invalid_request", res.StatusCode, body, err)
	}
	res.Body.Close()
	var open []*websocket.Conn
	for range 2 {
		c := s.connect("launch", token)
		open = append(open, c)
	}
	if _, res, err := s.dial("launch", token, nil); err == nil || res.StatusCode != 429 {
		t.Fatalf("third socket from one address: %v %v", res, err)
	}
	for _, c := range open {
		c.Close()
	}
}

func TestBadClientFrames(t *testing.T) {
	s := newStack(t, ws.Config{MinUpdate: 100 * time.Millisecond})
	s.room("launch", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	for _, tc := range []struct {
		msg  string
		code int
	}{
		{`{"type":"ping"}`, 0},
		{`{"type":"join"}`, websocket.ClosePolicyViolation},
		{strings.Repeat("x", 4096), websocket.CloseMessageTooBig},
	} {
		c := s.connect("launch", token)
		read(t, c)
		if err := c.WriteMessage(websocket.TextMessage, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		if tc.code == 0 {
			// Accepted: the socket carries on.
			if m := read(t, c); m.Type != "position" {
				t.Fatalf("after a client ping: %+v", m)
			}
		} else if code := closeCode(t, c); code != tc.code {
			t.Fatalf("%.20q: close code %d, want %d", tc.msg, code, tc.code)
		}
		c.Close()
	}
}

// TestClientControlFrames: a client's WebSocket ping gets its pong, and a
// client's close gets the close echoed, both written by the hub.
func TestClientControlFrames(t *testing.T) {
	s := newStack(t, ws.Config{MinUpdate: 100 * time.Millisecond})
	s.room("launch", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	c := s.connect("launch", token)
	read(t, c)
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	read(t, c) // runs the pong handler on the way to the next position
	select {
	case got := <-pong:
		if got != "are you there" {
			t.Fatalf("pong %q", got)
		}
	default:
		t.Fatal("no pong before the next position")
	}
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, c); code != websocket.CloseGoingAway {
		t.Fatalf("close echoed with %d, want %d", code, websocket.CloseGoingAway)
	}
}

func TestRoomClosedAndShutdown(t *testing.T) {
	s := newStack(t, ws.Config{})
	s.room("launch", `{"admit_per_minute": 0}`)
	s.room("other", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	otherToken, _ := s.join("other")
	c := s.connect("launch", token)
	read(t, c)
	s.room("launch", `{"closed": true}`)
	if m := until(t, c, 0, func(m message) bool { return m.Type != "position" }); m.Type != "closed" || m.Reason != "closed" {
		t.Fatalf("room closed: %+v", m)
	}

	o := s.connect("other", otherToken)
	read(t, o)
	s.stop()
	if code := closeCode(t, o); code != ws.CloseReconnect {
		t.Fatalf("shutdown close code %d, want %d", code, ws.CloseReconnect)
	}
	if _, res, err := s.dial("other", otherToken, nil); err == nil || res.StatusCode != 503 {
		t.Fatalf("after shutdown: %v %v", res, err)
	}
}

// TestPositionsAfterTheDraw: in a random_prequeue room, sockets opened in
// the pre-queue say "prequeue"; once the pre-queue is drawn each one is
// told "waiting" with its drawn place, exactly ZRANK + 1, although the
// place may be further back than the join order was.
func TestPositionsAfterTheDraw(t *testing.T) {
	s := newStack(t, ws.Config{})
	opens := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	sale := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	s.room("draw", `{"admit_per_minute": 0, "mode": "random_prequeue", "queue_opens_at": "`+opens+`", "sale_starts_at": "`+sale+`"}`)
	type fan struct {
		id string
		c  *websocket.Conn
	}
	var fans []fan
	for range 8 {
		token, id := s.join("draw")
		c := s.connect("draw", token)
		if m := read(t, c); m.Type != "position" || m.Status != "prequeue" {
			t.Fatalf("pre-queue frame %+v", m)
		}
		fans = append(fans, fan{id, c})
	}
	// The sale starts; until the draw the fans are still in the pre-queue.
	sale = time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	s.room("draw", `{"admit_per_minute": 0, "mode": "random_prequeue", "queue_opens_at": "`+opens+`", "sale_starts_at": "`+sale+`"}`)
	ctx := context.Background()
	if res, err := s.store.Draw(ctx, "draw"); err != nil || !res.Drew || res.Participants != len(fans) {
		t.Fatalf("draw: %+v %v", res, err)
	}
	for _, f := range fans {
		p, err := s.store.Status(ctx, "draw", f.id)
		if err != nil {
			t.Fatal(err)
		}
		for {
			m := read(t, f.c)
			if m.Type != "position" {
				t.Fatalf("%s: frame %+v", f.id, m)
			}
			if m.Status == "waiting" {
				if m.Position != p.Position {
					t.Fatalf("%s: drawn position %d sent as %d", f.id, p.Position, m.Position)
				}
				break
			}
		}
	}
}

// TestTicketsLeftAndSoldOut: positions carry what is left to buy, a change
// of it reaches every waiter without waiting for the periodic re-send, and
// a room that closed because it sold out says so.
func TestTicketsLeftAndSoldOut(t *testing.T) {
	var mu sync.Mutex
	available, held := int64(10), int64(0)
	s := newStack(t, ws.Config{MinUpdate: time.Hour, Tickets: func(room string) (int64, int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		return available, held, room == "launch"
	}})
	s.room("launch", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	c := s.connect("launch", token)
	if m := read(t, c); m.TicketsAvailable == nil || *m.TicketsAvailable != 10 || *m.TicketsHeld != 0 {
		t.Fatalf("first frame: %+v", m)
	}
	mu.Lock()
	available, held = 0, 3
	mu.Unlock()
	if m := read(t, c); m.TicketsAvailable == nil || *m.TicketsAvailable != 0 || *m.TicketsHeld != 3 {
		t.Fatalf("after the change: %+v", m)
	}
	if err := s.store.CloseSoldOut(context.Background(), "launch"); err != nil {
		t.Fatal(err)
	}
	if m := until(t, c, 0, func(m message) bool { return m.Type != "position" }); m.Type != "closed" || m.Reason != "sold_out" {
		t.Fatalf("sold out: %+v", m)
	}
}
