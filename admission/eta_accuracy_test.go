package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// etaFan is one simulated fan: what they were told, and when they got in.
type etaFan struct {
	token    string
	joined   time.Time
	first    ETA
	samples  []etaSample // every 5 s while waiting, as the socket sends
	admitted time.Time
	left     bool
}

type etaSample struct {
	at  time.Time
	eta ETA
}

// etaRun is a whole sale played against one controller on a driven clock.
type etaRun struct {
	t     *testing.T
	ctx   context.Context
	clk   *fakeClock
	store *queue.Store
	ctls  []*Controller // three instances on one store
	rng   *rand.Rand
	start time.Time
	fans  []*etaFan
	// changes are when the organizer changed what admission does (a rate
	// change, a pause, a resume): no range shown before one can know of it.
	changes []time.Time
}

func newETARun(t *testing.T) *etaRun {
	clk := newClock()
	ctls, _, store := adaptiveInstances(t, queuetest.Run(t), 3, Config{Now: clk.Now})
	return &etaRun{t: t, ctx: context.Background(), clk: clk, store: store, ctls: ctls, rng: rand.New(rand.NewPCG(1, 2)), start: clk.Now()}
}

// c is the instance a fan's request reaches: any of the three.
func (r *etaRun) c() *Controller { return r.ctls[r.rng.IntN(len(r.ctls))] }

// at is the run's clock as seconds since its start.
func (r *etaRun) at(tm time.Time) float64 { return tm.Sub(r.start).Seconds() }

// join makes a new fan.
func (r *etaRun) join() {
	tk, err := r.c().Join(r.ctx, "sale", "", Entry{})
	if err != nil {
		r.t.Fatal(err)
	}
	f := &etaFan{token: tk.QueueToken, joined: r.clk.Now(), first: tk.ETA}
	if tk.Status == StatusAdmitted {
		f.admitted = tk.AdmittedAt
	}
	r.fans = append(r.fans, f)
}

// change applies an organizer's change to the room.
func (r *etaRun) change(edit func(*queue.Room)) {
	if _, err := r.c().UpdateRoom(r.ctx, "sale", func(room queue.Room) queue.Room { edit(&room); return room }); err != nil {
		r.t.Fatal(err)
	}
	r.changes = append(r.changes, r.clk.Now())
}

// run advances the clock by d in 100 ms ticks, as Run does on each
// instance: admission each tick, a refresh each 500 ms (the instances a
// tick apart); arrive says how many fans join in a tick; every 5 s each
// waiting fan reads their status, as the socket sends it.
func (r *etaRun) run(d time.Duration, arrive func(tick int) int, leaveChance float64) {
	const tick = 100 * time.Millisecond
	for i := range int(d / tick) {
		r.clk.Add(tick)
		for n, c := range r.ctls {
			if i%5 == n {
				if err := c.refresh(r.ctx); err != nil {
					r.t.Fatal(err)
				}
			}
			c.admitAll(r.ctx)
		}
		for range arrive(i) {
			r.join()
		}
		if i%50 != 0 {
			continue
		}
		for _, f := range r.fans {
			if !f.admitted.IsZero() || f.left {
				continue
			}
			if r.rng.Float64() < leaveChance {
				if err := r.c().Leave(r.ctx, "sale", f.token); err != nil {
					r.t.Fatal(err)
				}
				f.left = true
				continue
			}
			tk, err := r.c().Status(r.ctx, "sale", f.token)
			if err != nil {
				r.t.Fatal(err)
			}
			if tk.Status == StatusAdmitted {
				f.admitted = tk.AdmittedAt
				continue
			}
			f.samples = append(f.samples, etaSample{r.clk.Now(), tk.ETA})
		}
	}
}

// holds reports whether e, shown at `at`, held the wait that really ended
// at admitted: low <= real <= high, to the second the page shows.
func holds(e ETA, at, admitted time.Time) bool {
	real := admitted.Sub(at).Round(time.Second)
	return e.Expected >= 0 && e.Low <= real && real <= e.High
}

// foreseeable reports whether a range shown at `at` to a fan admitted at
// `admitted` could know everything that decided the wait: no change by the
// organizer came between.
func (r *etaRun) foreseeable(at, admitted time.Time) bool {
	for _, c := range r.changes {
		if c.After(at) && c.Before(admitted) {
			return false
		}
	}
	return true
}

// etaTally counts ranges that held, and the errors of the expected wait.
type etaTally struct {
	name      string
	n, held   int
	relErrors []float64 // |expected − real| / real
}

func (t *etaTally) add(e ETA, at, admitted time.Time) {
	real := admitted.Sub(at).Round(time.Second)
	if e.Expected < 0 || real < 5*time.Second { // unknown (paused), or in within a tick or two
		return
	}
	t.n++
	if holds(e, at, admitted) {
		t.held++
	}
	d := (e.Expected - real).Seconds()
	if d < 0 {
		d = -d
	}
	t.relErrors = append(t.relErrors, d/real.Seconds())
}

func (t *etaTally) share() float64 { return float64(t.held) / float64(max(1, t.n)) }

func (t *etaTally) String() string {
	slices.Sort(t.relErrors)
	q := func(p float64) float64 {
		if len(t.relErrors) == 0 {
			return 0
		}
		return 100 * t.relErrors[min(len(t.relErrors)-1, int(p*float64(len(t.relErrors))))]
	}
	return fmt.Sprintf("| %s | %d | %.1f%% | %.0f%% | %.0f%% |", t.name, t.n, 100*t.share(), q(0.5), q(0.9))
}

// TestETAAccuracy plays a whole 30-minute sale on a driven clock: a room
// idle for five minutes with a trickle of visitors, a rush of 300 fans (the
// cold start), a steady line fed at the admission rate, the organizer
// doubling the rate, a minute's pause, more arrivals, and the line
// draining; 3% of waiters give up each minute. It compares every range a fan was shown (the first, at the join,
// and each update the socket sends) with when they really got in, and
// fails unless at least 90% of the ranges hold in each phase, the first
// estimates included. Ranges shown before a change the organizer had not
// made yet (the rate change, the pause) cannot know of it: they are
// counted apart, and the figures say how quickly the range recovers.
// The table it logs is the one in docs/performance.md.
func TestETAAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a 30-minute sale: not in -short")
	}
	r := newETARun(t)
	if _, err := r.store.PutRoom(r.ctx, queue.Room{Name: "sale", AdmitPerMinute: 60, Challenge: queue.ChallengeOff}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	leave := 0.03 / 12 // 3% a minute, over checks every 5 s
	none := func(int) int { return 0 }
	every := func(ticks int) func(int) int { return func(i int) int { return b2i(i%ticks == 0) } }

	// Idle: a visitor every 30 s, admitted at once.
	r.run(5*time.Minute, every(300), 0)
	rush := r.clk.Now()
	// The rush: 300 fans in 5 s.
	r.run(5*time.Second, func(int) int { return 6 }, leave)
	steady := r.clk.Now()
	// A steady line: a fan a second joins, as many as are admitted.
	r.run(5*time.Minute, every(10), leave)
	// The organizer doubles the rate; arrivals go on, and the line shrinks.
	r.change(func(room *queue.Room) { room.AdmitPerMinute = 120 })
	doubled := r.clk.Now()
	r.run(4*time.Minute, every(10), leave)
	// A minute's pause; arrivals go on after it for two minutes, then the
	// line drains.
	r.change(func(room *queue.Room) { room.Paused = true })
	paused := r.clk.Now()
	r.run(time.Minute, every(10), leave)
	r.change(func(room *queue.Room) { room.Paused = false })
	resumed := r.clk.Now()
	r.run(2*time.Minute, every(10), leave)
	r.run(10*time.Minute, none, leave)

	phases := []struct {
		name     string
		from, to time.Time
	}{
		{"cold start (the rush)", rush, steady},
		{"steady line", steady, doubled},
		{"after the rate doubled", doubled, paused},
		{"during the pause", paused, resumed},
		{"draining after the pause", resumed, r.clk.Now()},
	}
	phase := func(at time.Time) int {
		for i, p := range phases {
			if !at.Before(p.from) && at.Before(p.to) {
				return i
			}
		}
		return -1
	}
	first := make([]etaTally, len(phases))
	updates := make([]etaTally, len(phases))
	var unforeseen etaTally
	unforeseen.name = "shown before a change not yet made"
	var recovery []time.Duration // after each change, until the ranges shown hold again
	for i := range phases {
		first[i].name, updates[i].name = phases[i].name, phases[i].name
	}
	admittedFans := 0
	for _, f := range r.fans {
		if f.admitted.IsZero() || f.left {
			if !f.left && f.joined.After(rush) {
				t.Errorf("a fan who joined at %.0f s was never admitted", r.at(f.joined))
			}
			continue
		}
		admittedFans++
		if p := phase(f.joined); p >= 0 {
			if r.foreseeable(f.joined, f.admitted) {
				first[p].add(f.first, f.joined, f.admitted)
			} else {
				unforeseen.add(f.first, f.joined, f.admitted)
			}
		}
		for _, s := range f.samples {
			p := phase(s.at)
			switch {
			case p < 0:
			case !r.foreseeable(s.at, f.admitted):
				unforeseen.add(s.eta, s.at, f.admitted)
			default:
				updates[p].add(s.eta, s.at, f.admitted)

			}
		}
	}
	// Recovery: after the rate change and the resume (while paused no
	// range is shown), the first 5-second round in which at least 90% of
	// the ranges shown hold.
	for _, ch := range []time.Time{doubled, resumed} {
		rounds := map[time.Time][2]int{}
		for _, f := range r.fans {
			if f.admitted.IsZero() || f.left {
				continue
			}
			for _, s := range f.samples {
				if s.at.After(ch) && r.foreseeable(s.at, f.admitted) && s.eta.Expected >= 0 {
					c := rounds[s.at]
					c[0]++
					if holds(s.eta, s.at, f.admitted) {
						c[1]++
					}
					rounds[s.at] = c
				}
			}
		}
		var ats []time.Time
		for at := range rounds {
			ats = append(ats, at)
		}
		slices.SortFunc(ats, time.Time.Compare)
		for _, at := range ats {
			if c := rounds[at]; float64(c[1]) >= 0.9*float64(c[0]) {
				recovery = append(recovery, at.Sub(ch))
				break
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%d fans, %d admitted\n", len(r.fans), admittedFans)
	fmt.Fprintln(&b, "| ranges shown | n | held the real wait | median error of the expected wait | 90th percentile error |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	for i := range phases {
		if first[i].n > 0 {
			first[i].name = "first, at the join: " + phases[i].name
			fmt.Fprintln(&b, first[i].String())
		}
	}
	for i := range phases {
		if updates[i].n > 0 {
			updates[i].name = "updates: " + phases[i].name
			fmt.Fprintln(&b, updates[i].String())
		}
	}
	fmt.Fprintln(&b, unforeseen.String())
	fmt.Fprintf(&b, "after the rate change and after the resume, the ranges shown held again (>= 90%% of a 5 s round) within %v\n", recovery)
	t.Log("\n" + b.String())

	for _, tl := range append(first, updates...) {
		if tl.n > 0 && tl.share() < 0.9 {
			t.Errorf("%s: %d of %d ranges held the real wait (%.1f%%), want at least 90%%", tl.name, tl.held, tl.n, 100*tl.share())
		}
	}
	if first[0].n < 250 {
		t.Errorf("only %d fans of the rush measured", first[0].n)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
