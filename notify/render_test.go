package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/webhooksig"
)

// TestSecondNotifierOfItsOwnStreams: a Notifier with SourcesOnly delivers
// its sources' messages, with their Data, through a webhook that renders
// them itself; the fans' Notifier, beside it on the same Redis, never
// sees them, and it never sees the fans'.
func TestSecondNotifierOfItsOwnStreams(t *testing.T) {
	t.Parallel()
	notifyBackends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		hooks := Stream{Name: "hooks.launch", Prefix: "cg:{launch}:hook:"}
		// A producer of its own writes the entry (as queue's script does),
		// without registering the stream.
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: hooks.Outbox(), Values: []any{
			"kind", "room.paused", "room", "launch", "at", "1773500966123", "data", `{"seq":1}`,
		}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewOutbox(rdb).Append(ctx, Named("waiters.launch"), Message{Kind: "queue.near", Room: "launch"}); err != nil {
			t.Fatal(err)
		}

		var (
			mu     sync.Mutex
			bodies []string
			keys   []string
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := webhooksig.Verify([]byte("s3cret"), r.Header.Get(webhooksig.Header), body, time.Now(), 0); err != nil {
				t.Errorf("signature: %v", err)
			}
			mu.Lock()
			bodies, keys = append(bodies, string(body)), append(keys, r.Header.Get("Idempotency-Key"))
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		render := func(m Message) ([]byte, error) {
			if m.Data == "" {
				return nil, errors.New("no data")
			}
			return []byte(m.Stream + ":" + m.ID + " " + m.Kind + " " + m.Room + " " + m.At.Format(time.RFC3339Nano) + " " + m.Data), nil
		}
		ch, err := NewWebhookChannel(WebhookConfig{Name: "room-webhook", URL: srv.URL, Secret: "s3cret", Render: render})
		if err != nil {
			t.Fatal(err)
		}
		own := mustNotifier(t, rdb, Config{
			Channels: []Channel{ch}, Group: "room-hooks", SourcesOnly: true,
			Sources: []Source{func(context.Context) ([]Stream, error) { return []Stream{hooks}, nil }},
		})
		fans := newRecordingChannel("log")
		if n := mustProcess(t, mustNotifier(t, rdb, Config{Channels: []Channel{fans}})); n != 1 {
			t.Fatalf("the fans' Notifier attempted %d, want the waiter's message alone", n)
		}
		if n := mustProcess(t, own); n != 1 {
			t.Fatalf("attempted %d, want 1", n)
		}
		if n := mustProcess(t, own); n != 0 {
			t.Fatalf("attempted %d again", n)
		}
		want := "hooks.launch:" + id + " room.paused launch 2026-03-14T15:09:26.123Z {\"seq\":1}"
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 || bodies[0] != want || keys[0] != "hooks.launch:"+id {
			t.Fatalf("posted %q with keys %q\nwant %q", bodies, keys, want)
		}
		got := fans.counts()
		for k := range got {
			if !strings.HasPrefix(k, "waiters.launch:") {
				t.Fatalf("the fans' channel got %v", got)
			}
		}
		if len(got) != 1 {
			t.Fatalf("the fans' channel got %v", got)
		}
	})
}

// TestDataRoundTrip: a message's Data is written and read back as is, and
// a message without one writes no field for it.
func TestDataRoundTrip(t *testing.T) {
	t.Parallel()
	m := parseMessage("s", redis.XMessage{ID: "1-0", Values: map[string]any{"kind": "room.quiet", "data": `{"seq":3}`}})
	if m.Data != `{"seq":3}` {
		t.Fatalf("Data %q", m.Data)
	}
	for i, f := range (Message{Kind: "queue.near"}).fields() {
		if f == "data" && i%2 == 0 {
			t.Fatal("a message without Data wrote a data field")
		}
	}
	if f := (Message{Data: "x"}).fields(); f[len(f)-2] != "data" || f[len(f)-1] != "x" {
		t.Fatalf("fields %v", f)
	}
}
