package admission

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// BookingHealth is how the booking core behind a room is doing: what
// adaptive admission steers by (Config.Health).
type BookingHealth struct {
	// HeldTickets are tickets in live holds behind the room: fans in the
	// middle of checking out.
	HeldTickets int64
	// P99 is the 99th percentile of recent booking requests' latency;
	// Samples is how many requests it is over.
	P99     time.Duration
	Samples int
}

// The additive-increase, multiplicative-decrease policy of adaptive rooms.
const (
	// adaptDecrease multiplies the rate when a target is exceeded.
	adaptDecrease = 0.7
	// adaptIncrease is the step up, as a fraction of the organizer's rate,
	// when every target has headroom: from the start (a tenth) to the
	// organizer's rate in nine steps.
	adaptIncrease = 0.1
	// adaptHeadroom: below this fraction of every target there is room to
	// grow; between it and the target the rate holds.
	adaptHeadroom = 0.8
	// adaptFloor is the lowest rate, as a fraction of the organizer's (and
	// at least 1/min): a room never stops admitting altogether, so the
	// controller keeps seeing what admissions do.
	adaptFloor = 0.01
	// adaptMinSamples: a p99 over fewer requests is noise (with 50 it is
	// already the slowest one); with fewer, the latency target counts as met.
	adaptMinSamples = 50
	// adaptSettleSteps is how many periods a room that steers by its
	// origin waits after a change of rate before it rises again, or cuts
	// again: about one 5-s reading window with 2-s periods. Fans admitted
	// now load the origin for as long as they browse, and the reading
	// covers the last 5 s, so a step taken sooner would answer the
	// controller's own previous step, not the origin, and the rate would
	// swing far past the origin's capacity both ways.
	adaptSettleSteps = 3
	// adaptMinRise is the smallest rise of a room that steers by its
	// origin, as a fraction of adaptIncrease's: its rises shrink as the
	// origin nears a target (see originStep), but never to nothing.
	adaptMinRise = 0.2
)

// Which way a room's rate last changed, when that was under
// adaptSettleSteps periods ago (adaptStep's recent).
const (
	recentCut  = -1
	recentNone = 0
	recentRise = 1
)

// adaptStep is one decision for an adaptive room: its rate now, the
// organizer's settings, the booking core's reading (known false when there
// is none), the origin's, how many wait, and which way the rate last
// changed if that was recent (recentCut, recentRise; recentNone). It
// returns the next rate and why, in words an organizer reads on the
// dashboard.
//
// A room that steers by its origin waits out its own lag: after a cut it
// cuts again only once the cut has had adaptSettleSteps periods to show
// in the reading, after any change it rises only once that change has,
// and it rises by less the closer the origin is to a target. Rooms that
// steer by the booking core alone step every period, as they always have.
func adaptStep(rate float64, r queue.Room, h BookingHealth, known bool, o OriginHealth, waiting int64, recent int) (float64, string) {
	ceil := float64(r.AdmitPerMinute)
	floor := math.Min(ceil, math.Max(1, ceil*adaptFloor))
	rate = math.Max(floor, math.Min(ceil, rate))
	if !known && (r.AdaptiveMaxCheckouts > 0 || r.AdaptiveP99Ms > 0) {
		return rate, "no reading of the booking core: holding"
	}
	var f findings
	if m := r.AdaptiveMaxCheckouts; m > 0 {
		held := h.HeldTickets
		f.reading = append(f.reading, count(held)+" held")
		f.judge(float64(held), float64(m), count(held)+" held > "+count(m), count(held)+" held, near "+count(m), "")
	}
	if ms := r.AdaptiveP99Ms; ms > 0 {
		p99 := millis(h.P99)
		if h.Samples < adaptMinSamples {
			f.reading = append(f.reading, fmt.Sprintf("p99 not known (%d requests)", h.Samples))
		} else {
			f.judge(float64(h.P99), float64(time.Duration(ms)*time.Millisecond),
				fmt.Sprintf("p99 %s > %d ms", p99, ms), fmt.Sprintf("p99 %s, near %d ms", p99, ms), "p99 "+p99)
		}
	}
	load := originStep(r, o, &f)
	settles := r.AdaptiveOrigin()
	switch {
	case len(f.over) > 0 && settles && recent == recentCut:
		return rate, strings.Join(f.over, "; ") + ": waiting out the last cut"
	case len(f.over) > 0:
		next := math.Max(floor, rate*adaptDecrease)
		why := strings.Join(f.over, "; ")
		if next == rate {
			why += ": at the floor"
		}
		return next, why
	case len(f.near) > 0:
		return rate, strings.Join(f.near, "; ") + ": holding"
	case rate >= ceil:
		return rate, strings.Join(f.reading, ", ") + ": at the organizer's rate"
	case waiting == 0:
		return rate, strings.Join(f.reading, ", ") + ": nobody waiting, holding"
	case settles && recent != recentNone:
		return rate, strings.Join(f.reading, ", ") + ": room to grow, waiting out the last change"
	}
	step := adaptIncrease
	if settles {
		step *= math.Max(adaptMinRise, 1-load/adaptHeadroom)
	}
	return math.Min(ceil, rate+ceil*step), strings.Join(f.reading, ", ") + ": room to grow"
}

// findings are what a step's readings say against their targets: over
// one, near one (within adaptHeadroom of it), or the reading as it is.
type findings struct{ over, near, reading []string }

// judge files v against target (more is worse) under the text that says
// so; a fine reading with no text is not listed.
func (f *findings) judge(v, target float64, overText, nearText, fine string) {
	switch {
	case v > target:
		f.over = append(f.over, overText)
	case v >= adaptHeadroom*target:
		f.near = append(f.near, nearText)
	case fine != "":
		f.reading = append(f.reading, fine)
	}
}

// originStep adds to f what the origin's reading says against the room's
// origin targets, and returns the load: the largest fraction of a target
// the reading reaches (0 when it is not known).
func originStep(r queue.Room, o OriginHealth, f *findings) float64 {
	if !r.AdaptiveOrigin() {
		return 0
	}
	if o.Answers < adaptMinSamples {
		f.reading = append(f.reading, fmt.Sprintf("origin not known (%d answers)", o.Answers))
		return 0
	}
	load := 0.0
	if ms := r.AdaptiveOriginP99Ms; ms > 0 {
		target := float64(time.Duration(ms) * time.Millisecond)
		p99 := millis(o.P99)
		load = float64(o.P99) / target
		f.judge(float64(o.P99), target, fmt.Sprintf("origin p99 %s > %d ms", p99, ms), fmt.Sprintf("origin p99 %s, near %d ms", p99, ms), "origin p99 "+p99)
	}
	if pct := r.AdaptiveOriginErrorPercent; pct > 0 {
		share := 100 * float64(o.Failed) / float64(o.Answers)
		load = math.Max(load, share/float64(pct))
		f.judge(share, float64(pct), fmt.Sprintf("origin 5xx %s > %d%%", percent(share), pct),
			fmt.Sprintf("origin 5xx %s, near %d%%", percent(share), pct), "origin 5xx "+percent(share))
	}
	return load
}

// percent spells a share in percent with at most one decimal: 7%, 1.5%.
func percent(p float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(p, 'f', 1, 64), ".0") + "%"
}

// millis spells a latency in milliseconds, with a decimal below 10 ms.
func millis(d time.Duration) string {
	if d < 10*time.Millisecond {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}

// count spells n with thousands separators: 12,500.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// steering reports whether an adaptive room's rate should move now: not
// while nobody may be admitted (its rate would drift on readings that
// admissions did not cause) nor while everyone is.
func steering(r queue.Room, now time.Time) bool {
	return r.Adaptive && r.Admitting(now) && !r.Passthrough && r.AdmitPerMinute > 0
}

// adaptAll takes each adaptive room's step, if it is due: every instance
// proposes one per AdaptEvery, and the store takes the first that comes at
// least 0.9 × AdaptEvery after the last, so the rooms step about once per
// AdaptEvery whatever the number of instances.
func (c *Controller) adaptAll(ctx context.Context) {
	rooms := *c.rooms.Load()
	c.forgetOrigins(rooms)
	for name := range c.adaptive {
		if st, ok := rooms[name]; !ok || !st.room.Adaptive {
			delete(c.adaptive, name)
			c.adaptRates.Delete(name)
			c.adaptRate.DeleteLabelValues(name)
		}
	}
	for name, st := range rooms {
		if !st.room.Adaptive {
			continue
		}
		if err := c.adapt(ctx, st); err != nil {
			c.failed(ctx, "adapt", err, "room", name)
		}
	}
}

func (c *Controller) adapt(ctx context.Context, st roomState) error {
	r := st.room
	now := c.cfg.Now()
	changes := 0
	if r.AdaptiveOrigin() {
		changes = 1 // the last change, to wait out its lag (adaptStep)
	}
	state, last, err := c.store.Adaptive(ctx, r.Name, changes)
	if err != nil || state.At.IsZero() {
		return err // no state yet: the next admission decision starts it
	}
	c.adaptive[r.Name] = true
	c.adaptRates.Store(r.Name, state.Rate)
	c.adaptRate.WithLabelValues(r.Name).Set(state.Rate)
	gap := c.cfg.AdaptEvery * 9 / 10
	if !steering(r, now) {
		return nil
	}
	// Every instance shares its reading of the origin each period, not
	// only the one whose step lands.
	var o OriginHealth
	if r.AdaptiveOrigin() {
		if o, err = c.originHealth(ctx, r.Name, now); err != nil {
			return err
		}
	}
	if now.Sub(state.At) < gap {
		return nil
	}
	var h BookingHealth
	known := false
	if c.cfg.Health != nil {
		h, known = c.cfg.Health(r.Name)
	}
	recent := recentNone
	if len(last) > 0 && now.Sub(last[0].At) < adaptSettleSteps*c.cfg.AdaptEvery {
		switch {
		case last[0].To < last[0].From:
			recent = recentCut
		case last[0].To > last[0].From:
			recent = recentRise
		}
	}
	next, why := adaptStep(state.Rate, r, h, known, o, st.stats.Waiting, recent)
	next = math.Round(next*1000) / 1000 // as the store keeps it
	took, err := c.store.StepAdaptive(ctx, r.Name, state, next, why, gap)
	if err != nil || !took {
		return err
	}
	c.adaptRates.Store(r.Name, next)
	c.adaptRate.WithLabelValues(r.Name).Set(next)
	switch {
	case next < state.Rate:
		c.log.Info("adaptive admission slowed", "room", r.Name, "from", state.Rate, "to", next, "reason", why)
	case next > state.Rate:
		c.log.Debug("adaptive admission sped up", "room", r.Name, "from", state.Rate, "to", next, "reason", why)
	}
	return nil
}

// plannedRate is the rate per minute room admits at while admitting: the
// organizer's, or with adaptive admission the lower of it and the adaptive
// rate as this instance last read it.
func (c *Controller) plannedRate(room queue.Room) float64 {
	rate := float64(room.AdmitPerMinute)
	if !room.Adaptive {
		return rate
	}
	if a, ok := c.adaptRates.Load(room.Name); ok {
		return math.Min(rate, a.(float64))
	}
	return rate * queue.AdaptiveStart
}
