package main

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

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/webhooksig"
)

// hookReceiver is an organizer's endpoint for room hooks: it checks each
// delivery's signature and Idempotency-Key, answers the next status of
// fail (then 204), and keeps what it got.
type hookReceiver struct {
	t      *testing.T
	secret string
	url    string

	mu     sync.Mutex
	fail   []int
	got    []api.RoomHook // every delivery answered 2xx
	tries  []string       // every delivery's Idempotency-Key
	bodies map[string]string
	ch     chan api.RoomHook
}

func startHookReceiver(t *testing.T, secret string, fail ...int) *hookReceiver {
	r := &hookReceiver{t: t, secret: secret, fail: fail, bodies: map[string]string{}, ch: make(chan api.RoomHook, 64)}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks?token=x"
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, webhooksig.MaxBody+1))
	if err := webhooksig.Verify([]byte(r.secret), req.Header.Get(webhooksig.Header), body, time.Now(), 0); err != nil {
		r.t.Errorf("room hook with a bad signature: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var h api.RoomHook
	if err := json.Unmarshal(body, &h); err != nil {
		r.t.Errorf("room hook %q: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	if key != h.ID || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("%s with Idempotency-Key %q, Content-Type %q: %s", req.Method, key, req.Header.Get("Content-Type"), body)
	}
	if prev, ok := r.bodies[key]; ok && prev != string(body) {
		r.t.Errorf("%s delivered as %s, then as %s", key, prev, body)
	}
	r.bodies[key] = string(body)
	r.tries = append(r.tries, key)
	if len(r.fail) > 0 {
		code := r.fail[0]
		r.fail = r.fail[1:]
		w.WriteHeader(code)
		return
	}
	r.got = append(r.got, h)
	w.WriteHeader(http.StatusNoContent)
	r.ch <- h
}

// wait returns the next delivered hook of type typ, skipping others.
func (r *hookReceiver) wait(typ string) api.RoomHook {
	r.t.Helper()
	for timeout := time.After(15 * time.Second); ; {
		select {
		case h := <-r.ch:
			if h.Type == typ {
				return h
			}
		case <-timeout:
			r.t.Fatalf("no %s within 15 s", typ)
		}
	}
}

// TestRoomHooksThroughThreeInstances: three instances on one Redis, with
// changes made through each: the organizer's endpoint gets every change
// once, signed, numbered in order, with the room's state.
func TestRoomHooksThroughThreeInstances(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	const secret = "room-hook-secret-0123456789"
	rcv := startHookReceiver(t, secret)
	env := map[string]string{
		"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok",
		"CROWDGATE_ROOM_WEBHOOK_URL": rcv.url, "CROWDGATE_ROOM_WEBHOOK_SECRET": secret,
	}
	insts := []*instance{startServe(t, env), startServe(t, env), startServe(t, env)}
	auth := []string{"Authorization", "Bearer tok"}
	if code, m := call(t, "PUT", insts[0].base+"/admin/v1/rooms/launch", `{"admit_per_minute": 600}`, auth...); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	if h := rcv.wait("room.created"); h.Room != "launch" || h.Seq != 1 || !h.State.QueueOpen || h.State.RatePerMinute != 600 {
		t.Fatalf("room.created: %+v", h)
	}
	paused := time.Now()
	if code, m := call(t, "PATCH", insts[1].base+"/admin/v1/rooms/launch", `{"paused": true}`, auth...); code != 200 {
		t.Fatalf("pause: %d %v", code, m)
	}
	if h := rcv.wait("room.paused"); h.Seq != 2 || !h.State.Paused {
		t.Fatalf("room.paused: %+v", h)
	}
	t.Logf("room.paused delivered %v after the PATCH (recorded within a second, sent within the next)", time.Since(paused).Round(time.Millisecond))
	if code, m := call(t, "PATCH", insts[2].base+"/admin/v1/rooms/launch", `{"admit_per_minute": 1200}`, auth...); code != 200 {
		t.Fatalf("rate: %d %v", code, m)
	}
	if h := rcv.wait("room.rate_changed"); h.Seq != 3 || h.From == nil || *h.From != 600 || *h.To != 1200 || h.Source != "organizer" {
		t.Fatalf("room.rate_changed: %+v", h)
	}
	if code, m := call(t, "PATCH", insts[0].base+"/admin/v1/rooms/launch", `{"paused": false}`, auth...); code != 200 {
		t.Fatalf("resume: %d %v", code, m)
	}
	rcv.wait("room.resumed")

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	seen := map[string]int{}
	for _, h := range rcv.got {
		seen[h.Type]++
	}
	for _, typ := range []string{"room.created", "room.paused", "room.rate_changed", "room.resumed"} {
		if seen[typ] != 1 {
			t.Errorf("%s delivered %d times, want once (all: %v)", typ, seen[typ], seen)
		}
	}
	if len(rcv.got) != 4 {
		t.Errorf("%d deliveries, want 4: %+v", len(rcv.got), rcv.got)
	}
}

// TestRoomHooksRetriedAcrossARestart: a change recorded while no sender
// runs is delivered once one starts; an endpoint that fails twice gets it
// on the third try, from a sender started after the first one stopped,
// with the same id and body each time.
func TestRoomHooksRetriedAcrossARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := queuetest.NewClient(t)
	clk := queuetest.NewClock(time.Now())
	store, err := queue.NewStore(rdb, queue.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if _, err := store.PutRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 60}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if kinds, err := store.RecordHooks(ctx, "launch"); err != nil || len(kinds) != 1 {
		t.Fatalf("recorded %q (%v)", kinds, err)
	}
	const secret = "room-hook-secret-0123456789"
	rcv := startHookReceiver(t, secret, http.StatusInternalServerError, http.StatusBadGateway)
	sender := func() *notify.Notifier {
		t.Helper()
		ch, err := notify.NewWebhookChannel(notify.WebhookConfig{Name: roomHookChannel, URL: rcv.url, Secret: secret, Render: gateway.RoomHookBody})
		if err != nil {
			t.Fatal(err)
		}
		src := func(context.Context) ([]notify.Stream, error) {
			return []notify.Stream{admission.HookStream("launch")}, nil
		}
		cfg := roomHookConfig(ch, src)
		cfg.Now = clk.Now
		n, err := notify.New(rdb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	process := func(n *notify.Notifier, want int) {
		t.Helper()
		if got, err := n.Process(ctx); err != nil || got != want {
			t.Fatalf("attempted %d (%v), want %d", got, err, want)
		}
	}

	first := sender()
	process(first, 1) // 500
	// first stops; another starts, and waits out the backoff.
	second := sender()
	process(second, 0)
	clk.Add(roomHookMinBackoff)
	process(second, 1) // 502
	clk.Add(2 * roomHookMinBackoff)
	process(second, 1) // delivered
	clk.Add(time.Hour)
	process(second, 0)

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.tries) != 3 || rcv.tries[0] != rcv.tries[2] || rcv.tries[1] != rcv.tries[2] {
		t.Fatalf("tries %q, want three of one id", rcv.tries)
	}
	if len(rcv.got) != 1 || rcv.got[0].Type != "room.created" || rcv.got[0].ID != rcv.tries[0] || !strings.HasPrefix(rcv.got[0].ID, "hooks.launch:") {
		t.Fatalf("delivered %+v", rcv.got)
	}
}

// TestRoomWebhookNeedsASecret: a room webhook without a secret, or with a
// URL that is not http(s), stops serve before it starts.
func TestRoomWebhookNeedsASecret(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"CROWDGATE_ROOM_WEBHOOK_URL": "https://hooks.example/crowdgate"},
		{"CROWDGATE_ROOM_WEBHOOK_URL": "ftp://hooks.example/crowdgate", "CROWDGATE_ROOM_WEBHOOK_SECRET": "s"},
	} {
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--room-webhook-") {
			t.Errorf("%v: %v, want an error naming the flag", env, err)
		}
	}
}
