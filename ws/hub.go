package ws

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

// Errors Serve returns before upgrading; the gateway maps them to HTTP.
var (
	ErrShuttingDown = errors.New("ws: shutting down")
	ErrTooMany      = errors.New("ws: too many sockets from this address")
	ErrOrigin       = errors.New("ws: cross-site WebSocket refused")
	// ErrNotUpgrade is a plain request to a socket's path: refused before
	// the upgrader would answer it in text.
	ErrNotUpgrade error = &crowdgate.Error{Kind: crowdgate.Invalid, Message: "this path takes a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)"}
)

// Close codes the hub sends.
const (
	CloseReconnect = websocket.CloseServiceRestart // 1012: the server restarts; reconnect with backoff
	CloseSlow      = websocket.CloseTryAgainLater  // 1013: dropped as too slow; reconnect
)

// Config tunes a Hub. The zero value is usable.
type Config struct {
	Tick      time.Duration // how often positions are recomputed and sent; default 200 ms
	MinUpdate time.Duration // a position is re-sent at least this often; default 5 s
	// MaxRate is the shortest time between two moves sent to one waiter:
	// while the line moves on every admission tick, a waiter gets the
	// latest position once per MaxRate instead of on every tick; a single
	// move goes out at once. Default 1 s.
	MaxRate   time.Duration
	PingEvery time.Duration // default 25 s
	PongWait  time.Duration // a socket silent this long (no pong) is dead; default 60 s
	WriteWait time.Duration // deadline of one write; default 5 s
	SendQueue int           // frames a socket may have queued before it is dropped as slow; default 16
	// Writers is the writer pool's size; default twice GOMAXPROCS. Pool
	// writers never wait on a socket (a full one is handed to a goroutine
	// of its own), so more would only take turns on the same cores.
	Writers int
	// MaxPerIP caps concurrent sockets from one address (a tab per family
	// member, not a flood); 0 means 64.
	MaxPerIP int
	// Heartbeat is how often the places of connected waiters are marked
	// alive in the store; keep it well under the queue's grace. Default 20 s.
	Heartbeat time.Duration
	// Origins are the hosts (host[:port]) a browser may open sockets from,
	// besides the request's own Host: a cookie-carrying cross-site socket
	// would otherwise read someone's place.
	Origins []string
	// Tickets, when set, reports what is left to buy behind a room (ok
	// false: nothing sells behind it); positions then carry
	// tickets_available and tickets_held, re-sent when they change.
	Tickets    func(room string) (available, held int64, ok bool)
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Tick, 200*time.Millisecond)
	def(&c.MinUpdate, 5*time.Second)
	def(&c.MaxRate, time.Second)
	def(&c.PingEvery, 25*time.Second)
	def(&c.PongWait, 60*time.Second)
	def(&c.WriteWait, 5*time.Second)
	def(&c.Heartbeat, 20*time.Second)
	if c.SendQueue <= 0 {
		c.SendQueue = 16
	}
	if c.Writers <= 0 {
		c.Writers = 2 * runtime.GOMAXPROCS(0)
	}
	if c.MaxPerIP <= 0 {
		c.MaxPerIP = 64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
}

// Hub holds this instance's waiting sockets and pushes each waiter's place.
type Hub struct {
	ctl      *admission.Controller
	store    *queue.Store
	cfg      Config
	log      *slog.Logger
	storeLog *queue.Outage // says once that the store fails, not per room per tick
	upgrader websocket.Upgrader
	ready    chan *conn
	// scanEvery is the period of idle scans, in whole ticks; resendAfter is
	// when an unchanged position is sent again, so that the next scan
	// after it, plus deliveryMargin, is still within MinUpdate.
	scanEvery, resendAfter time.Duration

	mu      sync.Mutex
	rooms   map[string]*roomHub
	perIP   map[string]int
	closing bool
	readers sync.WaitGroup
	waiting sync.WaitGroup // writes waiting for room in a slow socket's buffer

	sockets   prometheus.Gauge
	sent      map[string]prometheus.Counter // by message type, resolved once
	dropped   *prometheus.CounterVec
	tickTime  prometheus.Histogram
	regressed prometheus.Counter
}

// roomHub is the waiters of one room connected to this instance.
type roomHub struct {
	name     string
	tracker  *queue.Tracker
	waiters  map[string]*waiter // by queue id
	lastBeat time.Time
	lastScan time.Time
	version  int64 // tracker version at the last scan
	resets   int64
	drawn    bool // the tracker had seen the pre-queue draw at the last scan
	tickets  tickets
	ticketAt time.Time // when a change of tickets was last pushed
}

// tickets is what is left to buy behind a room, as positions carry it.
type tickets struct {
	available, held int64
	ok              bool
}

// ticketsEvery bounds how often a change of tickets left alone makes every
// waiter of a room get a frame: while holds churn it would otherwise be
// every tick.
const ticketsEvery = time.Second

func (h *Hub) ticketsOf(room string) tickets {
	if h.cfg.Tickets == nil {
		return tickets{}
	}
	a, held, ok := h.cfg.Tickets(room)
	return tickets{a, held, ok}
}

// idleScan is how often waiters are scanned when the line did not move,
// for the periodic re-sends and the messages MaxRate held back; scans come
// on ticks, so the real period is idleScan rounded up to whole ticks
// (Hub.scanEvery).
const idleScan = 400 * time.Millisecond

// deliveryMargin is what a re-send leaves for the variance of delivery:
// a scan queues a burst, and the last of it goes out later than the first.
const deliveryMargin = 500 * time.Millisecond

// waiter is one place in line, with its sockets (tabs).
type waiter struct {
	id       string
	score    int64 // from the tracker: asked again whenever it rebuilds
	token    string
	conns    []*conn
	status   string // last status sent
	lastPos  int64
	lastSent time.Time // last position message
	lastMove time.Time // last position message with a new position
	checking bool      // a status check is under way, or the waiter has been told their outcome
}

// New returns a Hub; call Run.
func New(ctl *admission.Controller, store *queue.Store, cfg Config) (*Hub, error) {
	cfg.setDefaults()
	h := &Hub{
		ctl: ctl, store: store, cfg: cfg, log: cfg.Logger,
		storeLog:  queue.NewOutage(cfg.Logger, "websocket", cfg.Now),
		ready:     make(chan *conn, 1<<16),
		scanEvery: (idleScan + cfg.Tick - 1) / cfg.Tick * cfg.Tick,
		rooms:     map[string]*roomHub{},
		perIP:     map[string]int{},
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crowdgate_ws_sockets", Help: "Open waiting-room WebSockets on this instance.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_ws_dropped_total", Help: "Sockets ended by the server, by reason.",
		}, []string{"reason"}),
		tickTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crowdgate_ws_tick_seconds", Help: "Time to recompute and queue every local waiter's position.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		regressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_ws_position_increases_total", Help: "Computed positions above the last one sent (tracker a tick behind a new socket); held, never sent.",
		}),
	}
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_ws_messages_total", Help: "Messages queued to WebSockets, by type.",
	}, []string{"type"})
	h.sent = map[string]prometheus.Counter{}
	for _, kind := range []string{"position", "ping", "pong", "admitted", "closed", "close"} {
		h.sent[kind] = sent.WithLabelValues(kind)
	}
	for _, m := range []prometheus.Collector{h.sockets, sent, h.dropped, h.tickTime, h.regressed} {
		if err := cfg.Registerer.Register(m); err != nil {
			return nil, err
		}
	}
	h.resendAfter = max(cfg.MinUpdate-h.scanEvery-deliveryMargin, 0)
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// 0: reuse the 4 KiB reader net/http already has; fans send nothing.
		ReadBufferSize:  0,
		WriteBufferSize: 512,
		// A pooled write buffer is held only while writing, not per socket.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     h.checkOrigin,
	}
	return h, nil
}

func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: no ambient cookies to abuse
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range h.cfg.Origins {
		if strings.EqualFold(u.Host, o) {
			return true
		}
	}
	return false
}

// Serve upgrades a fan's request to a waiting-room socket for the place
// queueToken names; clientIP is the fan's address (the caller knows which
// proxies to trust), "" for the connection's. Errors before the upgrade
// (bad token, no place, no room, too many sockets, shutting down) are
// returned for the caller to answer in HTTP; after the upgrade it returns
// nil and the socket lives on.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, room, queueToken, clientIP string) error {
	if !h.checkOrigin(r) {
		return ErrOrigin
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return ErrNotUpgrade
	}
	ip := clientIP
	if ip == "" {
		ip = remoteIP(r.RemoteAddr)
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return ErrShuttingDown
	}
	if h.perIP[ip] >= h.cfg.MaxPerIP {
		h.mu.Unlock()
		return ErrTooMany
	}
	h.perIP[ip]++
	h.mu.Unlock()
	release := func() {
		h.mu.Lock()
		if h.perIP[ip]--; h.perIP[ip] <= 0 {
			delete(h.perIP, ip)
		}
		h.mu.Unlock()
	}

	t, err := h.ctl.Status(r.Context(), room, queueToken)
	if err != nil {
		release()
		return err
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		release() // the upgrader has answered the request
		return nil
	}
	ws.SetReadLimit(512)
	c := newConn(ws, ip, h.cfg.Now())

	switch t.Status {
	case admission.StatusAdmitted:
		h.finish(c, admittedFrame(t), websocket.CloseNormalClosure, "admitted")
		release()
		return nil
	case admission.StatusClosed:
		reason := cmp.Or(t.ClosedReason, "closed") // as tickRoom says it: a sold-out page waits for a reopening
		h.finish(c, closedFrame(reason), websocket.CloseNormalClosure, reason)
		release()
		return nil
	}
	if _, err := queue.Score(t.QueueID); err != nil {
		h.finish(c, nil, websocket.CloseInternalServerErr, "bad queue id")
		release()
		return nil
	}

	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		h.finish(c, nil, CloseReconnect, "reconnect")
		release()
		return nil
	}
	rh := h.rooms[room]
	if rh == nil {
		rh = &roomHub{name: room, tracker: h.store.NewTracker(room), waiters: map[string]*waiter{}}
		h.rooms[room] = rh
	}
	wt := rh.waiters[t.QueueID]
	if wt == nil {
		// Under h.mu, so a tick that rebuilt the tracker since re-asks it.
		score, _ := rh.tracker.Score(t.QueueID)
		wt = &waiter{id: t.QueueID, score: score, token: queueToken, status: t.Status, lastPos: t.Position}
		rh.waiters[t.QueueID] = wt
	}
	c.w = wt
	wt.conns = append(wt.conns, c)
	wt.lastSent = h.cfg.Now()
	h.readers.Add(1)
	h.mu.Unlock()
	h.sockets.Inc()

	h.send(c, "position", positionFrame(t.Status, t.Position, t.ETA, t.Paused, h.ticketsOf(rh.name)))
	go h.read(c, rh, release)
	return nil
}

// finish writes a last frame and a close frame on a socket that never
// joined the hub (so gorilla may still write on it).
func (h *Hub) finish(c *conn, data []byte, code int, reason string) {
	deadline := time.Now().Add(h.cfg.WriteWait)
	if data != nil {
		_ = c.ws.SetWriteDeadline(deadline)
		_ = c.ws.WriteMessage(websocket.TextMessage, data)
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	_ = c.ws.Close()
}

// read owns the socket's reading: pongs extend its life; fans have nothing
// to say but an optional {"type":"ping"}, so anything else ends it.
func (h *Hub) read(c *conn, rh *roomHub, release func()) {
	defer h.readers.Done()
	defer release()
	defer h.unregister(c, rh)
	_ = c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
	// Answers to the client's control frames are ours to write, not
	// gorilla's: a pong goes through the writer pool, in order; the echo of
	// a close is written at once (as gorilla would), since the socket ends
	// when this returns, unless the hub's own close is already on its way
	// (the room closed as the page closed its side): a second close frame
	// is a protocol error the browser reports.
	c.ws.SetPingHandler(func(data string) error {
		h.send(c, "pong", frame{wire: encodeFrame(opPong, []byte(data))})
		return nil
	})
	c.ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.mu.Lock()
		sent := c.done // a close is queued or written, or the socket dropped
		c.done = true  // nothing more is queued
		c.mu.Unlock()
		if !sent {
			_ = c.writeWire(closeFrame(code, "").wire, time.Second)
		}
		return nil
	})
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage || !isClientPing(msg) {
			h.dropped.WithLabelValues("bad_message").Inc()
			h.send(c, "close", closeFrame(websocket.ClosePolicyViolation, "unexpected message"))
			// Keep reading until the writer has sent the close and shut the socket.
			_ = c.ws.SetReadDeadline(time.Now().Add(h.cfg.WriteWait))
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	}
}

// isClientPing accepts the one message a client may send, {"type":"ping"},
// with any spacing.
func isClientPing(msg []byte) bool {
	s := strings.Join(strings.Fields(string(msg)), "")
	return s == `{"type":"ping"}`
}

func (h *Hub) unregister(c *conn, rh *roomHub) {
	c.kill()
	h.sockets.Dec()
	h.mu.Lock()
	defer h.mu.Unlock()
	w := c.w
	for i, x := range w.conns {
		if x == c {
			w.conns = append(w.conns[:i], w.conns[i+1:]...)
			break
		}
	}
	if len(w.conns) == 0 && rh.waiters[w.id] == w {
		// The last tab is gone: the place's grace period starts now.
		delete(rh.waiters, w.id)
	}
	if len(rh.waiters) == 0 && h.rooms[rh.name] == rh {
		delete(h.rooms, rh.name)
	}
}

// send queues frames on a socket, dropping the socket when it is too
// slow; kind counts the first (a close after it is counted as one).
func (h *Hub) send(c *conn, kind string, fs ...frame) {
	schedule, ok := c.push(h.cfg.SendQueue, fs...)
	if !ok {
		h.dropped.WithLabelValues("slow").Inc()
		go func() { // never block the caller on a slow socket
			_ = c.writeWire(closeFrame(CloseSlow, "too slow; reconnect").wire, time.Second)
			c.kill()
		}()
		return
	}
	h.sent[kind].Inc()
	if len(fs) > 1 && fs[len(fs)-1].last {
		h.sent["close"].Inc()
	}
	if schedule {
		h.ready <- c
	}
}

// Run pushes positions until ctx ends, then closes every socket with the
// reconnect code and returns.
func (h *Hub) Run(ctx context.Context) error {
	var writers sync.WaitGroup
	stop := make(chan struct{})
	for range h.cfg.Writers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			h.writeLoop(stop)
		}()
	}
	tick := time.NewTicker(h.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			h.shutdown()
			close(stop)
			writers.Wait()
			h.waiting.Wait() // bounded by WriteWait, and shutdown closed their sockets
			return nil
		case <-tick.C:
			h.tick(ctx)
		}
	}
}

func (h *Hub) writeLoop(stop <-chan struct{}) {
	var scratch []byte
	for {
		select {
		case <-stop:
			return
		case c := <-h.ready:
			h.drain(c, &scratch, false)
		}
	}
}

// drain writes a scheduled socket's queued frames, each batch in one write,
// until none are left. A pool writer (patient false) never waits on a
// socket: one whose send buffer is full is handed to a goroutine of its own
// that waits for room (up to WriteWait) and drains it from there, so a slow
// client holds no pool writer. Between the part a full buffer took and the
// rest, the socket's write lock is let go: a close written meanwhile for a
// slow drop or at shutdown can land inside the frame, on a socket that ends
// right after.
func (h *Hub) drain(c *conn, scratch *[]byte, patient bool) {
	for {
		frames := c.take()
		if frames == nil {
			return
		}
		b, last := join(frames, scratch)
		rest, err := c.writeNow(b)
		if err == nil && len(rest) > 0 {
			if !patient {
				rest = slices.Clone(rest) // scratch stays with this writer
				h.waiting.Add(1)
				go func() {
					defer h.waiting.Done()
					if err := c.writeWait(rest, h.cfg.WriteWait); err != nil || last {
						h.end(c)
						return
					}
					var own []byte
					h.drain(c, &own, true)
				}()
				return
			}
			err = c.writeWait(rest, h.cfg.WriteWait)
		}
		if err != nil || last {
			h.end(c)
			return
		}
	}
}

// end closes a socket the writers are done with; its reader unregisters it.
func (h *Hub) end(c *conn) {
	c.kill()
	c.take() // drop the rest; stays scheduled-free
}

// shutdown refuses new sockets and closes every open one with the
// reconnect code, then waits (bounded) for their readers to finish.
func (h *Hub) shutdown() {
	h.mu.Lock()
	h.closing = true
	var all []*conn
	for _, rh := range h.rooms {
		for _, w := range rh.waiters {
			all = append(all, w.conns...)
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < len(all); i += 1000 {
		part := all[i:min(i+1000, len(all))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			bye := closeFrame(CloseReconnect, "reconnect").wire
			for _, c := range part {
				_ = c.writeWire(bye, time.Second)
				c.kill()
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { h.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.log.Warn("websocket readers still running after shutdown")
	}
}

// tick recomputes every local waiter's position and queues what changed.
func (h *Hub) tick(ctx context.Context) {
	start := time.Now()
	h.mu.Lock()
	rooms := make([]*roomHub, 0, len(h.rooms))
	for _, rh := range h.rooms {
		rooms = append(rooms, rh)
	}
	h.mu.Unlock()
	for _, rh := range rooms {
		h.tickRoom(ctx, rh)
	}
	h.storeLog.Pass()
	h.tickTime.Observe(time.Since(start).Seconds())
}

func (h *Hub) tickRoom(ctx context.Context, rh *roomHub) {
	now := h.cfg.Now()
	room, err := h.ctl.Room(ctx, rh.name)
	switch {
	case errors.Is(err, queue.ErrRoomNotFound):
		h.closeRoom(rh, "deleted")
		return
	case err != nil:
		return // the store is away; try next tick
	case room.Closed:
		reason := "closed"
		if room.ClosedReason != "" {
			reason = room.ClosedReason
		}
		h.closeRoom(rh, reason)
		return
	}
	if err := rh.tracker.Sync(ctx); err != nil {
		if ctx.Err() == nil {
			h.storeLog.Fail("position sync", err, "room", rh.name)
		}
		return
	}
	resets := rh.tracker.Resets()
	reshuffled := resets != rh.resets
	rh.resets = resets
	// The first scan that sees the pre-queue draw: every place is new, so
	// none is held back as a rise or by MaxRate.
	drawn := rh.tracker.Drawn()
	justDrawn := drawn && !rh.drawn
	rh.drawn = drawn

	// A change of tickets left goes to everyone, at most once per
	// ticketsEvery.
	tk := h.ticketsOf(rh.name)
	force := tk != rh.tickets && now.Sub(rh.ticketAt) >= ticketsEvery
	if force {
		rh.tickets, rh.ticketAt = tk, now
	}

	version := rh.tracker.Version()
	beat := now.Sub(rh.lastBeat) >= h.cfg.Heartbeat
	// Half a tick of slack: a tick that fires a little early still scans.
	if version == rh.version && now.Sub(rh.lastScan) < h.scanEvery-h.cfg.Tick/2 && !beat && !force {
		return // nothing moved, nothing due
	}
	rh.version, rh.lastScan = version, now

	status := admission.StatusWaiting
	if room.InPrequeue(now) || room.Mode == queue.ModeRandomPrequeue && !drawn {
		status = admission.StatusPrequeue
	}
	var gone []*waiter
	var ids []string
	h.mu.Lock()
	for _, w := range rh.waiters {
		if beat {
			ids = append(ids, w.id)
		}
		if reshuffled {
			w.score, _ = rh.tracker.Score(w.id)
		}
		if justDrawn {
			w.lastPos, w.lastMove = 0, time.Time{}
		}
		pos := rh.tracker.Position(w.score)
		if pos == 0 {
			if !w.checking {
				w.checking = true
				gone = append(gone, w)
			}
			continue
		}
		if pos > w.lastPos && w.lastPos > 0 && !reshuffled {
			// The tracker is a tick behind the exact position the socket
			// started with: hold; a position never rises.
			h.regressed.Inc()
			pos = w.lastPos
		}
		// Re-send an unchanged position after resendAfter, so the gap a fan
		// sees stays within MinUpdate; send a changed one at most once per
		// MaxRate.
		if !force && status == w.status && (pos == w.lastPos && now.Sub(w.lastSent) < h.resendAfter || pos != w.lastPos && now.Sub(w.lastMove) < h.cfg.MaxRate) {
			continue
		}
		if pos != w.lastPos {
			w.lastMove = now
		}
		w.lastPos, w.lastSent, w.status = pos, now, status
		f := positionFrame(status, pos, h.ctl.Estimate(room, pos, now), room.Paused, rh.tickets)
		for _, c := range w.conns {
			// A ping that is due rides in the same write as the position.
			if c.pingDue(now, h.cfg.PingEvery) {
				h.send(c, "position", f, pingFrame)
				h.sent["ping"].Inc()
			} else {
				h.send(c, "position", f)
			}
		}
	}
	h.mu.Unlock()
	if beat {
		rh.lastBeat = now
		for i := 0; i < len(ids); i += 1000 {
			if err := h.store.Heartbeat(ctx, rh.name, ids[i:min(i+1000, len(ids))]); err != nil {
				if ctx.Err() == nil {
					h.storeLog.Fail("heartbeat", err, "room", rh.name)
				}
			}
		}
	}
	h.resolve(ctx, rh, gone)
}

// resolve asks the store what became of waiters who left the line (here,
// concurrently, so the store pipelines the asks): admitted ones get their
// token, the others are told the place is gone.
func (h *Hub) resolve(ctx context.Context, rh *roomHub, gone []*waiter) {
	if len(gone) == 0 {
		return
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, w := range gone {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := h.ctl.Status(ctx, rh.name, w.token)
			h.mu.Lock()
			defer h.mu.Unlock()
			switch {
			case err == nil && t.Status == admission.StatusAdmitted:
				f, bye := textFrame(admittedFrame(t)), closeFrame(websocket.CloseNormalClosure, "admitted")
				for _, c := range w.conns {
					h.send(c, "admitted", f, bye)
				}
			case errors.Is(err, queue.ErrNotInLine):
				f, bye := textFrame(closedFrame("place_lost")), closeFrame(websocket.CloseNormalClosure, "place lost")
				for _, c := range w.conns {
					h.send(c, "closed", f, bye)
				}
			default: // still in line (the tracker was ahead of the store), or the store is away
				w.checking = false
			}
		}()
	}
	wg.Wait()
}

// closeRoom tells every local waiter of a room that it closed, once, with
// one frame encoded for all of them.
func (h *Hub) closeRoom(rh *roomHub, reason string) {
	f, bye := textFrame(closedFrame(reason)), closeFrame(websocket.CloseNormalClosure, reason)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range rh.waiters {
		for _, c := range w.conns {
			h.send(c, "closed", f, bye)
		}
	}
}

// pingDue reports whether the socket is due a ping, and if so counts it
// as sent now.
func (c *conn) pingDue(now time.Time, every time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastPing) < every {
		return false
	}
	c.lastPing = now
	return true
}

// positionFrame is a position message as a frame, in one allocation: it is
// built for every waiter on every change.
func positionFrame(status string, pos int64, eta admission.ETA, paused bool, tk tickets) frame {
	return framed(appendPosition(make([]byte, headroom, headroom+185), status, pos, eta, paused, tk))
}

// appendPosition encodes a position message by hand, with no reflection.
// "paused" is written only while the room is paused.
func appendPosition(b []byte, status string, pos int64, eta admission.ETA, paused bool, tk tickets) []byte {
	b = append(b, `{"type":"position","status":"`...)
	b = append(b, status...)
	b = append(b, `","position":`...)
	b = strconv.AppendInt(b, pos, 10)
	b = append(b, `,"ahead":`...)
	b = strconv.AppendInt(b, max(pos-1, 0), 10)
	b = append(b, `,"eta_seconds":`...)
	b = strconv.AppendInt(b, secs(eta.Expected), 10)
	b = append(b, `,"eta_low_seconds":`...)
	b = strconv.AppendInt(b, secs(eta.Low), 10)
	b = append(b, `,"eta_high_seconds":`...)
	b = strconv.AppendInt(b, secs(eta.High), 10)
	if paused {
		b = append(b, `,"paused":true`...)
	}
	if tk.ok {
		b = append(b, `,"tickets_available":`...)
		b = strconv.AppendInt(b, tk.available, 10)
		b = append(b, `,"tickets_held":`...)
		b = strconv.AppendInt(b, tk.held, 10)
	}
	return append(b, '}')
}

func secs(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64(d / time.Second)
}

func admittedFrame(t admission.Ticket) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"type":"admitted","admission_token":`...)
	b = strconv.AppendQuote(b, t.AdmissionToken)
	b = append(b, `,"expires_at":"`...)
	b = t.Admission.Expires.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","admitted_at_ms":`...)
	b = strconv.AppendInt(b, t.AdmittedAt.UnixMilli(), 10)
	return append(b, '}')
}

func closedFrame(reason string) []byte {
	return []byte(`{"type":"closed","reason":` + strconv.Quote(reason) + `}`)
}
