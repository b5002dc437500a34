package main

// This file is the fan side of `crowdload ws`: one worker's share of the
// waiting fans, each joining, following its place over a WebSocket and
// being admitted. crowdload is a client, so it imports gorilla/websocket
// itself; STYLE's "only ws/ imports gorilla" is about the server.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	maxMessage     = 64 << 10 // read limit per server message
	initialTries   = 3        // WebSocket dials before a new fan counts as connect_failed (4xx: one)
	reconnectTries = 20       // failed dials after a 1012 before the fan counts as dropped (~70 s)
	joinTries      = 4        // joins answered 429/503 are retried this often in all
	progressEvery  = 2 * time.Second
)

var (
	errDeadline = errors.New("deadline")
	errStopped  = errors.New("stopped")
	errNoToken  = errors.New("join answered without a queue_token")
	errGaveUp   = errors.New("gave up reconnecting")
)

// workerConfig is one worker's share of a run. The parent passes it to a
// worker process as JSON in the hidden -worker flag.
type workerConfig struct {
	First      int      `json:"first"` // global index of the first fan, which picks its target and source
	Fans       int      `json:"fans"`
	Targets    []string `json:"targets"` // base URLs
	Sources    []string `json:"sources"` // local IPs to bind, round-robin; [""] lets the kernel choose
	Room       string   `json:"room"`
	Ramp       float64  `json:"ramp"` // this worker's new fans per second
	DeadlineMs int64    `json:"deadline_unix_ms"`
	IdleMs     int64    `json:"idle_ms"` // a connection silent this long is dropped
	Opening    int      `json:"opening"` // fans joining or dialing at once
}

// workerEvent is one line a worker writes to the parent: ready once every
// fan has joined and connected (or failed to), progress now and then, and
// the report last.
type workerEvent struct {
	Ready    *progress `json:"ready,omitempty"`
	Progress *progress `json:"progress,omitempty"`
	Report   *Report   `json:"report,omitempty"`
}

type progress struct {
	Open      int64 `json:"open"`
	Connected int64 `json:"connected"`
	Admitted  int64 `json:"admitted"`
	Closed    int64 `json:"closed"`
	Failed    int64 `json:"failed"`
}

// msgKind is a server message's type, decoded without allocating.
type msgKind uint8

const (
	kindOther msgKind = iota
	kindPosition
	kindAdmitted
	kindClosed
	kindInvalid
	kindBinary
	numKinds
)

var kindNames = [numKinds]string{"other", "position", "admitted", "closed", "invalid", "binary"}

func (k *msgKind) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"position"`:
		*k = kindPosition
	case `"admitted"`:
		*k = kindAdmitted
	case `"closed"`:
		*k = kindClosed
	default:
		*k = kindOther
	}
	return nil
}

// waitStatus is a position message's status, decoded without allocating.
type waitStatus uint8

const (
	statusNone waitStatus = iota
	statusWaiting
	statusPrequeue
	statusOther
)

func (s *waitStatus) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"waiting"`:
		*s = statusWaiting
	case `"prequeue"`:
		*s = statusPrequeue
	case `null`:
		*s = statusNone
	default:
		*s = statusOther
	}
	return nil
}

// wsMsg holds the fields crowdload reads from any server message; the
// others are skipped by the decoder.
type wsMsg struct {
	Type         msgKind    `json:"type"`
	Status       waitStatus `json:"status"`
	Position     int64      `json:"position"`
	AdmittedAtMs int64      `json:"admitted_at_ms"`
	Reason       string     `json:"reason"`
}

type joinResp struct {
	Status     string `json:"status"`
	Position   int64  `json:"position"`
	QueueID    string `json:"queue_id"`
	QueueToken string `json:"queue_token"`
}

// outcome is how a fan ended.
type outcome uint8

const (
	outAdmitted outcome = iota
	outAdmittedAtJoin
	outClosed
	outJoinFailed
	outConnectFailed
	outDropped
	outUnfinished
	numOutcomes
)

// statusError is an HTTP answer other than the one expected.
type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// fanState is what a fan remembers across its connections.
type fanState struct {
	id     string
	token  string // query-escaped
	target int
	src    int
	last   int64 // last position seen while waiting
	status waitStatus
	maxGap time.Duration
	gapped bool // two positions seen on one connection
	// The same, over gaps that started in the steady phase.
	maxSteadyGap time.Duration
	steadyGapped bool
}

// worker runs one share of the fans. Counters are atomics, so fan
// goroutines record without locks; the mutex is taken only on errors,
// closes and position increases.
type worker struct {
	cfg      workerConfig
	idle     time.Duration
	joinURLs []string // per target
	wsURLs   []string // per target, ending in "queue_token="
	clients  []*http.Client
	trans    []*http.Transport
	dialers  []*websocket.Dialer // per source
	bufs     sync.Pool

	open, peak, joined, connected, joinRetries       atomic.Int64
	restartCloses, reconnects, gapsOver, noTimestamp atomic.Int64
	firstAdmitted, lastAdmitted                      atomic.Int64
	steadySince, steadyGapsOver, steadyMsgs          atomic.Int64 // steadySince: unix ns, 0 before
	outcomes                                         [numOutcomes]atomic.Int64
	msgs                                             [numKinds]atomic.Int64
	lat, gap, steadyGap                              *liveHist
	mu                                               sync.Mutex
	increases                                        int64
	examples                                         []Increase
	joinErrs, connErrs, dropErrs, closedReasons      map[string]int64
	samples                                          map[string]string
}

func newWorker(cfg workerConfig) (*worker, error) {
	if cfg.Fans < 0 || len(cfg.Targets) == 0 || len(cfg.Sources) == 0 || cfg.Opening < 1 || cfg.IdleMs <= 0 || cfg.DeadlineMs == 0 {
		return nil, fmt.Errorf("bad worker config %+v", cfg)
	}
	w := &worker{
		cfg: cfg, idle: time.Duration(cfg.IdleMs) * time.Millisecond,
		lat: newLiveHist(), gap: newLiveHist(), steadyGap: newLiveHist(),
		joinErrs: map[string]int64{}, connErrs: map[string]int64{}, dropErrs: map[string]int64{},
		closedReasons: map[string]int64{}, samples: map[string]string{},
	}
	w.bufs.New = func() any { return new(bytes.Buffer) }
	room := url.PathEscape(cfg.Room)
	for _, t := range cfg.Targets {
		u, err := url.Parse(strings.TrimRight(t, "/"))
		if err != nil {
			return nil, err
		}
		w.joinURLs = append(w.joinURLs, u.String()+"/api/v1/rooms/"+room+"/join")
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		w.wsURLs = append(w.wsURLs, u.String()+"/ws/v1/rooms/"+room+"?queue_token=")
	}
	// The client never writes a data frame, so a shared pool means no
	// connection holds a write buffer.
	writePool := &sync.Pool{}
	dialers, err := sourceDialers(cfg.Sources)
	if err != nil {
		return nil, err
	}
	for _, nd := range dialers {
		// Joins in flight are at most cfg.Opening, spread over every
		// (source, target) pair: keep about as many idle in all.
		idle := max(2, cfg.Opening/(len(cfg.Sources)*len(cfg.Targets)))
		tr := &http.Transport{
			DialContext: nd.DialContext, MaxIdleConnsPerHost: idle,
			IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 10 * time.Second, DisableCompression: true,
		}
		w.trans = append(w.trans, tr)
		w.clients = append(w.clients, &http.Client{Transport: tr, Timeout: 15 * time.Second})
		w.dialers = append(w.dialers, &websocket.Dialer{
			NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
			ReadBufferSize: 512, WriteBufferSize: 256, WriteBufferPool: writePool,
		})
	}
	return w, nil
}

// markSteady starts the steady phase: the gaps that start from t on, and
// the messages that arrive, are also counted on their own.
func (w *worker) markSteady(t time.Time) {
	w.steadySince.CompareAndSwap(0, t.UnixNano())
}

// run opens the fans at the configured pace, emits ready when each has
// joined and connected or failed, and returns when every fan has finished,
// at the deadline, or when stop is closed, whichever comes first.
func (w *worker) run(ctx context.Context, stop <-chan struct{}, emit func(workerEvent)) Report {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelDeadline := context.WithDeadlineCause(ctx, time.UnixMilli(w.cfg.DeadlineMs), errDeadline)
	defer cancelDeadline()
	go func() {
		select {
		case <-stop:
			cancel(errStopped)
		case <-ctx.Done():
		}
	}()

	progStop, progDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(progDone)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p := w.progress()
				emit(workerEvent{Progress: &p})
			case <-progStop:
				return
			}
		}
	}()

	// opening counts fans joining or dialing their first WebSocket; fans
	// counts the connections being followed after that.
	var fans, opening sync.WaitGroup
	launched := w.ramp(ctx, &fans, &opening)
	opening.Wait()
	for _, t := range w.trans {
		t.CloseIdleConnections() // joins are over: give the file descriptors back
	}
	p := w.progress()
	emit(workerEvent{Ready: &p})
	fans.Wait()
	close(progStop)
	<-progDone

	reason := "finished"
	if ctx.Err() != nil && (launched < w.cfg.Fans || w.outcomes[outUnfinished].Load() > 0) {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errDeadline), errors.Is(cause, errStopped):
			reason = cause.Error()
		default:
			reason = "interrupted"
		}
	}
	return w.report(start, launched, reason)
}

// ramp starts the fans at cfg.Ramp per second, with at most cfg.Opening
// joining or dialing at once, and returns how many it started.
func (w *worker) ramp(ctx context.Context, fans, opening *sync.WaitGroup) int {
	sem := make(chan struct{}, w.cfg.Opening)
	start := time.Now()
	for k := range w.cfg.Fans {
		if w.cfg.Ramp > 0 {
			due := start.Add(time.Duration(float64(k) * float64(time.Second) / w.cfg.Ramp))
			if !sleepCtx(ctx, time.Until(due)) {
				return k
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return k
		}
		opening.Add(1)
		go func(i int) {
			defer opening.Done()
			defer func() { <-sem }()
			if out, handed := w.fan(ctx, i, fans); !handed {
				w.outcomes[out].Add(1)
			}
		}(w.cfg.First + k)
	}
	return w.cfg.Fans
}

// fan joins and opens the fan's first WebSocket, then hands the
// connection to a fresh goroutine that follows it to admission, and
// returns (handed true). The join and handshake grow this goroutine's
// stack; the long-lived reader starts small instead of keeping that
// stack for the whole wait.
func (w *worker) fan(ctx context.Context, i int, fans *sync.WaitGroup) (out outcome, handed bool) {
	nt := len(w.wsURLs)
	f := &fanState{target: i % nt, src: (i / nt) % len(w.dialers)} // every (source, target) pair equally
	j, err := w.join(ctx, f.target, f.src)
	if err != nil {
		if stopping(ctx) {
			return outUnfinished, false
		}
		w.countErr("join", err)
		return outJoinFailed, false
	}
	w.joined.Add(1)
	switch j.Status {
	case "admitted":
		return outAdmittedAtJoin, false
	case "closed":
		w.closed("(at join)")
		return outClosed, false
	}
	f.id, f.token = j.QueueID, url.QueryEscape(j.QueueToken)
	if f.id == "" {
		f.id = "fan-" + strconv.Itoa(i)
	}
	if j.Status == "waiting" && j.Position > 0 {
		f.last, f.status = j.Position, statusWaiting
	}
	c, out := w.connect(ctx, f, initialTries, false)
	if c == nil {
		return out, false
	}
	w.connected.Add(1)
	fans.Add(1)
	go func() {
		defer fans.Done()
		w.outcomes[w.wait(ctx, c, f)].Add(1)
	}()
	return 0, true
}

// wait follows a fan's connection, and its reconnections after 1012, until
// the fan is admitted, closed, dropped, or the run stops.
func (w *worker) wait(ctx context.Context, c *websocket.Conn, f *fanState) outcome {
	defer func() {
		if f.gapped {
			w.gap.add(f.maxGap.Milliseconds())
		}
		if f.steadyGapped {
			w.steadyGap.add(f.maxSteadyGap.Milliseconds())
		}
	}()
	for {
		out, again := w.follow(ctx, c, f)
		if !again {
			return out
		}
		w.restartCloses.Add(1)
		if !sleepCtx(ctx, backoff(1)) {
			return outUnfinished
		}
		if c, out = w.connect(ctx, f, reconnectTries, true); c == nil {
			return out
		}
		w.reconnects.Add(1)
	}
}

// connect dials the fan's WebSocket, up to limit times, and counts it open.
// A 4xx answer (other than 429) is final: the token will not get better.
// Reconnections move on to the next target after a failure: the restarted
// instance may stay down.
func (w *worker) connect(ctx context.Context, f *fanState, limit int, reconnecting bool) (*websocket.Conn, outcome) {
	for tries := 0; ; {
		c, err := w.dial(ctx, f.target, f.src, f.token)
		if err == nil {
			n := w.open.Add(1)
			for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
			}
			return c, 0
		}
		if stopping(ctx) {
			return nil, outUnfinished
		}
		w.countErr("connect", err)
		var se *statusError
		refused := errors.As(err, &se) && se.code >= 400 && se.code < 500 && se.code != http.StatusTooManyRequests
		if tries++; tries >= limit || refused {
			if reconnecting {
				w.countErr("drop", errGaveUp)
				return nil, outDropped
			}
			return nil, outConnectFailed
		}
		if reconnecting {
			f.target = (f.target + 1) % len(w.wsURLs)
		}
		if !sleepCtx(ctx, backoff(tries)) {
			return nil, outUnfinished
		}
	}
}

// backoff is the wait before reconnect attempt n: exponential from 250 ms
// to 5 s, jittered over its upper half so a restart's reconnects spread.
func backoff(n int) time.Duration {
	d := min(500*time.Millisecond<<min(n-1, 4), 5*time.Second)
	return d/2 + rand.N(d/2)
}

func (w *worker) join(ctx context.Context, target, src int) (joinResp, error) {
	for try := 1; ; try++ {
		var j joinResp
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.joinURLs[target], nil)
		if err != nil {
			return j, err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := w.clients[src].Do(req)
		if err != nil {
			return j, err
		}
		if res.StatusCode == http.StatusOK {
			err = json.NewDecoder(io.LimitReader(res.Body, maxMessage)).Decode(&j)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxMessage)) // keep the connection reusable
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusOK:
			if err == nil && j.QueueToken == "" && j.Status != "admitted" && j.Status != "closed" {
				err = errNoToken
			}
			return j, err
		case (res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable) && try < joinTries:
			w.joinRetries.Add(1)
			if !sleepCtx(ctx, retryAfter(res.Header.Get("Retry-After"))) {
				return j, ctx.Err()
			}
		default:
			return j, &statusError{res.StatusCode}
		}
	}
}

// retryAfter honours Retry-After seconds, capped at 5 s, plus up to 1 s of
// jitter so retries do not arrive together.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(h)
	if err != nil || s < 1 {
		s = 1
	}
	return time.Duration(min(s, 5))*time.Second + rand.N(time.Second)
}

func (w *worker) dial(ctx context.Context, target, src int, token string) (*websocket.Conn, error) {
	c, res, err := w.dialers[src].DialContext(ctx, w.wsURLs[target]+token, nil)
	if err != nil {
		if res != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, &statusError{res.StatusCode}
		}
		return nil, err
	}
	return c, nil
}

// follow reads one connection until the fan is admitted or closed, the
// connection is lost, or ctx ends. again reports a 1012 close: reconnect.
// The caller has counted c open; follow counts it closed.
func (w *worker) follow(ctx context.Context, c *websocket.Conn, f *fanState) (out outcome, again bool) {
	defer w.open.Add(-1)
	defer c.Close()
	// Unblocks the read below when the run stops, without a goroutine per
	// connection waiting for it.
	stop := context.AfterFunc(ctx, func() { closeNormally(c) })
	defer stop()
	c.SetReadLimit(maxMessage)

	var lastPos time.Time // gaps are measured within one connection
	for {
		_ = c.SetReadDeadline(time.Now().Add(w.idle))
		mt, r, err := c.NextReader()
		if err != nil {
			return w.lost(ctx, err)
		}
		if mt != websocket.TextMessage {
			w.msgs[kindBinary].Add(1)
			continue
		}
		buf := w.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		var m wsMsg
		if _, err = buf.ReadFrom(r); err == nil && json.Unmarshal(buf.Bytes(), &m) != nil {
			m.Type = kindInvalid
		}
		w.bufs.Put(buf)
		if err != nil {
			return w.lost(ctx, err)
		}
		now := time.Now()
		w.msgs[m.Type].Add(1)
		steady := w.steadySince.Load()
		if steady != 0 {
			w.steadyMsgs.Add(1)
		}
		switch m.Type {
		case kindPosition:
			if !lastPos.IsZero() {
				g := now.Sub(lastPos)
				if g > gapPromise {
					w.gapsOver.Add(1)
				}
				f.maxGap, f.gapped = max(f.maxGap, g), true
				if steady != 0 && lastPos.UnixNano() >= steady {
					if g > gapPromise {
						w.steadyGapsOver.Add(1)
					}
					f.maxSteadyGap, f.steadyGapped = max(f.maxSteadyGap, g), true
				}
			}
			lastPos = now
			st := m.Status
			if st == statusNone {
				st = statusWaiting // the contract's minimal position message has no status
			}
			if st == statusWaiting && f.status == statusWaiting && m.Position > f.last {
				w.increase(f.id, f.last, m.Position)
			}
			f.last, f.status = m.Position, st
		case kindAdmitted:
			w.admitted(now, m.AdmittedAtMs)
			closeNormally(c)
			return outAdmitted, false
		case kindClosed:
			w.closed(m.Reason)
			closeNormally(c)
			return outClosed, false
		}
	}
}

func closeNormally(c *websocket.Conn) {
	_ = c.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.Close()
}

// lost sorts a read error: the run stopping, a restart (reconnect), or a drop.
func (w *worker) lost(ctx context.Context, err error) (outcome, bool) {
	if stopping(ctx) {
		return outUnfinished, false
	}
	if websocket.IsCloseError(err, websocket.CloseServiceRestart) {
		return 0, true
	}
	w.countErr("drop", err)
	return outDropped, false
}

func (w *worker) admitted(now time.Time, atMs int64) {
	ms := now.UnixMilli()
	if atMs > 0 {
		w.lat.add(ms - atMs) // a negative value (clock skew) counts as 0
	} else {
		w.noTimestamp.Add(1)
	}
	for p := w.firstAdmitted.Load(); (p == 0 || ms < p) && !w.firstAdmitted.CompareAndSwap(p, ms); p = w.firstAdmitted.Load() {
	}
	for p := w.lastAdmitted.Load(); ms > p && !w.lastAdmitted.CompareAndSwap(p, ms); p = w.lastAdmitted.Load() {
	}
}

func (w *worker) increase(id string, from, to int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.increases++
	if len(w.examples) < maxExamples {
		w.examples = append(w.examples, Increase{QueueID: id, From: from, To: to})
	}
}

func (w *worker) closed(reason string) {
	if len(reason) > 64 {
		reason = reason[:64]
	}
	w.mu.Lock()
	w.closedReasons[reason]++
	w.mu.Unlock()
}

func (w *worker) countErr(phase string, err error) {
	k := errKind(err)
	w.mu.Lock()
	defer w.mu.Unlock()
	map[string]map[string]int64{"join": w.joinErrs, "connect": w.connErrs, "drop": w.dropErrs}[phase][k]++
	if key := phase + "/" + k; w.samples[key] == "" {
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200]
		}
		w.samples[key] = msg
	}
}

// errKind names an error for the report's counts.
func errKind(err error) string {
	var (
		se *statusError
		ce *websocket.CloseError
		ne net.Error
		je *json.SyntaxError
	)
	switch {
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.code)
	case errors.As(err, &ce):
		return "close_" + strconv.Itoa(ce.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_files"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, websocket.ErrReadLimit):
		return "too_large"
	case errors.Is(err, errNoToken):
		return "no_token"
	case errors.Is(err, errGaveUp):
		return "gave_up"
	case errors.As(err, &je):
		return "bad_json"
	}
	return "other"
}

func (w *worker) progress() progress {
	o := func(k outcome) int64 { return w.outcomes[k].Load() }
	return progress{
		Open: w.open.Load(), Connected: w.connected.Load(),
		Admitted: o(outAdmitted) + o(outAdmittedAtJoin), Closed: o(outClosed),
		Failed: o(outJoinFailed) + o(outConnectFailed) + o(outDropped),
	}
}

// report snapshots the counters once every fan goroutine has returned.
func (w *worker) report(start time.Time, launched int, reason string) Report {
	o := func(k outcome) int64 { return w.outcomes[k].Load() }
	r := newReport()
	r.Workers = 1
	r.FansRequested = int64(w.cfg.Fans)
	r.Joined = w.joined.Load()
	r.Connected = w.connected.Load()
	r.PeakConnections = w.peak.Load()
	r.Admitted, r.AdmittedAtJoin, r.Closed = o(outAdmitted), o(outAdmittedAtJoin), o(outClosed)
	r.JoinFailed, r.ConnectFailed, r.Dropped = o(outJoinFailed), o(outConnectFailed), o(outDropped)
	r.Unfinished = o(outUnfinished)
	r.NotStarted = int64(w.cfg.Fans - launched)
	r.JoinRetries = w.joinRetries.Load()
	r.RestartCloses = w.restartCloses.Load()
	r.Reconnects = w.reconnects.Load()
	r.PositionGapsOver5s = w.gapsOver.Load()
	r.SteadyGapsOver5s = w.steadyGapsOver.Load()
	r.SteadyMessages = w.steadyMsgs.Load()
	r.AdmittedNoTimestamp = w.noTimestamp.Load()
	for k := range numKinds {
		r.Messages[kindNames[k]] = w.msgs[k].Load()
	}
	w.mu.Lock()
	r.PositionIncreases = w.increases
	r.PositionIncreaseExamples = append(r.PositionIncreaseExamples, w.examples...)
	for _, m := range []struct{ dst, src map[string]int64 }{
		{r.JoinErrors, w.joinErrs}, {r.ConnectErrors, w.connErrs}, {r.DropErrors, w.dropErrs}, {r.ClosedReasons, w.closedReasons},
	} {
		for k, v := range m.src {
			m.dst[k] = v
		}
	}
	if len(w.samples) > 0 {
		r.ErrorSamples = map[string]string{}
		for k, v := range w.samples {
			r.ErrorSamples[k] = v
		}
	}
	w.mu.Unlock()
	r.MaxPositionGap = w.gap.snapshot()
	r.MaxSteadyGap = w.steadyGap.snapshot()
	r.AdmissionLatency = w.lat.snapshot()
	r.StartedMs = start.UnixMilli()
	r.EndedMs = time.Now().UnixMilli()
	r.FirstAdmittedMs = w.firstAdmitted.Load()
	r.LastAdmittedMs = w.lastAdmitted.Load()
	r.StopReason = reason
	r.finish()
	return r
}

// stopping tells whether an error is the run stopping rather than the
// server's doing. At the deadline a connection's own deadline (set from
// ctx) can fire just before ctx is marked done: that is the run too.
func stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// sleepCtx waits d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
