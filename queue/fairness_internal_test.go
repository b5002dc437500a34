package queue

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestDrawTakeover: an instance that took the draw, recorded the
// participants, moved some of them and then died is taken over once its
// lease runs out, and the line ends in exactly the published order; the
// dead drawer can no longer finish.
func TestDrawTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := queuetest.NewClient(t)
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	s, err := NewStore(rdb, Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	room := Room{
		Name: "r", AdmitPerMinute: 600, Mode: ModeRandomPrequeue,
		QueueOpensAt: clk.Now(), SaleStartsAt: clk.Now().Add(time.Minute),
	}.WithDefaults()
	if _, err := s.PutRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2500 { // more than two chunks
		p, err := s.Join(ctx, "r", "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	clk.Add(time.Minute)

	// The dead drawer: begin, record, move one chunk, vanish.
	k := keysFor("r")
	keys := []string{k.fair, k.cfg, k.seq, k.line, k.stats, k.log}
	fair := func(args ...any) []any {
		t.Helper()
		res, err := s.scripts.fair.Run(ctx, rdb, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := fair("begin", clk.Now().UnixMilli(), "dead", drawLease.Milliseconds())
	if str(res[0]) != "go" || res[5].(int64) != 0 {
		t.Fatalf("begin: %v", res)
	}
	if n, _ := s.scripts.fair.Run(ctx, rdb, keys, "list", "dead", joinIDs(ids), clk.Now().UnixMilli(), drawLease.Milliseconds()).Int(); n != 1 {
		t.Fatal("list refused")
	}
	seed := mustHex(t, str(res[1]))
	order := DrawOrder(seed, ids)
	args := []any{"place", "dead", clk.Now().UnixMilli(), drawLease.Milliseconds()}
	for i, id := range order[:drawChunk] {
		args = append(args, i+1, id)
	}
	if n, _ := s.scripts.fair.Run(ctx, rdb, keys, args...).Int(); n != 1 {
		t.Fatal("place refused")
	}

	// Someone leaves meanwhile; another instance waits for the lease.
	if _, err := s.Leave(ctx, "r", order[5]); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Draw(ctx, "r"); err != nil || r.Done {
		t.Fatalf("draw during the lease: %+v %v", r, err)
	}
	if a, _ := s.Admit(ctx, "r", 100); len(a.IDs) != 0 {
		t.Fatal("admitted during a draw")
	}
	clk.Add(drawLease + time.Second)
	if r, err := s.Draw(ctx, "r"); err != nil || !r.Drew || r.Participants != len(ids) {
		t.Fatalf("takeover: %+v %v", r, err)
	}
	want := slices.Delete(slices.Clone(order), 5, 6)
	got, err := rdb.ZRange(ctx, k.line, 0, -1).Result()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("line after the takeover differs from the drawn order (%v)", err)
	}
	if n, _ := s.scripts.fair.Run(ctx, rdb, keys, "finish", "dead", clk.Now().UnixMilli(), 100, 1).Int(); n != 0 {
		t.Fatal("the dead drawer finished after the takeover")
	}
	if p, err := s.DrawParticipants(ctx, "r"); err != nil || !slices.Equal(p, ids) {
		t.Fatalf("participants: %d %v", len(p), err)
	}
}

func joinIDs(ids []string) string { return strings.Join(ids, " ") }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
