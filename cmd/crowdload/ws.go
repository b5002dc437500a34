package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	fansPerWorker  = 15000 // default share of a worker process
	fdBudget       = 18000 // a process may hold 20,000 files: stay clear of it
	maxPerPortPair = 25000 // of the ~28k ephemeral ports per (source, target) address pair
	killGrace      = 30 * time.Second
)

// workerFiles is what a worker with fans fans may hold open at once: one
// socket per fan, join connections in use and idle (each at most
// -opening), and a margin for pipes, the runtime and the admin client.
func workerFiles(fans, opening int) int { return fans + 2*opening + 64 }

// wsOptions are the parent's flags.
type wsOptions struct {
	targets    []string
	sources    []string
	room       string
	adminToken string
	fans       int
	rate       int
	ramp       float64
	duration   time.Duration
	hold       time.Duration
	settle     time.Duration
	workers    int
	idle       time.Duration
	opening    int
	json       bool
}

// wsCmd opens fans against a running Crowdgate, follows them to admission
// and reports. With -worker it is one worker process of such a run.
func wsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ws", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs of the gateway instances (loopback only); fans are spread round-robin")
	room := fs.String("room", "loadtest", "room to join")
	token := fs.String("admin-token", "", "admin bearer token: create/replace the room paused at -rate, unpause once every fan is connected")
	fans := fs.Int("fans", 1000, "waiting fans to open")
	rate := fs.Int("rate", 6000, "admit_per_minute to set (with -admin-token)")
	ramp := fs.Float64("ramp", 1000, "new fans per second while opening (all workers together)")
	duration := fs.Duration("duration", 10*time.Minute, "hard stop: the run ends when every fan is admitted or closed, or at this deadline")
	hold := fs.Duration("hold", 0, "keep the sockets open this long once connected, without admitting (the room stays paused), then stop")
	workers := fs.Int("workers", 0, "worker processes (default ceil(fans/15000))")
	sources := fs.String("sources", "8", "local addresses to bind, round-robin: a count N (127.0.0.2 … 127.0.0.N+1), a comma list of 127.x.y.z, or 0 to let the kernel choose")
	idle := fs.Duration("idle-timeout", 30*time.Second, "drop a connection the server leaves silent this long")
	opening := fs.Int("opening", 256, "fans joining or connecting at once, per worker")
	settle := fs.Duration("settle", 10*time.Second, "after every fan is connected, wait this long before the steady phase, whose gaps and messages are also reported on their own")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	worker := fs.String("worker", "", "internal: run as a worker process with this JSON config")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: crowdload ws [flags]")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "worker" {
				return
			}
			typ, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  -%s %s\n    \t%s", f.Name, typ, usage)
			if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" {
				fmt.Fprintf(stderr, " (default %s)", d)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *worker != "" {
		return workerMain(ctx, *worker, os.Stdin, stdout)
	}
	o := wsOptions{
		room: *room, adminToken: *token, fans: *fans, rate: *rate, ramp: *ramp,
		duration: *duration, hold: *hold, workers: *workers, idle: *idle, opening: *opening, json: *asJSON,
		settle: *settle,
	}
	var err error
	if o.targets, err = parseTargets(*targets); err != nil {
		return err
	}
	if o.sources, err = parseSources(*sources); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	return runParent(ctx, o, stdout, stderr)
}

func parseTargets(s string) ([]string, error) {
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimRight(strings.TrimSpace(t), "/")
		if t == "" {
			continue
		}
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("target %q: want http://host:port", t)
		}
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("target %q: crowdload only loads loopback addresses", t)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("no -targets")
	}
	return out, nil
}

// parseSources turns -sources into the addresses to bind; [""] means none.
func parseSources(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || s == "none" {
		return []string{""}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 250 {
			return nil, fmt.Errorf("-sources %d: want 0..250", n)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("127.0.0.%d", i+2)
		}
		return out, nil
	}
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		ip := net.ParseIP(a)
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("-sources: %q is not a 127.0.0.0/8 address", a)
		}
		out = append(out, ip.String())
	}
	return out, nil
}

// sourceDialers returns a dialer per source address ("" lets the kernel
// choose), binding it without taking a port up front (bindNoPort). No TCP
// keep-alive: the server's messages and pings show liveness, and it saves
// setsockopt calls per connection.
func sourceDialers(srcs []string) ([]*net.Dialer, error) {
	out := make([]*net.Dialer, len(srcs))
	for i, s := range srcs {
		nd := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
		if s != "" {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("bad source address %q", s)
			}
			nd.LocalAddr, nd.Control = &net.TCPAddr{IP: ip}, bindNoPort
		}
		out[i] = nd
	}
	return out, nil
}

func (o *wsOptions) validate() error {
	switch {
	case o.fans < 1 || o.fans > 2_000_000:
		return errors.New("-fans must be in 1..2000000")
	case o.ramp <= 0:
		return errors.New("-ramp must be positive")
	case o.duration <= 0 || o.duration > 24*time.Hour:
		return errors.New("-duration must be in (0, 24h]")
	case o.hold < 0 || o.hold >= o.duration:
		return errors.New("-hold must be shorter than -duration")
	case o.settle < 0:
		return errors.New("-settle must not be negative")
	case o.rate < 0:
		return errors.New("-rate must not be negative")
	case o.idle <= 0:
		return errors.New("-idle-timeout must be positive")
	case o.opening < 1 || o.opening > 1024:
		return errors.New("-opening must be in 1..1024")
	case o.room == "":
		return errors.New("-room is empty")
	}
	if o.workers == 0 {
		o.workers = (o.fans + fansPerWorker - 1) / fansPerWorker
	}
	if o.workers < 1 || o.workers > 256 || o.workers > o.fans {
		return errors.New("-workers must be in 1..min(256, fans)")
	}
	if per := (o.fans + o.workers - 1) / o.workers; workerFiles(per, o.opening) > fdBudget {
		most := fdBudget - workerFiles(0, o.opening)
		return fmt.Errorf("%d fans per worker with -opening %d is over %d open files a process; use -workers %d or more",
			per, o.opening, fdBudget, (o.fans+most-1)/most)
	}
	pairs := len(o.sources) * len(o.targets)
	if per := (o.fans + pairs - 1) / pairs; per > maxPerPortPair {
		return fmt.Errorf("%d connections per (source, target) pair, over the ~%d ephemeral ports each: add -sources or -targets",
			per, maxPerPortPair)
	}
	return nil
}

// plan splits the fans into the workers' configs: contiguous shares of the
// global fan index, so targets and sources stay evenly used overall.
func (o *wsOptions) plan(deadline time.Time) []workerConfig {
	cfgs := make([]workerConfig, o.workers)
	first := 0
	for k := range cfgs {
		n := o.fans / o.workers
		if k < o.fans%o.workers {
			n++
		}
		cfgs[k] = workerConfig{
			First: first, Fans: n, Targets: o.targets, Sources: o.sources, Room: o.room,
			Ramp: o.ramp / float64(o.workers), DeadlineMs: deadline.UnixMilli(),
			IdleMs: o.idle.Milliseconds(), Opening: o.opening,
		}
		first += n
	}
	return cfgs
}

// workerMain is a worker process: config from the flag, events as JSON
// lines on stdout, and stdin closing (the parent's stop, or its death)
// ends the run.
func workerMain(ctx context.Context, cfgJSON string, stdin io.Reader, stdout io.Writer) error {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	w, err := newWorker(cfg)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		// The parent writes "steady" when the steady phase starts, and
		// closes stdin to stop the run.
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if sc.Text() == steadyLine {
				w.markSteady(time.Now())
			}
		}
		close(stop)
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(e workerEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
	r := w.run(ctx, stop, emit)
	emit(workerEvent{Report: &r})
	return nil
}

// fromWorker is an event from worker id; exited marks its end.
type fromWorker struct {
	id     int
	ev     workerEvent
	exited bool
	err    error
}

// steadyLine, on a worker's stdin, starts its steady phase.
const steadyLine = "steady"

// workerHandle starts a worker's steady phase, stops it (it then reports)
// or kills it.
type workerHandle struct {
	steady func()
	stop   func()
	kill   func()
}

// startInProcess runs a worker on goroutines of this process.
func startInProcess(ctx context.Context, id int, cfg workerConfig, events chan<- fromWorker) (*workerHandle, error) {
	w, err := newWorker(cfg)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		r := w.run(ctx, stop, func(e workerEvent) { events <- fromWorker{id: id, ev: e} })
		events <- fromWorker{id: id, ev: workerEvent{Report: &r}}
		events <- fromWorker{id: id, exited: true}
	}()
	return &workerHandle{
		steady: func() { w.markSteady(time.Now()) },
		stop:   func() { once.Do(func() { close(stop) }) },
		kill:   func() {},
	}, nil
}

// startProcess re-executes this binary as a worker process.
func startProcess(exe string, id int, cfg workerConfig, events chan<- fromWorker, stderr io.Writer) (*workerHandle, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "ws", "-worker", string(b))
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		br := bufio.NewReader(out)
		var bad error
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				var e workerEvent
				if jerr := json.Unmarshal(line, &e); jerr != nil {
					bad = fmt.Errorf("unreadable output: %w", jerr)
				} else {
					events <- fromWorker{id: id, ev: e}
				}
			}
			if err != nil {
				break
			}
		}
		err := cmd.Wait()
		events <- fromWorker{id: id, exited: true, err: errors.Join(bad, err)}
	}()
	var once sync.Once
	return &workerHandle{
		steady: func() { _, _ = io.WriteString(in, steadyLine+"\n") },
		stop:   func() { once.Do(func() { _ = in.Close() }) },
		kill:   func() { _ = cmd.Process.Kill() },
	}, nil
}

// syncWriter lets workers' stderr and the parent's progress share a writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// runParent sets up the room, runs the workers, unpauses the room once every
// fan is connected (or holds), and merges and prints the reports.
func runParent(ctx context.Context, o wsOptions, stdout, stderr io.Writer) error {
	errOut := &syncWriter{w: stderr}
	logf := func(format string, a ...any) { fmt.Fprintf(errOut, "crowdload: "+format+"\n", a...) }
	admin := &client{http: &http.Client{Timeout: 10 * time.Second}, token: o.adminToken}
	roomURL := o.targets[0] + "/admin/v1/rooms/" + url.PathEscape(o.room)
	if o.adminToken != "" {
		body := fmt.Sprintf(`{"admit_per_minute": %d, "paused": true}`, o.rate)
		if err := admin.do(ctx, http.MethodPut, roomURL, body, true, nil); err != nil {
			return fmt.Errorf("create room: %w", err)
		}
		if o.hold == 0 && o.rate > 0 {
			if need := time.Duration(float64(o.fans) / float64(o.rate) * float64(time.Minute)); need > o.duration {
				logf("warning: admitting %d fans at %d/min takes %s, longer than -duration %s", o.fans, o.rate, need.Round(time.Second), o.duration)
			}
		}
	}

	start := time.Now()
	deadline := start.Add(o.duration)
	cfgs := o.plan(deadline)
	events := make(chan fromWorker, 16*len(cfgs))
	handles := make([]*workerHandle, 0, len(cfgs))
	stopAll := func() {
		for _, h := range handles {
			h.stop()
		}
	}
	var exe string
	if len(cfgs) > 1 {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	for id, cfg := range cfgs {
		var h *workerHandle
		var err error
		if exe == "" {
			h, err = startInProcess(ctx, id, cfg, events)
		} else {
			h, err = startProcess(exe, id, cfg, events, errOut)
		}
		if err != nil {
			stopAll()
			// Drain what the started ones say until they are gone.
			for exited := 0; exited < len(handles); {
				if e := <-events; e.exited {
					exited++
				}
			}
			return fmt.Errorf("start worker %d: %w", id, err)
		}
		handles = append(handles, h)
	}
	logf("%d fans, %d worker(s), %d target(s), %d source address(es), ramp %.0f/s",
		o.fans, len(cfgs), len(o.targets), len(o.sources), o.ramp)

	var (
		reports        = make([]*Report, len(cfgs))
		latest         = make([]progress, len(cfgs))
		ready          = make([]bool, len(cfgs))
		readyN, exited int
		stopping       bool
		stopReason     string
		unpausedMs     int64
		runErrs        []string
		holdC, killC   <-chan time.Time
		steadyC        <-chan time.Time
		steadyMs       int64
		ctxDone        = ctx.Done()
		tick           = time.NewTicker(5 * time.Second)
		killT          = time.NewTimer(time.Until(deadline) + killGrace)
	)
	defer tick.Stop()
	defer killT.Stop()
	killC = killT.C
	sum := func() progress {
		var s progress
		for _, p := range latest {
			s.Open += p.Open
			s.Connected += p.Connected
			s.Admitted += p.Admitted
			s.Closed += p.Closed
			s.Failed += p.Failed
		}
		return s
	}
	stop := func(reason string) {
		if !stopping {
			stopping, stopReason = true, reason
			stopAll()
		}
	}
	allReady := func() {
		s := sum()
		logf("%s: %d of %d fans connected (%d open, %d failed)", time.Since(start).Round(time.Millisecond), s.Connected, o.fans, s.Open, s.Failed)
		if !stopping {
			steadyC = time.After(o.settle)
		}
		switch {
		case stopping:
		case o.hold > 0:
			logf("holding %s", o.hold)
			holdC = time.After(o.hold)
		case o.adminToken != "":
			if err := admin.do(ctx, http.MethodPatch, roomURL, `{"paused": false}`, true, nil); err != nil {
				runErrs = append(runErrs, "unpause room: "+err.Error())
				stop("stopped")
				return
			}
			unpausedMs = time.Now().UnixMilli()
			logf("room unpaused")
		}
	}
	for exited < len(cfgs) {
		select {
		case e := <-events:
			switch {
			case e.exited:
				exited++
				if e.err != nil {
					runErrs = append(runErrs, fmt.Sprintf("worker %d: %v", e.id, e.err))
				}
				if reports[e.id] == nil {
					runErrs = append(runErrs, fmt.Sprintf("worker %d: exited without a report", e.id))
				}
				if !ready[e.id] {
					ready[e.id] = true
					if readyN++; readyN == len(cfgs) {
						allReady()
					}
				}
			case e.ev.Report != nil:
				reports[e.id] = e.ev.Report
			case e.ev.Ready != nil:
				latest[e.id] = *e.ev.Ready
				if !ready[e.id] {
					ready[e.id] = true
					if readyN++; readyN == len(cfgs) {
						allReady()
					}
				}
			case e.ev.Progress != nil:
				latest[e.id] = *e.ev.Progress
			}
		case <-ctxDone:
			ctxDone = nil
			stop("interrupted")
		case <-steadyC:
			steadyC = nil
			if !stopping {
				steadyMs = time.Now().UnixMilli()
				logf("steady phase from now (settled %s)", o.settle)
				for _, h := range handles {
					h.steady()
				}
			}
		case <-holdC:
			holdC = nil
			stop("hold")
		case <-tick.C:
			s := sum()
			logf("%s: open %d  connected %d  admitted %d  closed %d  failed %d",
				time.Since(start).Round(time.Second), s.Open, s.Connected, s.Admitted, s.Closed, s.Failed)
		case <-killC:
			killC = nil
			runErrs = append(runErrs, "workers still running past the deadline were killed")
			for _, h := range handles {
				h.kill()
			}
		}
	}

	r := newReport()
	reasons := map[string]bool{}
	for _, w := range reports {
		if w != nil {
			r.Merge(w)
			reasons[w.StopReason] = true
		}
	}
	r.StopReason = stopReason
	if r.StopReason == "" {
		for _, k := range []string{"interrupted", "deadline", "stopped", "finished"} {
			if reasons[k] {
				r.StopReason = k
				break
			}
		}
	}
	r.UnpausedMs = unpausedMs
	r.SteadyMs = steadyMs
	r.Errors = append(r.Errors, runErrs...)
	if r.StartedMs == 0 {
		r.StartedMs, r.EndedMs = start.UnixMilli(), time.Now().UnixMilli()
	}
	r.finish()
	if o.adminToken != "" {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		var room struct {
			Stats json.RawMessage `json:"stats"`
		}
		if err := admin.do(sctx, http.MethodGet, roomURL, "", true, &room); err != nil {
			r.Errors = append(r.Errors, "room stats: "+err.Error())
		} else {
			r.ServerStats = room.Stats
		}
		cancel()
	}

	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&r); err != nil {
			return err
		}
	} else {
		r.writeSummary(stdout)
	}
	switch {
	case len(runErrs) > 0:
		return fmt.Errorf("the run had %d error(s); see the report", len(runErrs))
	case r.Joined == 0 && r.FansRequested > r.NotStarted:
		return errors.New("no fan could join; see the report")
	}
	return nil
}
