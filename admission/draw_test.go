package admission_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestControllersDrawThePrequeueOnce: three instances' controllers run a
// random_prequeue room on a shared fake clock. They commit to a seed once
// the queue opens; fans see "prequeue" until the draw; nobody is admitted
// before the draw; exactly one draw happens; admissions follow the drawn
// order.
func TestControllersDrawThePrequeueOnce(t *testing.T) {
	rs := queuetest.Run(t)
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	var ctls []*admission.Controller
	var stores []*queue.Store
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for range 3 {
		store, err := queue.NewStore(rs.Client(t), queue.Config{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close)
		keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := admission.NewController(store, keys, admission.Config{Tick: 5 * time.Millisecond, Refresh: 20 * time.Millisecond, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := ctl.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		ctls, stores = append(ctls, ctl), append(stores, store)
	}
	room := queue.Room{
		Name: "r", AdmitPerMinute: 600, Mode: queue.ModeRandomPrequeue,
		QueueOpensAt: clk.Now().Add(-time.Minute), SaleStartsAt: clk.Now().Add(time.Hour),
	}.WithDefaults()
	if _, err := stores[0].PutRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	rdb := rs.Client(t)
	eventually(t, "commitment made by the controllers", func() bool {
		n, _ := rdb.HLen(ctx, "cg:{r}:fair").Result()
		return n > 0
	})

	var tickets []admission.Ticket
	for i := range 30 {
		tk, err := ctls[i%3].Join(ctx, "r", "", admission.Entry{})
		if err != nil || tk.Status != admission.StatusPrequeue {
			t.Fatalf("join %d: %+v %v", i, tk, err)
		}
		tickets = append(tickets, tk)
	}
	clk.Add(time.Hour) // the sale starts
	drawn := false
	eventually(t, "everyone admitted", func() bool {
		clk.Add(100 * time.Millisecond)
		st, err := stores[0].Stats(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		f, err := stores[0].Fairness(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if st.AdmittedTotal > 0 && !f.Drawn() {
			t.Fatal("admitted before the draw")
		}
		if !drawn && f.Drawn() {
			drawn = true
			// Right after the draw, status reads say "waiting".
			if tk, err := ctls[1].Status(ctx, "r", tickets[0].QueueToken); err != nil || tk.Status == admission.StatusPrequeue {
				t.Fatalf("status after the draw: %+v %v", tk, err)
			}
		}
		return st.AdmittedTotal == int64(len(tickets))
	})
	// Admissions append "h" entries to the log; the draw one reset.
	ms, err := rdb.XRange(ctx, "cg:{r}:log", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	resets := 0
	for _, m := range ms {
		if m.Values["reset"] != nil {
			resets++
		}
	}
	if resets != 1 {
		t.Fatalf("%d draws, want 1", resets)
	}

	f, err := stores[0].Fairness(ctx, "r")
	if err != nil || f.Participants != len(tickets) {
		t.Fatalf("fairness: %+v %v", f, err)
	}
	ids, err := stores[0].DrawParticipants(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	order := queue.DrawOrder(f.Seed, ids)
	at := map[string]time.Time{}
	for _, tk := range tickets {
		got, err := ctls[2].Status(ctx, "r", tk.QueueToken)
		if err != nil || got.Status != admission.StatusAdmitted {
			t.Fatalf("%s: %+v %v", tk.QueueID, got, err)
		}
		at[tk.QueueID] = got.AdmittedAt
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return at[a].Compare(at[b]) }) {
		t.Fatal("admissions did not follow the drawn order")
	}
}
