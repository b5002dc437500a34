package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Adaptive admission (Room.Adaptive). admit.lua admits at the lower of the
// organizer's admit_per_minute and the room's adaptive rate, which the
// admission controllers raise and lower with the booking core's health.
// The rate lives with the room, so every instance admits at the same one:
//
//	cg:{r}:adapt  hash  rate (per minute), at (ms of the last step), why
//	cg:{r}:adlog  list  the last AdaptiveDecisionsKept changes, newest first
//
// Switching adaptive admission on (PutRoom, UpdateRoom) starts the rate at
// AdaptiveStart of admit_per_minute, in the same script as the switch, so
// the first admission after it is already conservative. A step is a
// compare-and-set on the time of the last step, taken only when that is at
// least a gap old (StepAdaptive): however many instances propose steps,
// one lands per gap, and none compounds another's.

// AdaptiveStart is the fraction of admit_per_minute an adaptive room
// starts at when adaptive admission is switched on (at least 1/min, unless
// admit_per_minute is lower). The scripts' prelude holds the same figure.
const AdaptiveStart = 0.1

// AdaptiveDecisionsKept is how many changes of the adaptive rate a room
// keeps for the dashboard.
const AdaptiveDecisionsKept = 50

// AdaptiveState is where a room's adaptive admission stands. The zero value
// (At zero) means it has none: adaptive admission was never switched on.
type AdaptiveState struct {
	Rate   float64   // admissions per minute it allows now
	At     time.Time // the last step (or the start)
	Reason string    // the last step's reading, e.g. "p99 412 ms > 250 ms"
}

// AdaptiveDecision is one change of a room's adaptive rate.
type AdaptiveDecision struct {
	At     time.Time `json:"at"`
	From   float64   `json:"from"` // per minute
	To     float64   `json:"to"`
	Reason string    `json:"reason"`
}

// Adaptive returns the room's adaptive state and its latest decisions, at
// most n of them, newest first (none for n ≤ 0). A room without adaptive
// state has the zero AdaptiveState; that is not an error.
func (s *Store) Adaptive(ctx context.Context, room string, n int) (AdaptiveState, []AdaptiveDecision, error) {
	k := keysFor(room)
	pipe := s.rdb.Pipeline()
	h := pipe.HMGet(ctx, k.adapt, "rate", "at", "why")
	var log *redis.StringSliceCmd
	if n > 0 {
		log = pipe.LRange(ctx, k.adaptLog, 0, int64(n)-1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return AdaptiveState{}, nil, fmt.Errorf("queue: adaptive %s: %w", room, err)
	}
	var st AdaptiveState
	v := h.Val()
	if at := parseInt(v[1]); at > 0 {
		rate, _ := v[0].(string)
		st.Rate, _ = strconv.ParseFloat(rate, 64)
		st.At = time.UnixMilli(at).UTC()
		st.Reason, _ = v[2].(string)
	}
	if log == nil {
		return st, nil, nil
	}
	out := make([]AdaptiveDecision, 0, len(log.Val()))
	for _, e := range log.Val() {
		f := strings.SplitN(e, " ", 4)
		if len(f) != 4 {
			continue
		}
		at, _ := strconv.ParseInt(f[0], 10, 64)
		from, _ := strconv.ParseFloat(f[1], 64)
		to, _ := strconv.ParseFloat(f[2], 64)
		out = append(out, AdaptiveDecision{At: time.UnixMilli(at).UTC(), From: from, To: to, Reason: f[3]})
	}
	return st, out, nil
}

// StepAdaptive sets the room's adaptive rate to rate (per minute) for
// reason, if nobody stepped since prev was read (prev.At is still the last
// step), prev.At is at least gap before now, and adaptive admission is on.
// It reports whether this step was taken; a step that changes the rate is
// logged. The check and the write are one script.
func (s *Store) StepAdaptive(ctx context.Context, room string, prev AdaptiveState, rate float64, reason string, gap time.Duration) (bool, error) {
	if prev.At.IsZero() {
		return false, nil
	}
	k := keysFor(room)
	n, err := s.scripts.adapt.Run(ctx, s.rdb, []string{k.cfg, k.adapt, k.adaptLog},
		s.cfg.Now().UnixMilli(), prev.At.UnixMilli(), gap.Milliseconds(), strconv.FormatFloat(rate, 'f', 3, 64), reason).Int()
	if err != nil {
		return false, fmt.Errorf("queue: step adaptive %s: %w", room, err)
	}
	return n == 1, nil
}
