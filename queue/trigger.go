package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A traffic-triggered room (Room.TriggerActiveUsers, TriggerNewPerMinute) is
// left on all year and queues only when it must. It is in one of two
// states, kept in the room's stats hash beside when it last changed:
//
//   - quiet: join.lua admits every newcomer on arrival, as a passthrough
//     room does, while the room's live admissions are under
//     TriggerActiveUsers and its new places over the last minute (the
//     gate's sliding count, this one included) are at most
//     TriggerNewPerMinute. The join that finds either threshold reached
//     turns the room to queueing and takes the first place in the line. The
//     check and the admission are one script call, so no two instances can
//     both admit past a threshold: the active users never overshoot it.
//   - queueing: newcomers queue; admit.lua admits at AdmitPerMinute, never
//     above the active cap (MaxActive, else TriggerActiveUsers), so the line
//     moves as active users leave or as the rate allows. The tick that finds
//     the line empty and traffic under TriggerLowPercent of each threshold
//     turns the room quiet again: the gap between the two watermarks keeps
//     a room near its threshold from flapping.
//
// A paused room admits nobody, quiet or not: its newcomers queue.
const (
	TriggerQuiet    = "quiet"
	TriggerQueueing = "queueing"

	// DefaultTriggerLowPercent is the low watermark, in percent of each
	// threshold.
	DefaultTriggerLowPercent = 80
	MinTriggerLowPercent     = 10
	MaxTriggerLowPercent     = 100
)

// Triggered reports whether r is a traffic-triggered room.
func (r Room) Triggered() bool {
	return r.TriggerActiveUsers > 0 || r.TriggerNewPerMinute > 0
}

// validateTrigger reports what is wrong with r's trigger and sliding
// sessions, through bad.
func (r Room) validateTrigger(bad func(format string, args ...any) error) error {
	switch {
	case r.TriggerActiveUsers < 0 || r.TriggerActiveUsers > MaxActiveLimit:
		return bad("trigger.active_users must be between 0 (not a threshold) and %d", MaxActiveLimit)
	case r.TriggerNewPerMinute < 0 || r.TriggerNewPerMinute > MaxAdmitPerMinute:
		return bad("trigger.new_per_minute must be between 0 (not a threshold) and %d", MaxAdmitPerMinute)
	case r.TriggerLowPercent != 0 && (r.TriggerLowPercent < MinTriggerLowPercent || r.TriggerLowPercent > MaxTriggerLowPercent):
		return bad("trigger.low_watermark_percent must be between %d and %d", MinTriggerLowPercent, MaxTriggerLowPercent)
	case r.TriggerLowPercent != 0 && !r.Triggered():
		return bad("trigger.low_watermark_percent needs a threshold: trigger.active_users or trigger.new_per_minute")
	case r.Triggered() && r.Passthrough:
		return bad("trigger and passthrough contradict each other: a triggered room lets everyone through while it is quiet; set one")
	case r.Triggered() && r.AdmitPerMinute == 0:
		return bad("a triggered room needs admit_per_minute above 0, or its line would never move once it queues")
	case r.Triggered() && r.MaxActive > 0 && r.TriggerActiveUsers > r.MaxActive:
		return bad("trigger.active_users (%d) is above max_active (%d): the room would queue only past its own cap", r.TriggerActiveUsers, r.MaxActive)
	case r.Triggered() && r.Mode == ModeRandomPrequeue:
		return bad("a triggered room queues first come, first served: mode %q does not apply", ModeRandomPrequeue)
	case r.SessionMaxSeconds != 0 && (r.SessionMaxSeconds < r.SessionSeconds || r.SessionMaxSeconds > MaxSessionMaxSeconds):
		return bad("session_max_seconds must be 0 (fixed sessions) or between session_seconds (%d) and %d", r.SessionSeconds, MaxSessionMaxSeconds)
	}
	return nil
}

// ErrQueueing is a join with Gate.PassOnly into a room that would not admit
// it on arrival: a traffic-triggered room that is queueing, or reached a
// threshold with this join. Nothing was made.
var ErrQueueing = errors.New("queue: the room is queueing")

// MaxSessionMaxSeconds bounds a sliding session: a day.
const MaxSessionMaxSeconds = 86400

// TriggerState is where a traffic-triggered room stands (Stats.Trigger).
type TriggerState struct {
	State string    // TriggerQuiet or TriggerQueueing
	Since time.Time // when it last changed; zero: never (quiet since created)
}

// triggerState reads the stats hash's trig and trig_ms fields.
func triggerState(state, ms any) TriggerState {
	st := TriggerState{State: TriggerQuiet}
	if s, _ := state.(string); s == TriggerQueueing {
		st.State = s
	}
	if n := parseInt(ms); n > 0 {
		st.Since = time.UnixMilli(n).UTC()
	}
	return st
}

// Renew is a sign of activity of queue id's admission in room: in a room
// with sliding sessions it now runs SessionSeconds from now, never past
// SessionMaxSeconds after admission. It returns when the admission ends
// and when it began. Errors: ErrNotInLine (it ended, or never was).
func (s *Store) Renew(ctx context.Context, room, id string) (expires, admitted time.Time, err error) {
	k := keysFor(room)
	res, err := s.scripts.renew.Run(ctx, s.rdb, []string{k.cfg, k.active, k.admittedAt}, s.cfg.Now().UnixMilli(), id).Int64Slice()
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("queue: renew %s: %w", room, err)
	}
	if len(res) != 2 {
		return time.Time{}, time.Time{}, ErrNotInLine
	}
	return time.UnixMilli(res[0]), time.UnixMilli(res[1]), nil
}
