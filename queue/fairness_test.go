package queue_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestDrawOrderIsTheDocumentedAlgorithm recomputes the order the way
// queue/doc.go tells a fan to: sort by the hex SHA-256 of
// "<seed hex>:<queue id>".
func TestDrawOrderIsTheDocumentedAlgorithm(t *testing.T) {
	t.Parallel()
	seed := make([]byte, queue.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	// The commitment is over the seed's bytes.
	if got, want := queue.Commitment(make([]byte, 32)), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"; got != want {
		t.Fatalf("commitment of 32 zero bytes: %s, want %s", got, want)
	}
	var ids []string
	for i := int64(1); i <= 500; i++ {
		ids = append(ids, strconv.FormatInt(i, 36))
	}
	key := func(id string) string {
		sum := sha256.Sum256([]byte(hex.EncodeToString(seed) + ":" + id))
		return hex.EncodeToString(sum[:])
	}
	want := slices.Clone(ids)
	sort.Slice(want, func(i, j int) bool { return key(want[i]) < key(want[j]) })
	in := slices.Clone(ids)
	got := queue.DrawOrder(seed, in)
	if !slices.Equal(got, want) {
		t.Fatalf("DrawOrder differs from the documented algorithm:\n got %v\nwant %v", got[:10], want[:10])
	}
	if !slices.Equal(in, ids) {
		t.Fatal("DrawOrder modified its input")
	}
	// The order does not depend on the order the ids are given in.
	slices.Reverse(in)
	if !slices.Equal(queue.DrawOrder(seed, in), want) {
		t.Fatal("DrawOrder depends on the input order")
	}
}

// TestDrawOrderIsUniform: over 20,000 deterministic seeds, each of 5
// participants lands in each place equally often, and each of the 120
// orders comes up equally often, by a chi-square test at the 0.999 level.
// The seeds are fixed, so the test cannot flake.
func TestDrawOrderIsUniform(t *testing.T) {
	t.Parallel()
	const n, draws = 5, 20000
	ids := []string{"1", "2", "3", "a", "zz"}
	rng := rand.NewChaCha8([32]byte{'c', 'g'})
	var places [n][n]float64 // id index → place → count
	perms := map[string]float64{}
	seed := make([]byte, queue.SeedSize)
	for range draws {
		_, _ = rng.Read(seed)
		order := queue.DrawOrder(seed, ids)
		for place, id := range order {
			places[slices.Index(ids, id)][place]++
		}
		perms[string(fmtOrder(order))]++
	}
	chi2 := func(counts []float64, cells int) float64 {
		exp := float64(draws) / float64(cells)
		var x float64
		for _, c := range counts {
			x += (c - exp) * (c - exp) / exp
		}
		// Cells never hit count in full.
		x += float64(cells-len(counts)) * exp
		return x
	}
	for i, id := range ids {
		// 0.999 quantile of chi-square with 4 degrees of freedom.
		if x := chi2(places[i][:], n); x > 18.467 {
			t.Errorf("id %s: places %v: chi-square %.2f > 18.467 (df 4, p 0.001)", id, places[i], x)
		}
	}
	var counts []float64
	for _, c := range perms {
		counts = append(counts, c)
	}
	t.Logf("orders: chi-square %.2f (critical %.2f)", chi2(counts, 120), chi2Quantile999(119))
	if crit := chi2Quantile999(119); len(perms) != 120 || chi2(counts, 120) > crit {
		t.Errorf("orders: %d of 120 seen, chi-square %.2f > %.2f (df 119, p 0.001)", len(perms), chi2(counts, 120), crit)
	}
}

func fmtOrder(order []string) []byte {
	var b []byte
	for _, id := range order {
		b = append(b, id...)
		b = append(b, ' ')
	}
	return b
}

// chi2Quantile999 is the 0.999 quantile of chi-square with k degrees of
// freedom by the Wilson–Hilferty approximation (within 0.1% for k > 30).
func chi2Quantile999(k float64) float64 {
	const z = 3.090232 // standard normal 0.999 quantile
	a := 2 / (9 * k)
	return k * math.Pow(1-a+z*math.Sqrt(a), 3)
}

// lineOrder returns the room's line, head first.
func lineOrder(t *testing.T, rdb redis.UniversalClient, room string) []string {
	t.Helper()
	ids, err := rdb.ZRange(context.Background(), "cg:{"+room+"}:q", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// resetEntries counts the position log's reset entries.
func resetEntries(t *testing.T, rdb redis.UniversalClient, room string) int {
	t.Helper()
	ms, err := rdb.XRange(context.Background(), "cg:{"+room+"}:log", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Values["reset"] != nil {
			n++
		}
	}
	return n
}

// randomRoom is a random_prequeue room whose queue is open and whose sale
// starts in an hour of clk's time.
func randomRoom(clk *clock, name string) queue.Room {
	return queue.Room{
		Name: name, AdmitPerMinute: 60000, Mode: queue.ModeRandomPrequeue,
		QueueOpensAt: clk.Now().Add(-time.Minute), SaleStartsAt: clk.Now().Add(time.Hour),
	}
}

// TestRandomPrequeueDraw walks a random_prequeue room through its sale:
// the commitment comes before the first join, nobody is admitted before
// the draw (even past sale_starts_at), three instances draw concurrently
// and exactly one draw happens, the pre-queue comes out in the published
// order ahead of everyone who joined after the sale started (FIFO), and
// position trackers follow the new order exactly.
func TestRandomPrequeueDraw(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		stores := []*queue.Store{mustStore(t, rdb, clk), mustStore(t, rdb, clk), mustStore(t, rdb, clk)}
		s := stores[0]
		mustRoom(t, s, randomRoom(clk, "r"))

		committed, err := s.Fairness(ctx, "r")
		if err != nil || committed.Commitment == "" || committed.Seed != nil || committed.Drawn() || committed.Mode != queue.ModeRandomPrequeue {
			t.Fatalf("fairness once the queue opened: %+v %v", committed, err)
		}
		early := s.NewTracker("r")
		if err := early.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var pre []string
		for i := range 40 {
			p := mustJoin(t, stores[i%3], "r", "")
			if !p.Undrawn {
				t.Fatalf("pre-queue join %d: not marked undrawn", i)
			}
			pre = append(pre, p.ID)
		}
		for _, i := range []int{0, 7, 39} {
			if _, err := s.Leave(ctx, "r", pre[i]); err != nil {
				t.Fatal(err)
			}
		}
		stay := slices.Clone(pre)
		stay = slices.Delete(stay, 39, 40)
		stay = slices.Delete(stay, 7, 8)
		stay = slices.Delete(stay, 0, 1)
		if f, _ := s.Fairness(ctx, "r"); f.Commitment != committed.Commitment || f.Seed != nil {
			t.Fatalf("the commitment changed or the seed leaked: %+v", f)
		}
		if _, err := s.DrawParticipants(ctx, "r"); !errors.Is(err, queue.ErrNotDrawn) {
			t.Fatalf("participants before the draw: %v", err)
		}
		if res, err := s.Draw(ctx, "r"); err != nil || res.Done {
			t.Fatalf("draw before the sale: %+v %v", res, err)
		}

		clk.Add(time.Hour) // the sale starts; nobody has drawn yet
		var post []string
		for range 5 {
			p := mustJoin(t, s, "r", "")
			if !p.Undrawn {
				t.Fatal("a join before the draw is not marked undrawn")
			}
			post = append(post, p.ID)
		}
		for _, st := range stores {
			clk.Add(time.Second)
			if a, err := st.Admit(ctx, "r", 1000); err != nil || len(a.IDs) > 0 {
				t.Fatalf("admitted before the draw: %+v %v", a, err)
			}
		}

		var wg sync.WaitGroup
		drew := make([]int, len(stores))
		for i, st := range stores {
			wg.Go(func() {
				for range 200 {
					res, err := st.Draw(ctx, "r")
					if err != nil {
						t.Error(err)
						return
					}
					if res.Drew {
						drew[i]++
					}
					if res.Done {
						return
					}
				}
				t.Error("the draw never finished")
			})
		}
		wg.Wait()
		if total := drew[0] + drew[1] + drew[2]; total != 1 {
			t.Fatalf("draws by instance %v: want exactly one", drew)
		}
		if n := resetEntries(t, rdb, "r"); n != 1 {
			t.Fatalf("%d reset entries, want 1", n)
		}

		f, err := s.Fairness(ctx, "r")
		if err != nil || !f.Drawn() || f.Commitment != committed.Commitment || queue.Commitment(f.Seed) != f.Commitment {
			t.Fatalf("fairness after the draw: %+v %v", f, err)
		}
		if f.Participants != len(stay) || f.Cutoff != mustSeq(t, pre[39]) {
			t.Fatalf("participants %d (want %d), cutoff %d (want %s)", f.Participants, len(stay), f.Cutoff, pre[39])
		}
		ids, err := s.DrawParticipants(ctx, "r")
		if err != nil || !slices.Equal(ids, stay) {
			t.Fatalf("participants %v %v, want the pre-queue still in line %v", ids, err, stay)
		}
		want := append(queue.DrawOrder(f.Seed, ids), post...)
		if got := lineOrder(t, rdb, "r"); !slices.Equal(got, want) {
			t.Fatalf("line after the draw:\n got %v\nwant %v", got, want)
		}
		for i, id := range want {
			p, err := s.Status(ctx, "r", id)
			if err != nil || p.Position != int64(i+1) || p.Undrawn {
				t.Fatalf("%s: %+v %v, want position %d", id, p, err, i+1)
			}
		}
		all := append(slices.Clone(pre), post...)
		checkPositions(t, rdb, early, "r", all)
		if !early.Drawn() {
			t.Fatal("the tracker did not notice the draw")
		}
		late := s.NewTracker("r")
		checkPositions(t, rdb, late, "r", all)

		// After the draw: joins are FIFO at the end, the line is admitted
		// in the drawn order, and the trackers keep up.
		last := mustJoin(t, s, "r", "")
		if last.Undrawn || last.Position != int64(len(want)+1) {
			t.Fatalf("join after the draw: %+v", last)
		}
		all, want = append(all, last.ID), append(want, last.ID)
		clk.Add(5 * time.Millisecond)
		a, err := s.Admit(ctx, "r", 1000)
		if err != nil || len(a.IDs) == 0 || !slices.Equal(a.IDs, want[:len(a.IDs)]) {
			t.Fatalf("admitted %v %v, want the head of %v", a.IDs, err, want)
		}
		if _, err := s.Leave(ctx, "r", want[len(a.IDs)+2]); err != nil {
			t.Fatal(err)
		}
		checkPositions(t, rdb, early, "r", all)
		checkPositions(t, rdb, late, "r", all)

		if res, err := stores[1].Draw(ctx, "r"); err != nil || !res.Done || res.Drew {
			t.Fatalf("a later draw call: %+v %v", res, err)
		}
		if n := resetEntries(t, rdb, "r"); n != 1 {
			t.Fatalf("%d reset entries after another call, want 1", n)
		}
	})
}

func mustSeq(t *testing.T, id string) int64 {
	t.Helper()
	n, err := queue.Score(id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDrawEdgeCases: a room with no pre-queue draws nobody and then
// admits; a fifo room never draws; deleting a room deletes its draw.
func TestDrawEdgeCases(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)

		// The sale already started when the room was made: nobody was in
		// a pre-queue, the draw is empty, admission starts after it.
		late := randomRoom(clk, "late")
		late.QueueOpensAt, late.SaleStartsAt = clk.Now().Add(-2*time.Hour), clk.Now().Add(-time.Hour)
		mustRoom(t, s, late)
		p := mustJoin(t, s, "late", "")
		if !p.Undrawn {
			t.Fatal("join before the draw not marked undrawn")
		}
		if a, _ := s.Admit(ctx, "late", 10); len(a.IDs) != 0 {
			t.Fatal("admitted before the (empty) draw")
		}
		if res, err := s.Draw(ctx, "late"); err != nil || !res.Drew || res.Participants != 0 {
			t.Fatalf("empty draw: %+v %v", res, err)
		}
		clk.Add(time.Second)
		if a, _ := s.Admit(ctx, "late", 10); !slices.Equal(a.IDs, []string{p.ID}) {
			t.Fatalf("after the empty draw admitted %v", a.IDs)
		}

		mustRoom(t, s, queue.Room{Name: "fifo", SaleStartsAt: clk.Now().Add(-time.Minute)})
		if res, err := s.Draw(ctx, "fifo"); err != nil || res.Done {
			t.Fatalf("fifo room draw: %+v %v", res, err)
		}
		if f, err := s.Fairness(ctx, "fifo"); err != nil || f.Commitment != "" || f.Mode != queue.ModeFIFO {
			t.Fatalf("fifo fairness: %+v %v", f, err)
		}
		if _, err := s.DrawParticipants(ctx, "fifo"); !errors.Is(err, queue.ErrNotDrawn) {
			t.Fatalf("fifo participants: %v", err)
		}

		// Before the queue opens there is no commitment yet.
		soon := randomRoom(clk, "soon")
		soon.QueueOpensAt = clk.Now().Add(time.Minute)
		mustRoom(t, s, soon)
		if f, err := s.Fairness(ctx, "soon"); err != nil || f.Commitment != "" {
			t.Fatalf("fairness before opening: %+v %v", f, err)
		}
		if res, err := s.Draw(ctx, "soon"); err != nil || res.Done {
			t.Fatalf("draw before opening: %+v %v", res, err)
		}

		for _, name := range []string{"nope"} {
			if _, err := s.Fairness(ctx, name); !errors.Is(err, queue.ErrRoomNotFound) {
				t.Fatalf("fairness of a missing room: %v", err)
			}
			if _, err := s.DrawParticipants(ctx, name); !errors.Is(err, queue.ErrRoomNotFound) {
				t.Fatalf("participants of a missing room: %v", err)
			}
			if _, err := s.Draw(ctx, name); !errors.Is(err, queue.ErrRoomNotFound) {
				t.Fatalf("draw of a missing room: %v", err)
			}
		}
		if err := s.DeleteRoom(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		if n, _ := rdb.Exists(ctx, "cg:{late}:fair").Result(); n != 0 {
			t.Fatal("the draw outlived its room")
		}
	})
}
