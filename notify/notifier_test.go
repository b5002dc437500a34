package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// notifyBackends runs f against a private real redis-server (the embedded
// store when none is installed) and against miniredis, the two stores the
// Notifier must work on.
func notifyBackends(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		f(t, queuetest.Run(t).Client(t))
	})
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		f(t, c)
	})
}

// notifyClock is a clock tests move by hand.
type notifyClock = queuetest.Clock

func newNotifyClock() *notifyClock {
	return queuetest.NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
}

// addMessage writes an outbox entry the way the booking scripts do,
// with fields derived from i, and returns its id.
func addMessage(tb testing.TB, rdb redis.UniversalClient, event string, i int, override map[string]any) string {
	tb.Helper()
	ctx := context.Background()
	values := map[string]any{
		"kind": "order.paid", "event": event, "order": fmt.Sprintf("o-%d", i), "hold": fmt.Sprintf("h-%d", i),
		"email": fmt.Sprintf("fan%d@example.com", i), "phone": "", "amount_minor": fmt.Sprint(1000 + i),
		"currency": "EUR", "at": "1773500966000",
	}
	for k, v := range override {
		values[k] = v
	}
	if err := rdb.HSet(ctx, registryKey, event, Named(event).Prefix).Err(); err != nil {
		tb.Fatal(err)
	}
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: Named(event).Outbox(), Values: values}).Result()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func mustNotifier(tb testing.TB, rdb redis.UniversalClient, cfg Config) *Notifier {
	tb.Helper()
	n, err := New(rdb, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// mustProcess runs one pass and returns how many messages it attempted.
func mustProcess(tb testing.TB, n *Notifier) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := n.Process(ctx)
	if err != nil {
		tb.Fatalf("Process: %v", err)
	}
	return got
}

func pendingCount(tb testing.TB, rdb redis.UniversalClient, event string) int64 {
	tb.Helper()
	p, err := rdb.XPending(context.Background(), Named(event).Outbox(), "notify").Result()
	if err != nil {
		tb.Fatal(err)
	}
	return p.Count
}

// notifyCount reads crowdgate_notifications_total{channel,result}.
func notifyCount(tb testing.TB, reg *prometheus.Registry, channel, result string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "crowdgate_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["channel"] == channel && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// recordingChannel counts successful deliveries per message id; it can
// fail, be slow, or hang until its context ends.
type recordingChannel struct {
	name    string
	delay   time.Duration
	hangOn  string      // a message id to hang on until ctx ends
	hanging chan string // receives hangOn when the hang begins

	mu  sync.Mutex
	got map[string]int
}

func newRecordingChannel(name string) *recordingChannel {
	return &recordingChannel{name: name, got: map[string]int{}, hanging: make(chan string, 1)}
}

func (c *recordingChannel) Name() string { return c.name }

func (c *recordingChannel) Deliver(ctx context.Context, n Message) error {
	c.mu.Lock()
	hang := c.hangOn != "" && n.ID == c.hangOn
	c.mu.Unlock()
	if hang {
		c.hanging <- n.ID
		<-ctx.Done()
		return ctx.Err()
	}
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[recKey(n.Stream, n.ID)]++
	return nil
}

func (c *recordingChannel) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

// recKey names a message across events: stream ids repeat between outboxes.
func recKey(event, id string) string { return event + ":" + id }

// recKeys are the recKeys of ids in one event.
func recKeys(event string, ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, recKey(event, id))
	}
	return out
}

// checkOnce fails unless every message was delivered exactly once and
// nothing else was.
func checkOnce(tb testing.TB, name string, got map[string]int, ids []string) {
	tb.Helper()
	if len(got) != len(ids) {
		tb.Errorf("%s delivered %d distinct messages, want %d", name, len(got), len(ids))
	}
	for _, id := range ids {
		if got[id] != 1 {
			tb.Errorf("%s delivered %s %d times, want 1", name, id, got[id])
		}
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   Message
	}{
		{
			name: "complete",
			values: map[string]any{
				"kind": "order.paid", "event": "ev", "order": "o", "hold": "h", "email": "a@b.c", "phone": "+1",
				"amount_minor": "1250", "currency": "EUR", "at": "1773500966123",
			},
			want: Message{
				ID: "1-0", Kind: "order.paid", Event: "ev", Order: "o", Hold: "h", Email: "a@b.c", Phone: "+1",
				AmountMinor: 1250, Currency: "EUR", At: time.UnixMilli(1773500966123).UTC(),
			},
		},
		{
			name:   "bad numbers are zero",
			values: map[string]any{"kind": "hold.expiring", "amount_minor": "12.5", "at": "yesterday"},
			want:   Message{ID: "1-0", Kind: "hold.expiring"},
		},
		{
			name:   "missing fields are empty",
			values: map[string]any{},
			want:   Message{ID: "1-0"},
		},
		{
			name:   "non-string values",
			values: map[string]any{"amount_minor": int64(7), "order": []byte("o-2")},
			want:   Message{ID: "1-0", AmountMinor: 7, Order: "o-2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseMessage("ev", redis.XMessage{ID: "1-0", Values: tc.values})
			tc.want.Stream = "ev"
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestAppendRoundTrip: what Append writes is read back as the same
// message, whichever stream it went to, and every Notifier finds the
// stream without being told of it.
func TestAppendRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	ctx := context.Background()
	want := Message{
		Stream: "waiters.launch", Kind: "queue.near", Room: "launch", Position: 42,
		Link: "https://tickets.example/rooms/launch#resume=x", Email: "fan@example.com",
		At: time.UnixMilli(1773500966123).UTC(),
	}
	id, err := NewOutbox(rdb).Append(ctx, Named("waiters.launch"), want)
	if err != nil {
		t.Fatal(err)
	}
	want.ID = id
	var got []Message // one pass, Concurrency 1: no race
	ch := channelFunc{name: "rec", f: func(_ context.Context, m Message) error {
		got = append(got, m)
		return nil
	}}
	if n := mustProcess(t, mustNotifier(t, rdb, Config{Channels: []Channel{ch}, Concurrency: 1})); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("delivered %+v\nwant %+v", got, want)
	}
	if _, err := NewOutbox(rdb).Append(ctx, Stream{Name: "no-prefix"}, want); err == nil {
		t.Error("Append took a stream without a prefix")
	}
}

// TestNotifierTrimsOldMessages: messages older than Keep leave their
// outbox (delivered or not, they are past all retries), newer ones stay,
// and a failing Source does not stop the other streams.
func TestNotifierTrimsOldMessages(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	ctx := context.Background()
	s := Named("ev")
	if err := rdb.HSet(ctx, registryKey, s.Name, s.Prefix).Err(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-8 * 24 * time.Hour).UnixMilli()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Outbox(), ID: fmt.Sprintf("%d-0", old), Values: []any{"kind", "order.paid"}}).Err(); err != nil {
		t.Fatal(err)
	}
	fresh := addMessage(t, rdb, "ev", 1, nil)
	broken := Source(func(context.Context) ([]Stream, error) { return nil, errors.New("source down") })
	n := mustNotifier(t, rdb, Config{Channels: []Channel{newRecordingChannel("rec")}, Sources: []Source{broken}})
	if _, err := n.Process(ctx); err == nil || !strings.Contains(err.Error(), "source down") {
		t.Fatalf("pass error %v, want the source's", err)
	}
	left, err := rdb.XRange(ctx, s.Outbox(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != fresh {
		t.Fatalf("outbox holds %v, want only %s", left, fresh)
	}
	if p, _ := rdb.XPending(ctx, s.Outbox(), "notify").Result(); p.Count != 0 {
		t.Errorf("%d messages still pending", p.Count)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ch := newRecordingChannel("a")
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Channels: []Channel{ch}}, true},
		{"no channels", Config{}, false},
		{"nil channel", Config{Channels: []Channel{nil}}, false},
		{"unnamed", Config{Channels: []Channel{newRecordingChannel("")}}, false},
		{"reserved name", Config{Channels: []Channel{newRecordingChannel("_due")}}, false},
		{"same name twice", Config{Channels: []Channel{ch, newRecordingChannel("a")}}, false},
		{"backoffs crossed", Config{Channels: []Channel{ch}, MinBackoff: time.Minute, MaxBackoff: time.Second}, false},
		{"negative attempts", Config{Channels: []Channel{ch}, MaxAttempts: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
	if _, err := New(nil, Config{Channels: []Channel{ch}}); err == nil {
		t.Error("NewNotifier accepted a nil client")
	}
}

func TestNotifierBackoff(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = rdb.Close() })
	n := mustNotifier(t, rdb, Config{
		Channels: []Channel{newRecordingChannel("a")}, MinBackoff: time.Second, MaxBackoff: 10 * time.Second,
	})
	for attempt, want := range map[int64]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 64: 10 * time.Second,
	} {
		if got := n.backoff(attempt); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

func TestNextStreamID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"5-0": "5-1", "1773500966000-41": "1773500966000-42",
		"7-18446744073709551615": "8-0", "junk": "junk",
	} {
		if got := nextStreamID(in); got != want {
			t.Errorf("nextStreamID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNotifierDeliversEveryChannel(t *testing.T) {
	t.Parallel()
	notifyBackends(t, func(t *testing.T, rdb redis.UniversalClient) {
		smtpSrv := startTestSMTP(t, nil)
		rcv := startTestWebhook(t, "whsec")
		var logs bytes.Buffer
		reg := prometheus.NewRegistry()
		n := mustNotifier(t, rdb, Config{
			Channels: []Channel{
				mustSMTPChannel(t, SMTPConfig{Addr: smtpSrv.Addr}),
				mustWebhookChannel(t, rcv.URL, "whsec"),
				NewLogChannel(slog.New(slog.NewJSONHandler(&logs, nil))),
			},
			Registerer: reg,
		})
		// Written before any consumer group exists: still delivered.
		for i := range 3 {
			addMessage(t, rdb, "ev-a", i, nil)
		}
		addMessage(t, rdb, "ev-b", 3, nil)
		addMessage(t, rdb, "ev-b", 4, map[string]any{"email": "", "kind": "hold.expiring", "order": ""})

		if got := mustProcess(t, n); got != 5 {
			t.Errorf("first pass attempted %d, want 5", got)
		}
		if msgs, _, _ := smtpSrv.counts(); msgs != 4 {
			t.Errorf("emails sent %d, want 4 (one fan gave no address)", msgs)
		}
		if got := len(rcv.delivered()); got != 5 {
			t.Errorf("webhooks %d, want 5", got)
		}
		if got := strings.Count(logs.String(), `"msg":"notification"`); got != 5 {
			t.Errorf("log lines %d, want 5", got)
		}
		for _, ev := range []string{"ev-a", "ev-b"} {
			if p := pendingCount(t, rdb, ev); p != 0 {
				t.Errorf("%s: %d pending after delivery", ev, p)
			}
		}

		// Later messages are read from where the group left off.
		addMessage(t, rdb, "ev-a", 5, nil)
		if got := mustProcess(t, n); got != 1 {
			t.Errorf("second pass attempted %d, want 1", got)
		}
		if got := mustProcess(t, n); got != 0 {
			t.Errorf("idle pass attempted %d, want 0", got)
		}
		if msgs, _, _ := smtpSrv.counts(); msgs != 5 {
			t.Errorf("emails sent %d, want 5", msgs)
		}
		if got := len(rcv.delivered()); got != 6 {
			t.Errorf("webhooks %d, want 6", got)
		}
		if rcv.badSig != 0 {
			t.Errorf("%d webhooks with a bad signature", rcv.badSig)
		}
		if got := notifyCount(t, reg, "webhook", "delivered"); got != 6 {
			t.Errorf("delivered metric %v, want 6", got)
		}
		if got := notifyCount(t, reg, "email", "retry") + notifyCount(t, reg, "email", "dead"); got != 0 {
			t.Errorf("failure metrics %v, want 0", got)
		}
	})
}

func TestNotifierRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	notifyBackends(t, func(t *testing.T, rdb redis.UniversalClient) {
		smtpSrv := startTestSMTP(t, func(s *testSMTP) { s.failData = 2 })
		clock := newNotifyClock()
		reg := prometheus.NewRegistry()
		n := mustNotifier(t, rdb, Config{
			Channels:   []Channel{mustSMTPChannel(t, SMTPConfig{Addr: smtpSrv.Addr})},
			MinBackoff: time.Second, MaxBackoff: time.Minute, Now: clock.Now, Registerer: reg,
		})
		addMessage(t, rdb, "ev", 1, nil)
		for i, step := range []struct {
			advance time.Duration
			tried   int
			sent    int
		}{
			{0, 1, 0},                      // attempt 1 fails
			{0, 0, 0},                      // not due
			{999 * time.Millisecond, 0, 0}, // still not due
			{time.Millisecond, 1, 0},       // attempt 2 fails; next wait 2 s
			{time.Second, 0, 0},            // not due
			{time.Second, 1, 1},            // attempt 3 delivers
			{time.Hour, 0, 1},              // and nothing more happens
		} {
			clock.Add(step.advance)
			if got := mustProcess(t, n); got != step.tried {
				t.Errorf("step %d: attempted %d, want %d", i, got, step.tried)
			}
			if msgs, _, _ := smtpSrv.counts(); msgs != step.sent {
				t.Errorf("step %d: %d emails, want %d", i, msgs, step.sent)
			}
		}
		if p := pendingCount(t, rdb, "ev"); p != 0 {
			t.Errorf("%d pending", p)
		}
		if r, d := notifyCount(t, reg, "email", "retry"), notifyCount(t, reg, "email", "delivered"); r != 2 || d != 1 {
			t.Errorf("metrics retry %v delivered %v, want 2 and 1", r, d)
		}
	})
}

// A channel that delivered is not repeated when another one is retried.
func TestNotifierRetriesOnlyFailedChannels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		smtpFails  int
		hookCodes  []int
		wantSMTP   int // SMTP sessions in all
		wantHook   int // webhook requests in all
		wantPasses int // passes that attempted the message
	}{
		{name: "email fails once", smtpFails: 1, wantSMTP: 2, wantHook: 1, wantPasses: 2},
		{name: "webhook fails twice", hookCodes: []int{503, 429}, wantSMTP: 1, wantHook: 3, wantPasses: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := queuetest.NewClient(t)
			smtpSrv := startTestSMTP(t, func(s *testSMTP) { s.failData = tc.smtpFails })
			rcv := startTestWebhook(t, "k", tc.hookCodes...)
			requests := 0
			hook := mustWebhookChannel(t, rcv.URL, "k")
			clock := newNotifyClock()
			n := mustNotifier(t, rdb, Config{
				Channels: []Channel{
					mustSMTPChannel(t, SMTPConfig{Addr: smtpSrv.Addr}),
					channelFunc{name: "webhook", f: func(ctx context.Context, note Message) error {
						requests++
						return hook.Deliver(ctx, note)
					}},
				},
				MinBackoff: time.Second, MaxBackoff: time.Second, Now: clock.Now,
			})
			addMessage(t, rdb, "ev", 1, nil)
			passes := 0
			for range 5 {
				passes += mustProcess(t, n)
				clock.Add(time.Second)
			}
			msgs, _, sessions := smtpSrv.counts()
			if msgs != 1 || len(rcv.delivered()) != 1 {
				t.Errorf("delivered %d emails and %d webhooks, want 1 each", msgs, len(rcv.delivered()))
			}
			if sessions != tc.wantSMTP || requests != tc.wantHook || passes != tc.wantPasses {
				t.Errorf("smtp sessions %d, webhook requests %d, passes %d; want %d, %d, %d",
					sessions, requests, passes, tc.wantSMTP, tc.wantHook, tc.wantPasses)
			}
		})
	}
}

// channelFunc adapts a function to Channel.
type channelFunc struct {
	name string
	f    func(context.Context, Message) error
}

func (c channelFunc) Name() string                                 { return c.name }
func (c channelFunc) Deliver(ctx context.Context, n Message) error { return c.f(ctx, n) }

func TestNotifierDeadLetters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		smtp        func(*testSMTP)
		hookCodes   []int
		email       string
		maxAttempts int
		passes      int    // passes, one backoff apart
		deadAfter   int    // the pass after which the message is dead (1-based)
		channels    string // the dead letter's failed channels
		errHas      string
		rcpts       int // RCPT commands the relay saw in all
	}{
		{
			name: "max attempts", smtp: func(s *testSMTP) { s.failData = 100 }, maxAttempts: 3,
			passes: 5, deadAfter: 3, channels: "email", errHas: "451", rcpts: 3,
		},
		{
			name: "permanent webhook", hookCodes: []int{400}, maxAttempts: 8,
			passes: 3, deadAfter: 1, channels: "webhook", errHas: "400", rcpts: 1,
		},
		{
			name: "permanent email, webhook still retried", smtp: func(s *testSMTP) { s.rejectRcpt = true },
			hookCodes: []int{503}, maxAttempts: 8, passes: 4, deadAfter: 2, channels: "email", errHas: "550", rcpts: 1,
		},
		{
			name: "header injection", email: "fan@example.com\r\nBcc: everyone@example.com", maxAttempts: 8,
			passes: 3, deadAfter: 1, channels: "email", errHas: "line break", rcpts: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := queuetest.NewClient(t)
			smtpSrv := startTestSMTP(t, tc.smtp)
			rcv := startTestWebhook(t, "k", tc.hookCodes...)
			clock := newNotifyClock()
			reg := prometheus.NewRegistry()
			n := mustNotifier(t, rdb, Config{
				Channels: []Channel{
					mustSMTPChannel(t, SMTPConfig{Addr: smtpSrv.Addr}),
					mustWebhookChannel(t, rcv.URL, "k"),
				},
				MaxAttempts: tc.maxAttempts, MinBackoff: time.Second, MaxBackoff: time.Second,
				Now: clock.Now, Registerer: reg,
			})
			override := map[string]any{}
			if tc.email != "" {
				override["email"] = tc.email
			}
			id := addMessage(t, rdb, "ev", 7, override)
			for pass := 1; pass <= tc.passes; pass++ {
				mustProcess(t, n)
				clock.Add(time.Second)
				dead, err := DeadLetters(context.Background(), rdb, Named("ev"), 10)
				if err != nil {
					t.Fatal(err)
				}
				if want := pass >= tc.deadAfter; (len(dead) == 1) != want || len(dead) > 1 {
					t.Fatalf("after pass %d: %d dead letters, want dead %v", pass, len(dead), want)
				}
			}
			dead, _ := DeadLetters(context.Background(), rdb, Named("ev"), 10)
			if dead[0].ID != id || dead[0].Order != "o-7" || dead[0].Kind != "order.paid" || dead[0].AmountMinor != 1007 {
				t.Errorf("dead letter %+v", dead[0])
			}
			raw, err := rdb.XRange(context.Background(), Named("ev").dead(), "-", "+").Result()
			if err != nil || len(raw) != 1 {
				t.Fatalf("dead stream: %v %v", raw, err)
			}
			v := raw[0].Values
			if v["channels"] != tc.channels || !strings.Contains(fmt.Sprint(v["error"]), tc.errHas) {
				t.Errorf("dead letter channels %q error %q; want %q and an error with %q", v["channels"], v["error"], tc.channels, tc.errHas)
			}
			if tc.name == "max attempts" && v["attempts"] != "3" {
				t.Errorf("attempts %v, want 3", v["attempts"])
			}
			if p := pendingCount(t, rdb, "ev"); p != 0 {
				t.Errorf("%d still pending", p)
			}
			if _, rcpts, _ := smtpSrv.counts(); rcpts != tc.rcpts {
				t.Errorf("relay saw %d RCPT, want %d", rcpts, tc.rcpts)
			}
			if got := notifyCount(t, reg, tc.channels, "dead"); got != 1 {
				t.Errorf("dead metric %v, want 1", got)
			}
		})
	}
}

func TestNotifierReclaimsFromDeadConsumer(t *testing.T) {
	t.Parallel()
	notifyBackends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		k := Named("ev")
		id := addMessage(t, rdb, "ev", 1, nil)
		if err := rdb.XGroupCreate(ctx, k.Outbox(), "notify", "0").Err(); err != nil {
			t.Fatal(err)
		}
		// A Notifier reads the message and dies without a word.
		got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "notify", Consumer: "dead", Streams: []string{k.Outbox(), ">"}, Count: 10, Block: -1,
		}).Result()
		if err != nil || len(got[0].Messages) != 1 {
			t.Fatalf("dead consumer read %v, %v", got, err)
		}
		ch := newRecordingChannel("rec")
		n := mustNotifier(t, rdb, Config{Channels: []Channel{ch}, Lease: 150 * time.Millisecond})
		if got := mustProcess(t, n); got != 0 {
			t.Errorf("took over a message after %d attempts before the lease ran out", got)
		}
		time.Sleep(200 * time.Millisecond)
		if got := mustProcess(t, n); got != 1 {
			t.Errorf("attempted %d after the lease, want 1", got)
		}
		checkOnce(t, "rec", ch.counts(), recKeys("ev", id))
		if p := pendingCount(t, rdb, "ev"); p != 0 {
			t.Errorf("%d pending", p)
		}
	})
}

// Stopping a Notifier mid-delivery loses nothing, and a new one (another
// process) finishes the work without repeating what was done.
func TestNotifierAtLeastOnceAcrossRestart(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	var ids []string
	for i := range 6 {
		ids = append(ids, addMessage(t, rdb, "ev", i, nil))
	}
	first := newRecordingChannel("first")
	gate := newRecordingChannel("gate")
	gate.hangOn = ids[3]
	n1 := mustNotifier(t, rdb, Config{Channels: []Channel{first, gate}, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n1.Run(ctx) }()
	select {
	case <-gate.hanging:
	case <-time.After(2 * time.Second):
		t.Fatal("the first Notifier never reached the fourth message")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v on cancel, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := gate.counts(); len(got) != 3 {
		t.Fatalf("before the restart gate delivered %v, want the first three", got)
	}

	gate.mu.Lock()
	gate.hangOn = ""
	gate.mu.Unlock()
	n2 := mustNotifier(t, rdb, Config{Channels: []Channel{first, gate}})
	for range 3 {
		mustProcess(t, n2)
	}
	checkOnce(t, "first", first.counts(), recKeys("ev", ids...))
	checkOnce(t, "gate", gate.counts(), recKeys("ev", ids...))
	if p := pendingCount(t, rdb, "ev"); p != 0 {
		t.Errorf("%d pending", p)
	}
}

// Several Notifiers on one Redis split the work and deliver each message
// once.
func TestNotifiersShareTheWork(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	var ids []string
	for i := range 40 {
		ev := fmt.Sprintf("ev-%d", i%4)
		ids = append(ids, recKey(ev, addMessage(t, rdb, ev, i, nil)))
	}
	ch := newRecordingChannel("rec")
	ch.delay = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 3 {
		n := mustNotifier(t, rdb, Config{
			Channels: []Channel{ch}, Consumer: fmt.Sprintf("worker-%d", i), Poll: 5 * time.Millisecond, Batch: 4,
		})
		wg.Go(func() {
			if err := n.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(ch.counts()) < len(ids) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	checkOnce(t, "rec", ch.counts(), ids)
}

// A message waiting in a long batch is renewed before it is sent, so a
// second Notifier cannot take it over mid-delivery and send it again.
func TestNotifierRenewsLeaseInLongBatches(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, addMessage(t, rdb, "ev", i, nil))
	}
	ch := newRecordingChannel("rec")
	ch.delay = 70 * time.Millisecond
	lease := 200 * time.Millisecond
	slow := mustNotifier(t, rdb, Config{Channels: []Channel{ch}, Lease: lease, Concurrency: 1, Consumer: "slow"})
	other := mustNotifier(t, rdb, Config{Channels: []Channel{ch}, Lease: lease, Consumer: "other"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustProcess(t, slow)
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(10 * time.Millisecond):
			mustProcess(t, other)
		}
	}
	for range 3 {
		mustProcess(t, other)
	}
	checkOnce(t, "rec", ch.counts(), recKeys("ev", ids...))
}

// An outbox deleted and written again gets its group back.
func TestNotifierRecreatesGroup(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	ch := newRecordingChannel("rec")
	n := mustNotifier(t, rdb, Config{Channels: []Channel{ch}})
	a := addMessage(t, rdb, "ev", 1, nil)
	mustProcess(t, n)
	if err := rdb.Del(context.Background(), Named("ev").Outbox()).Err(); err != nil {
		t.Fatal(err)
	}
	// A new stream numbers from the clock again: within the same
	// millisecond it would reuse a's id, whose delivery marks say "done".
	time.Sleep(2 * time.Millisecond)
	b := addMessage(t, rdb, "ev", 2, nil)
	if b == a {
		t.Fatalf("the new outbox reused id %s", a)
	}
	mustProcess(t, n)
	mustProcess(t, n)
	checkOnce(t, "rec", ch.counts(), recKeys("ev", a, b))
}

func TestNotifierDeadListsNewestFirst(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	n := mustNotifier(t, rdb, Config{
		Channels: []Channel{channelFunc{name: "no", f: func(context.Context, Message) error {
			return Permanent(errors.New("never"))
		}}},
		Concurrency: 1, // dead letters in outbox order
	})
	var ids []string
	for i := range 3 {
		ids = append(ids, addMessage(t, rdb, "ev", i, nil))
	}
	mustProcess(t, n)
	dead, err := DeadLetters(context.Background(), rdb, Named("ev"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead[0].ID != ids[2] || dead[1].ID != ids[1] {
		t.Errorf("Dead(limit 2) = %+v, want %s then %s", dead, ids[2], ids[1])
	}
	if dead, _ := DeadLetters(context.Background(), rdb, Named("other"), 0); len(dead) != 0 {
		t.Errorf("dead letters of an event without any: %v", dead)
	}
}

// ExampleNew delivers an outbox to the log. A deployment adds an
// SMTPChannel and a WebhookChannel, and calls Run instead of Process.
func ExampleNew() {
	m, _ := miniredis.Run()
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	// What a booking script writes when an order is paid, in the outbox
	// of its event, which booking lists as a Source.
	events := Source(func(context.Context) ([]Stream, error) {
		return []Stream{{Name: "spring-fest", Prefix: "cgb:{ev:spring-fest}:"}}, nil
	})
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "cgb:{ev:spring-fest}:outbox", ID: "1773500966000-0", Values: map[string]any{
		"kind": "order.paid", "event": "spring-fest", "order": "o-123", "hold": "h-9",
		"email": "jane@example.com", "phone": "", "amount_minor": "1250", "currency": "EUR", "at": "1773500966000",
	}})

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	n, err := New(rdb, Config{Channels: []Channel{NewLogChannel(logger)}, Sources: []Source{events}})
	if err != nil {
		fmt.Println(err)
		return
	}
	sent, err := n.Process(ctx)
	fmt.Println(sent, err)
	// Output:
	// level=INFO msg=notification stream=spring-fest event=spring-fest room="" order=o-123 hold=h-9 kind=order.paid id=1773500966000-0 email=j***@example.com phone="" amount_minor=1250 currency=EUR
	// 1 <nil>
}

// Failures are logged once per attempt with stable keys, and without the
// fan's contact details even when a receiver's error repeats them.
func TestNotifierLogsWithoutContacts(t *testing.T) {
	t.Parallel()
	rdb := queuetest.NewClient(t)
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	echo := channelFunc{name: "echo", f: func(_ context.Context, n Message) error {
		return fmt.Errorf("mailbox %s full, call %s", n.Email, n.Phone)
	}}
	cfg := Config{
		Channels: []Channel{echo}, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Registerer: reg,
	}
	n := mustNotifier(t, rdb, cfg)
	// A second Notifier in the process shares the counters.
	mustNotifier(t, rdb, cfg)
	addMessage(t, rdb, "ev", 1, map[string]any{"phone": "+447700900123"})
	mustProcess(t, n)
	time.Sleep(5 * time.Millisecond)
	mustProcess(t, n)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2 (one retry, one dead letter):\n%s", len(lines), logs.String())
	}
	for i, want := range []string{"WARN", "ERROR"} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != want || rec["event"] != "ev" || rec["order"] != "o-1" || rec["hold"] != "h-1" || rec["channel"] != "echo" {
			t.Errorf("line %d: %v", i, rec)
		}
	}
	if s := logs.String(); strings.Contains(s, "fan1@example.com") || strings.Contains(s, "900123") {
		t.Errorf("logs show contact details:\n%s", s)
	}
	if got := notifyCount(t, reg, "echo", "dead"); got != 1 {
		t.Errorf("dead metric %v", got)
	}
}
