package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/crowdgate/crowdgate/queue"
)

// Channel delivers notifications one way (email, webhook, log).
// Implementations are safe for concurrent use: a Notifier delivers several
// messages at once, in no particular order, and a message may (rarely)
// reach a channel twice, so each carries its id for de-duplication.
type Channel interface {
	// Name identifies the channel in delivery marks, metrics and logs. It
	// must be stable across restarts (a renamed channel delivers again) and
	// unique among a Notifier's channels.
	Name() string
	// Deliver sends n once. It returns nil when n has no address for this
	// channel: there is nothing to do, and that is not a failure. An error
	// wrapping *PermanentError means retrying cannot help; any other error
	// is retried later. Deliver must respect ctx's deadline. A nil error
	// must mean the receiver has the message: it is never sent again.
	Deliver(ctx context.Context, n Message) error
}

// PermanentError is a delivery failure that retrying cannot fix (a
// malformed address, a receiver that rejects the message for good): the
// channel gives up on the message at once instead of after MaxAttempts.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err in a *PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Config tunes a Notifier. Only Channels is required.
type Config struct {
	// Channels are tried in order for every message. Each is delivered
	// at most once per message unless it fails (see Channel).
	Channels []Channel
	// Sources list the streams to deliver beside those written with
	// Outbox.Append, which every Notifier finds by itself.
	Sources []Source
	// SourcesOnly delivers the streams of Sources alone, not those written
	// with Outbox.Append: for a Notifier whose channels are not for fans
	// (organizers' room hooks), beside the one that is. Give it a Group
	// of its own too.
	SourcesOnly bool
	// Group is the Redis consumer group shared by all Notifiers of a
	// deployment: they split the messages among them. Default "notify".
	Group string
	// Consumer names this Notifier within the group; it must be unique
	// per process, or two processes would share one pending list. Default
	// hostname-pid-random.
	Consumer string
	// MaxAttempts is how many times a message is tried before it goes to
	// the dead letters. Default 8.
	MaxAttempts int
	// MinBackoff is the wait after the first failed attempt; it doubles
	// with each further failure up to MaxBackoff. Defaults 1 s and 5 min.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Lease is how long a message read by one Notifier stays its own
	// before another takes it over, presuming it dead. Deliveries of one
	// message are cut off after Lease/2, so a live Notifier never loses a
	// message it is working on. Default 2 min.
	Lease time.Duration
	// Poll is the pause between passes that found nothing to do. Default
	// 250 ms.
	Poll time.Duration
	// Batch is the most messages read from one stream, and the most
	// pending entries inspected, per pass. Default 64.
	Batch int
	// Concurrency is how many messages this Notifier delivers at once.
	// Default 8.
	Concurrency int
	// Logger receives delivery failures and dead letters. Default: discard.
	Logger *slog.Logger
	// Registerer receives crowdgate_notifications_total. Default: a
	// private registry.
	Registerer prometheus.Registerer
	// Keep is how long a message stays in its outbox after it was
	// written; older ones are trimmed. A message is delivered or
	// dead-lettered within about an hour (8 attempts, backoff up to
	// 5 min), so trimming by age never drops a pending one, as a length
	// cap could under a large backlog. Default 7 days.
	Keep time.Duration
	// Now is the clock deciding when a failed message is due again.
	// Default time.Now.
	Now func() time.Time
}

// Reserved fields of a message's marks hash (Stream.marks), beside one field per
// channel: "1" once the channel delivered, "!<error>" once it gave up.
const (
	notifyAttemptField = "_attempt" // delivery count at the last recorded failure
	notifyDueField     = "_due"     // unix ms when the failed message may be tried again
	// notifyMarksTTL keeps the marks long after the message is acked, so a
	// straggler finds them and does not send again.
	notifyMarksTTL = 7 * 24 * time.Hour
)

func (c *Config) setDefaults() {
	if c.Group == "" {
		c.Group = "notify"
	}
	if c.Consumer == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "notifier"
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, 5*time.Minute)
	def(&c.Lease, 2*time.Minute)
	def(&c.Poll, 250*time.Millisecond)
	def(&c.Keep, 7*24*time.Hour)
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a configuration that cannot work. Zero values are
// valid: they mean the defaults.
func (c Config) Validate() error {
	if len(c.Channels) == 0 {
		return errors.New("notify: needs at least one channel")
	}
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		if ch == nil {
			return fmt.Errorf("notify: channel %d is nil", i)
		}
		name := ch.Name()
		switch {
		case name == "":
			return fmt.Errorf("notify: channel %d has no name", i)
		case strings.HasPrefix(name, "_"):
			return fmt.Errorf("notify: channel name %q: a leading _ is reserved", name)
		case seen[name]:
			return fmt.Errorf("booking: two notifier channels named %q", name)
		}
		seen[name] = true
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		return fmt.Errorf("notify: MinBackoff %v above MaxBackoff %v", c.MinBackoff, c.MaxBackoff)
	}
	if c.MaxAttempts < 0 || c.Batch < 0 || c.Concurrency < 0 {
		return errors.New("notify: MaxAttempts, Batch and Concurrency must not be negative")
	}
	return nil
}

// Notifier delivers every stream's messages on every channel, at least once.
// Any number of Notifiers, in any number of processes, may share one Redis:
// Redis consumer groups split the messages among them, a message is acked
// only once every channel delivered it (or gave up), a message held by a
// Notifier that died is taken over after Lease, and per-channel marks keep
// a retry from repeating the channels that already succeeded. A message is
// therefore delivered at least once per channel and normally exactly once;
// a second delivery needs a crash between a send and its mark, or a send
// that timed out after the receiver had it.
type Notifier struct {
	rdb   redis.UniversalClient
	cfg   Config
	log   *slog.Logger
	total *prometheus.CounterVec

	passMu  sync.Mutex           // one pass at a time; guards the maps below
	groups  map[string]bool      // streams whose consumer group is known to exist
	cursors map[string]string    // stream → where the next pending scan starts
	trimmed map[string]time.Time // stream → when its outbox was last trimmed
}

// New returns a Notifier; call Run, or Process for a single pass.
func New(rdb redis.UniversalClient, cfg Config) (*Notifier, error) {
	if rdb == nil {
		return nil, errors.New("notify: needs a Redis client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	cfg.Channels = append([]Channel(nil), cfg.Channels...)
	n := &Notifier{
		rdb: rdb, cfg: cfg, log: cfg.Logger,
		groups: map[string]bool{}, cursors: map[string]string{}, trimmed: map[string]time.Time{},
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_notifications_total",
			Help: "Notification delivery attempts per channel: delivered (or nothing to send), retry (failed, will try again), dead (given up).",
		}, []string{"channel", "result"}),
	}
	if err := cfg.Registerer.Register(n.total); err != nil {
		// Several Notifiers in one process share the counter.
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		cv, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, err
		}
		n.total = cv
	}
	for _, ch := range cfg.Channels {
		for _, r := range []string{"delivered", "retry", "dead"} {
			n.total.WithLabelValues(ch.Name(), r)
		}
	}
	return n, nil
}

// Run delivers notifications until ctx ends, then returns nil once every
// delivery under way has stopped. Redis failures are logged and retried on
// the next poll: a notifier outlives Redis restarts.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	storeLog := queue.NewOutage(n.log, "notifications", nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		handled, err := n.Process(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := n.cfg.Poll
		switch {
		case err != nil:
			storeLog.Fail("notify pass", err)
		case handled > 0:
			wait = 0 // there may be more
			fallthrough
		default:
			storeLog.Pass()
		}
		t.Reset(wait)
	}
}

// job is one message this Notifier has taken from an outbox.
type job struct {
	stream   Stream
	msg      redis.XMessage
	attempts int64     // the message's delivery count, this attempt included
	since    time.Time // when this Notifier last took it (monotonic)
}

// Process makes one pass over every stream, as Run does on each tick: it
// takes back the failed messages that are due again and those of dead
// Notifiers, reads new messages, and delivers them all. It returns how many
// messages it attempted. Errors are Redis failures (a channel's failure is
// not an error of the pass); the streams they did not affect are still
// served. Concurrent calls on one Notifier run one after the other.
func (n *Notifier) Process(ctx context.Context) (int, error) {
	n.passMu.Lock()
	defer n.passMu.Unlock()
	ss, err := streams(ctx, n.rdb, n.cfg.Sources, !n.cfg.SourcesOnly)
	errs := []error{err}
	errs = append(errs, n.ensureGroups(ctx, ss))
	ss = n.known(ss)
	jobs, err := n.reclaim(ctx, ss)
	errs = append(errs, err)
	fresh, err := n.readNew(ctx, ss)
	errs = append(errs, err)
	jobs = append(jobs, fresh...)

	var (
		g         errgroup.Group
		attempted atomic.Int64
		mu        sync.Mutex
	)
	g.SetLimit(n.cfg.Concurrency)
	for _, j := range jobs {
		g.Go(func() error {
			tried, err := n.handle(ctx, j)
			if tried {
				attempted.Add(1)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	errs = append(errs, n.trim(ctx, ss))
	return int(attempted.Load()), errors.Join(errs...)
}

// ensureGroups creates the consumer group of every stream not seen yet. The
// group starts at "0" so messages written before it existed are delivered.
func (n *Notifier) ensureGroups(ctx context.Context, ss []Stream) error {
	var todo []Stream
	for _, s := range ss {
		if !n.groups[s.Name] {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	cmds := make([]*redis.StatusCmd, len(todo))
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range todo {
			cmds[i] = p.XGroupCreateMkStream(ctx, s.Outbox(), n.cfg.Group, "0")
		}
		return nil
	})
	var errs []error
	for i, c := range cmds {
		if err := c.Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			errs = append(errs, fmt.Errorf("notify: create group of stream %s: %w", todo[i].Name, err))
			continue
		}
		n.groups[todo[i].Name] = true
	}
	return errors.Join(errs...)
}

// isNoGroup reports the error of a stream whose group vanished (the outbox
// was deleted); the group is created again on the next pass.
func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// known keeps the streams whose consumer group exists.
func (n *Notifier) known(ss []Stream) []Stream {
	var out []Stream
	for _, s := range ss {
		if n.groups[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// readNew reads the messages no Notifier has seen yet, without blocking:
// one blocking read per stream would serialize many streams.
func (n *Notifier) readNew(ctx context.Context, ss []Stream) ([]job, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.XStreamSliceCmd, len(ss))
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range ss {
			cmds[i] = p.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: n.cfg.Group, Consumer: n.cfg.Consumer,
				Streams: []string{s.Outbox(), ">"},
				Count:   int64(n.cfg.Batch), Block: -1,
			})
		}
		return nil
	})
	var (
		jobs []job
		errs []error
		now  = time.Now()
	)
	for i, c := range cmds {
		res, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case isNoGroup(err):
			delete(n.groups, ss[i].Name)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("notify: read stream %s: %w", ss[i].Name, err))
			continue
		}
		for _, r := range res {
			for _, m := range r.Messages {
				jobs = append(jobs, job{stream: ss[i], msg: m, attempts: 1, since: now})
			}
		}
	}
	return jobs, errors.Join(errs...)
}

// trimEvery is how often each outbox is trimmed of messages older than Keep.
const trimEvery = 10 * time.Minute

// trim drops the messages older than Keep from outboxes not trimmed for
// trimEvery. The trim is exact: it costs a little more than "~", which
// only frees whole nodes, but leaves no week-old message behind in a
// quiet stream.
func (n *Notifier) trim(ctx context.Context, ss []Stream) error {
	now := time.Now()
	minID := fmt.Sprintf("%d-0", n.cfg.Now().Add(-n.cfg.Keep).UnixMilli())
	var errs []error
	for _, s := range ss {
		if now.Sub(n.trimmed[s.Name]) < trimEvery {
			continue
		}
		if err := n.rdb.XTrimMinID(ctx, s.Outbox(), minID).Err(); err != nil {
			errs = append(errs, fmt.Errorf("notify: trim stream %s: %w", s.Name, err))
			continue
		}
		n.trimmed[s.Name] = now
	}
	return errors.Join(errs...)
}

// reclaim takes the pending messages that should be tried now: those whose
// last attempt failed and whose backoff has passed (decided by Now), and
// those held longer than Lease with no recorded failure (their Notifier
// died or lost Redis). XPENDING then XCLAIM rather than XAUTOCLAIM, because
// the wait depends on each message's attempts, not on one idle time. The
// scan pages through long pending lists across passes.
func (n *Notifier) reclaim(ctx context.Context, ss []Stream) ([]job, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	pend := make([]*redis.XPendingExtCmd, len(ss))
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range ss {
			start := n.cursors[s.Name]
			if start == "" {
				start = "-"
			}
			pend[i] = p.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: s.Outbox(), Group: n.cfg.Group,
				Start: start, End: "+", Count: int64(n.cfg.Batch),
			})
		}
		return nil
	})
	type candidate struct {
		stream Stream
		p      redis.XPendingExt
		state  *redis.SliceCmd
	}
	var (
		cands []candidate
		errs  []error
	)
	for i, c := range pend {
		ps, err := c.Result()
		switch {
		case isNoGroup(err):
			delete(n.groups, ss[i].Name)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("notify: pending of stream %s: %w", ss[i].Name, err))
			continue
		}
		if len(ps) < n.cfg.Batch {
			delete(n.cursors, ss[i].Name) // next pass starts over
		} else {
			n.cursors[ss[i].Name] = nextStreamID(ps[len(ps)-1].ID)
		}
		for _, p := range ps {
			cands = append(cands, candidate{stream: ss[i], p: p})
		}
	}
	if len(cands) == 0 {
		return nil, errors.Join(errs...)
	}
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cands {
			cands[i].state = p.HMGet(ctx, cands[i].stream.marks(cands[i].p.ID), notifyAttemptField, notifyDueField)
		}
		return nil
	})
	now := n.cfg.Now()
	type claim struct {
		candidate
		cmd *redis.XMessageSliceCmd
	}
	var claims []claim
	for _, c := range cands {
		st, err := c.state.Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: state of %s in stream %s: %w", c.p.ID, c.stream.Name, err))
			continue
		}
		failedAt, _ := strconv.ParseInt(fmt.Sprint(st[0]), 10, 64)
		due, _ := strconv.ParseInt(fmt.Sprint(st[1]), 10, 64)
		var ready bool
		if failedAt > 0 && failedAt == c.p.RetryCount {
			ready = now.UnixMilli() >= due // failed; waiting out its backoff
		} else {
			ready = c.p.Idle >= n.cfg.Lease // in flight, or its Notifier is gone
		}
		if ready {
			claims = append(claims, claim{candidate: c})
		}
	}
	if len(claims) == 0 {
		return nil, errors.Join(errs...)
	}
	// The min-idle of each claim is the idle time just seen: if another
	// Notifier claimed the message since, its idle time restarted from 0
	// and this claim does nothing. (An idle time of 0 cannot tell, but a
	// message is only due again after MinBackoff of real time, unless a
	// test drives the clock.)
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range claims {
			claims[i].cmd = p.XClaim(ctx, &redis.XClaimArgs{
				Stream: claims[i].stream.Outbox(), Group: n.cfg.Group, Consumer: n.cfg.Consumer,
				MinIdle: claims[i].p.Idle, Messages: []string{claims[i].p.ID},
			})
		}
		return nil
	})
	var jobs []job
	taken := time.Now()
	for _, c := range claims {
		msgs, err := c.cmd.Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: claim %s in stream %s: %w", c.p.ID, c.stream.Name, err))
			continue
		}
		for _, m := range msgs {
			if m.ID != c.p.ID {
				continue
			}
			jobs = append(jobs, job{stream: c.stream, msg: m, attempts: c.p.RetryCount + 1, since: taken})
		}
	}
	return jobs, errors.Join(errs...)
}

// nextStreamID is the smallest stream id after id, for an exclusive range
// start that also works where "(" is not understood.
func nextStreamID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return id
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return id
	}
	if s == math.MaxUint64 {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return id
		}
		return strconv.FormatUint(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(s+1, 10)
}

// channelFailure is one channel's failed delivery of one message.
type channelFailure struct {
	channel   string
	err       string
	permanent bool
}

// handle tries one message on every channel that has not delivered it yet,
// then acks it, schedules its retry, or moves it to the dead letters. It
// reports whether it attempted the message; its error is a Redis failure
// (the message stays pending and is taken over after Lease).
func (n *Notifier) handle(ctx context.Context, j job) (bool, error) {
	s := j.stream
	note := parseMessage(s.Name, j.msg)
	if ctx.Err() != nil {
		return false, n.release(ctx, note, j)
	}
	if mine, err := n.keepLease(ctx, &j); err != nil || !mine {
		return false, err
	}
	// Once sends have begun, recording their outcome must survive a
	// shutdown: an unrecorded success is a duplicate later.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	if len(j.msg.Values) == 0 {
		// Trimmed or deleted from the outbox: nothing left to send.
		if err := n.rdb.XAck(fctx, s.Outbox(), n.cfg.Group, note.ID).Err(); err != nil {
			return false, fmt.Errorf("notify: ack %s in stream %s: %w", note.ID, s.Name, err)
		}
		return false, nil
	}
	marks, err := n.rdb.HGetAll(ctx, s.marks(note.ID)).Result()
	if err != nil {
		return false, fmt.Errorf("notify: marks of %s in stream %s: %w", note.ID, s.Name, err)
	}
	var failures []channelFailure
	for name, v := range marks {
		if rest, ok := strings.CutPrefix(v, "!"); ok && !strings.HasPrefix(name, "_") {
			failures = append(failures, channelFailure{channel: name, err: rest, permanent: true})
		}
	}
	if j.attempts > int64(n.cfg.MaxAttempts) {
		// Taken over after Lease so often that it must be what kills its
		// Notifiers, or they cannot finish it: stop trying.
		var lost []channelFailure
		for _, ch := range n.cfg.Channels {
			if v := marks[ch.Name()]; v != "1" && !strings.HasPrefix(v, "!") {
				lost = append(lost, channelFailure{channel: ch.Name(), err: "delivery never completed"})
			}
		}
		if len(lost) > 0 {
			return true, n.bury(fctx, note, j, append(failures, lost...))
		}
	}

	dctx, cancel := context.WithTimeout(ctx, n.cfg.Lease/2)
	defer cancel()
	retry := false
	for _, ch := range n.cfg.Channels {
		name := ch.Name()
		if v := marks[name]; v == "1" || strings.HasPrefix(v, "!") {
			continue
		}
		err := ch.Deliver(dctx, note)
		if err == nil {
			if err := n.mark(fctx, s, note.ID, name, "1"); err != nil {
				return true, err
			}
			n.total.WithLabelValues(name, "delivered").Inc()
			continue
		}
		if ctx.Err() != nil {
			// Shutting down: a send cut short may or may not have
			// arrived, so leave this channel unmarked.
			return true, n.release(ctx, note, j)
		}
		var pe *PermanentError
		f := channelFailure{channel: name, err: err.Error(), permanent: errors.As(err, &pe)}
		failures = append(failures, f)
		if f.permanent {
			if err := n.mark(fctx, s, note.ID, name, "!"+f.err); err != nil {
				return true, err
			}
		} else {
			retry = true
		}
	}
	switch {
	case len(failures) == 0:
		if err := n.rdb.XAck(fctx, s.Outbox(), n.cfg.Group, note.ID).Err(); err != nil {
			return true, fmt.Errorf("notify: ack %s in stream %s: %w", note.ID, s.Name, err)
		}
		return true, nil
	case !retry || j.attempts >= int64(n.cfg.MaxAttempts):
		return true, n.bury(fctx, note, j, failures)
	}
	wait := n.backoff(j.attempts)
	due := n.cfg.Now().Add(wait)
	if err := n.setDue(fctx, s, note.ID, j.attempts, due); err != nil {
		return true, err
	}
	var names, texts []string
	for _, f := range failures {
		if !f.permanent {
			n.total.WithLabelValues(f.channel, "retry").Inc()
			names = append(names, f.channel)
			texts = append(texts, f.channel+": "+f.err)
		}
	}
	n.log.Warn("notify: delivery failed, will retry", n.attrs(note, j,
		slog.String("channel", strings.Join(names, ",")),
		slog.String("err", scrubContact(strings.Join(texts, "; "), note)),
		slog.Duration("retry_in", wait))...)
	return true, nil
}

// keepLease renews this Notifier's hold on a message that waited in a long
// batch, so that its lease never runs out mid-delivery. It reports false
// when another Notifier took the message meanwhile (or it was acked).
func (n *Notifier) keepLease(ctx context.Context, j *job) (bool, error) {
	held := time.Since(j.since)
	if held <= n.cfg.Lease/4 {
		return true, nil
	}
	// Another Notifier can only have claimed the message after its idle
	// time reached Lease, and its idle time restarted then: a min-idle of
	// held-Lease/2 tells the two cases apart. RETRYCOUNT keeps the
	// attempt count, which JUSTID alone does not on every server.
	minIdle := max(held-n.cfg.Lease/2, 0)
	ids, err := n.rdb.Do(ctx, "XCLAIM", j.stream.Outbox(), n.cfg.Group, n.cfg.Consumer,
		minIdle.Milliseconds(), j.msg.ID, "RETRYCOUNT", j.attempts, "JUSTID").StringSlice()
	if err != nil {
		return false, fmt.Errorf("notify: renew %s in stream %s: %w", j.msg.ID, j.stream.Name, err)
	}
	if len(ids) == 0 {
		return false, nil
	}
	j.since = time.Now()
	return true, nil
}

// backoff is the wait after the attempt-th failed attempt.
func (n *Notifier) backoff(attempt int64) time.Duration {
	d := n.cfg.MinBackoff
	for i := int64(1); i < attempt && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.cfg.MaxBackoff)
}

func (n *Notifier) mark(ctx context.Context, s Stream, id, field, value string) error {
	key := s.marks(id)
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, field, value)
		p.Expire(ctx, key, notifyMarksTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: mark %s of %s: %w", field, id, err)
	}
	return nil
}

// setDue records a failed attempt: the message may be claimed by any
// Notifier once due has passed.
func (n *Notifier) setDue(ctx context.Context, s Stream, id string, attempts int64, due time.Time) error {
	key := s.marks(id)
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, notifyAttemptField, attempts, notifyDueField, due.UnixMilli())
		p.Expire(ctx, key, notifyMarksTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: schedule retry of %s: %w", id, err)
	}
	return nil
}

// release hands a message back at shutdown: it is due at once, so another
// Notifier need not wait out the lease. This costs the message one attempt.
func (n *Notifier) release(ctx context.Context, note Message, j job) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return n.setDue(ctx, j.stream, note.ID, j.attempts, n.cfg.Now())
}

// bury moves a message to its stream's dead letters and acks it, in one
// transaction so that it is never both pending and dead, nor neither.
func (n *Notifier) bury(ctx context.Context, note Message, j job, failures []channelFailure) error {
	s := j.stream
	sort.Slice(failures, func(a, b int) bool { return failures[a].channel < failures[b].channel })
	var errTexts, names []string
	for _, f := range failures {
		errTexts = append(errTexts, f.channel+": "+f.err)
		names = append(names, f.channel)
	}
	values := make(map[string]any, len(j.msg.Values)+4)
	for f, v := range j.msg.Values {
		values[f] = v
	}
	values["id"] = note.ID
	values["error"] = strings.Join(errTexts, "; ")
	values["attempts"] = j.attempts
	values["channels"] = strings.Join(names, ",")
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.dead(), Values: values})
		p.XAck(ctx, s.Outbox(), n.cfg.Group, note.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: dead-letter %s in stream %s: %w", note.ID, s.Name, err)
	}
	for _, name := range names {
		n.total.WithLabelValues(name, "dead").Inc()
	}
	n.log.Error("notify: gave up, moved to dead letters", n.attrs(note, j,
		slog.String("channel", strings.Join(names, ",")),
		slog.String("err", scrubContact(strings.Join(errTexts, "; "), note)))...)
	return nil
}

func (n *Notifier) attrs(note Message, j job, extra ...any) []any {
	return append([]any{
		slog.String("stream", note.Stream), slog.String("event", note.Event), slog.String("order", note.Order), slog.String("hold", note.Hold),
		slog.String("kind", note.Kind), slog.String("id", note.ID), slog.Int64("attempt", j.attempts),
	}, extra...)
}

// scrubContact masks the fan's address where a receiver's error echoed it,
// so that logs carry no contact details.
func scrubContact(s string, n Message) string {
	if n.Email != "" {
		s = strings.ReplaceAll(s, n.Email, maskedEmail(n.Email))
	}
	if n.Phone != "" {
		s = strings.ReplaceAll(s, n.Phone, maskedPhone(n.Phone))
	}
	return s
}

// DeadLetter is a message given up on, with why.
type DeadLetter struct {
	Message
	Error    string   // each failed channel's last error, "channel: error; ..."
	Attempts int64    // delivery attempts made
	Channels []string // the channels that failed
}

// DeadLetters lists up to limit of a stream's dead letters, newest first,
// for an operator to inspect. ID is the message's outbox id. A limit of 0
// or less means 100.
func DeadLetters(ctx context.Context, rdb redis.UniversalClient, s Stream, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	msgs, err := rdb.XRevRangeN(ctx, s.dead(), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("notify: dead letters of stream %s: %w", s.Name, err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := DeadLetter{Message: parseMessage(s.Name, m)}
		if id, ok := m.Values["id"].(string); ok && id != "" {
			d.ID = id
		}
		d.Error, _ = m.Values["error"].(string)
		if a, ok := m.Values["attempts"].(string); ok {
			d.Attempts, _ = strconv.ParseInt(a, 10, 64)
		}
		if ch, ok := m.Values["channels"].(string); ok && ch != "" {
			d.Channels = strings.Split(ch, ",")
		}
		out = append(out, d)
	}
	return out, nil
}
