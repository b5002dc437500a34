package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/notify"
)

// hookChannel is a room-hook channel that refuses for good while failing
// is set, and records what it delivers otherwise.
type hookChannel struct {
	mu        sync.Mutex
	failing   bool
	delivered []string
}

func (h *hookChannel) Name() string { return "room-webhook" }

func (h *hookChannel) Deliver(_ context.Context, m notify.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing {
		return &notify.PermanentError{Err: errors.New("receiver answered 410 Gone")}
	}
	h.delivered = append(h.delivered, m.Kind)
	return nil
}

func (h *hookChannel) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.delivered...)
}

// TestRoomHookDeadLetters: a room hook the organizer's receiver refused is
// listed, as the body it would have been posted and the error, and sent
// again on request once the receiver is fixed; nothing is left dead.
func TestRoomHookDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 60}`)
	if kinds, err := s.store.RecordHooks(ctx, "launch"); err != nil || len(kinds) != 1 {
		t.Fatalf("recorded %q (%v)", kinds, err)
	}
	ch := &hookChannel{failing: true}
	n, err := notify.New(s.store.Client(), notify.Config{
		Channels: []notify.Channel{ch}, SourcesOnly: true, Group: "room-hooks", Poll: 10 * time.Millisecond,
		Sources: []notify.Source{func(context.Context) ([]notify.Stream, error) {
			return []notify.Stream{admission.HookStream("launch")}, nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	dead := func() []any {
		t.Helper()
		r := s.admin("GET", "/admin/v1/rooms/launch/hooks/dead", "")
		if r.status != http.StatusOK {
			t.Fatalf("dead letters: %d %s", r.status, r.body)
		}
		return r.json(t)["dead"].([]any)
	}
	var list []any
	for deadline := time.Now().Add(10 * time.Second); len(list) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list = dead()
	}
	if len(list) != 1 {
		t.Fatalf("dead letters: %v", list)
	}
	d := list[0].(map[string]any)
	hook := d["hook"].(map[string]any)
	if hook["type"] != "room.created" || hook["room"] != "launch" || !strings.HasPrefix(hook["id"].(string), "hooks.launch:") ||
		!strings.Contains(d["error"].(string), "410 Gone") || d["attempts"].(float64) != 1 {
		t.Fatalf("dead letter: %v", d)
	}

	ch.mu.Lock()
	ch.failing = false
	ch.mu.Unlock()
	if r := s.admin("POST", "/admin/v1/rooms/launch/hooks/dead/retry", ""); r.status != http.StatusOK || r.json(t)["retried"] != 1.0 {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	for deadline := time.Now().Add(10 * time.Second); len(ch.got()) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if got := ch.got(); len(got) != 1 || got[0] != "room.created" {
		t.Fatalf("delivered after the retry: %q", got)
	}
	if list := dead(); len(list) != 0 {
		t.Fatalf("still dead after the retry: %v", list)
	}

	for _, c := range []struct{ method, path string }{
		{"GET", "/admin/v1/rooms/nope/hooks/dead"}, {"POST", "/admin/v1/rooms/nope/hooks/dead/retry"},
	} {
		if r := s.admin(c.method, c.path, ""); r.status != http.StatusNotFound {
			t.Errorf("%s %s: %d", c.method, c.path, r.status)
		}
	}
	if r := s.admin("GET", "/admin/v1/rooms/launch/hooks/dead?limit=0", ""); r.status != http.StatusBadRequest {
		t.Errorf("limit=0: %d", r.status)
	}
}
