package admission_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// logRecords is a slog.Handler that keeps what it is given.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecords) WithGroup(string) slog.Handler      { return h }

// at returns the records at level or above.
func (h *logRecords) at(level slog.Level) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		if r.Level >= level {
			out = append(out, r)
		}
	}
	return out
}

func (h *logRecords) find(msg string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.Message == msg {
			return r, true
		}
	}
	return slog.Record{}, false
}

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// TestStoreOutageIsSaidOnce: while Redis is down, the controller's loops
// fail on every tick for every room; the log says so once, at ERROR, and
// once more at INFO when Redis is back, with how long it was down and how
// many failures it did not repeat.
func TestStoreOutageIsSaidOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped with -short")
	}
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs a redis-server to stop")
	}
	// No retries, so each step fails at once: hundreds of failed steps a
	// second, where production's retries make it about 130 in 10 s per room.
	opt := rs.Options()
	opt.MaxRetries, opt.DialerRetries, opt.DialerRetryTimeout = -1, 1, time.Millisecond
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := queue.NewStore(rdb, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		if _, err := store.PutRoom(ctx, queue.Room{Name: name, AdmitPerMinute: 600}.WithDefaults()); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logRecords{}
	ctl, err := admission.NewController(store, keys, admission.Config{
		Tick: 10 * time.Millisecond, Refresh: 30 * time.Millisecond, KeyRefresh: 50 * time.Millisecond,
		AdaptEvery: 50 * time.Millisecond, Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	runController(t, ctx, cancel, ctl)
	eventually(t, "both rooms cached", func() bool { return !ctl.StoreDown() })
	time.Sleep(100 * time.Millisecond)
	if warn := logs.at(slog.LevelWarn); len(warn) > 0 {
		t.Fatalf("warnings with the store up: %v", warn)
	}

	rs.Stop()
	time.Sleep(1500 * time.Millisecond) // ~300 failed steps at these rates
	warn := logs.at(slog.LevelWarn)
	if len(warn) != 1 || warn[0].Level != slog.LevelError || warn[0].Message != "store unreachable" {
		var msgs []string
		for _, r := range warn {
			msgs = append(msgs, r.Level.String()+" "+r.Message)
		}
		t.Fatalf("%d lines at WARN or above in 1.5 s of outage, want one ERROR \"store unreachable\":\n%s", len(warn), strings.Join(msgs, "\n"))
	}
	if c := attr(warn[0], "component").String(); c != "admission" {
		t.Errorf("component %q", c)
	}

	rs.Start(t)
	eventually(t, "the recovery said", func() bool { _, ok := logs.find("store reachable again"); return ok })
	back, _ := logs.find("store reachable again")
	if back.Level != slog.LevelInfo {
		t.Errorf("recovery at %v, want INFO", back.Level)
	}
	if d := attr(back, "down_ms"); d.Kind() != slog.KindFloat64 || d.Float64() < 1500 {
		t.Errorf("down_ms %v, want the outage's length in milliseconds", d)
	}
	if n := attr(back, "suppressed"); n.Kind() != slog.KindInt64 || n.Int64() < 10 {
		t.Errorf("suppressed %v, want the failures not logged", n)
	}
	if warn := logs.at(slog.LevelWarn); len(warn) != 1 {
		t.Errorf("%d lines at WARN or above in all, want 1", len(warn))
	}
	t.Logf("an outage of %.0f ms: %v failed steps, one line each way", attr(back, "down_ms").Float64(), attr(back, "failures"))
}
