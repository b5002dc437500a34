package queue

import (
	"context"
	"fmt"
	"time"
)

// Room hooks tell an organizer's own systems what happens to a room
// (docs/hooks.md). RecordHooks, which every admission controller calls
// for every room about once a second, compares what an organizer can see
// of the room with what it recorded last time, and appends one message
// per change to the room's hook outbox, a stream that package notify
// delivers (HookOutbox). The comparison reads the room itself, not a
// caller's cached copy, and the record, the comparison and the appends are
// one script (scripts/hooks.lua), so every change is appended exactly once
// whichever instance sees it first, whatever caused it: the admin API on
// any instance, join.lua and admit.lua turning a traffic-triggered room,
// the booking core closing a sold-out room, a scheduled time passing, the
// adaptive rate moving. A change undone between two calls is not seen.
//
//	cg:{r}:hook         hash    what was last recorded, and the count of messages (seq)
//	cg:{r}:hook:outbox  stream  the messages; notify's dead letters and marks
//	                            (cg:{r}:hook:dead, cg:{r}:hook:sent:<id>) beside it

// Kinds of room hook messages.
const (
	HookCreated     = "room.created"      // a room created a moment ago, with its state
	HookQueueOpened = "room.queue_opened" // queue_opens_at passed, or was moved to the past
	HookSaleStarted = "room.sale_started" // sale_starts_at passed, or was moved to the past
	HookActivated   = "room.activated"    // a traffic-triggered room began to queue newcomers
	HookQuiet       = "room.quiet"        // a traffic-triggered room lets newcomers in at once again
	HookPaused      = "room.paused"
	HookResumed     = "room.resumed"
	HookSoldOut     = "room.sold_out" // closed by itself: nothing left to sell
	HookClosed      = "room.closed"   // closed by the organizer
	HookReopened    = "room.reopened"
	HookRateChanged = "room.rate_changed" // the rate it admits at changed
)

// HookAdaptiveEvery is the least time between two messages about an
// adaptive room's rate moving by itself (it steps every 2 s): each tells
// the change since the one before. The organizer's changes are told at
// once.
const HookAdaptiveEvery = time.Minute

// HookCreatedWithin is how recent a room's creation must be for its first
// sight to be told (HookCreated). A room first seen later, because hooks
// were just turned on, is recorded silently: its first message is its
// first change.
const HookCreatedWithin = 10 * time.Minute

// HookOutbox names room's hook outbox for package notify: the stream's
// name (in receivers' idempotency keys, "hooks.<room>") and the prefix of
// its keys, in the room's hash slot.
func HookOutbox(room string) (name, prefix string) {
	return "hooks." + room, keysFor(room).hookPrefix
}

// RecordHooks records room's changes since the last call (on any
// instance) as messages in its hook outbox, and returns their kinds, in
// order. A room that does not exist has none; that is not an error.
func (s *Store) RecordHooks(ctx context.Context, room string) ([]string, error) {
	k := keysFor(room)
	kinds, err := s.scripts.hooks.Run(ctx, s.rdb, []string{k.cfg, k.stats, k.adapt, k.hook, k.hookPrefix + "outbox"},
		s.cfg.Now().UnixMilli(), room, HookAdaptiveEvery.Milliseconds(), HookCreatedWithin.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("queue: room hooks %s: %w", room, err)
	}
	return kinds, nil
}

// HookData is the data of a hook message (notify.Message.Data), as
// hooks.lua writes it: what a receiver's body is made of beside the kind,
// room and time.
type HookData struct {
	Seq int64 `json:"seq"` // the room's messages, from 1
	// HookRateChanged: the rate the room admits at, per minute, before and
	// after, who changed it (HookByOrganizer, HookByAdaptive) and, for an
	// adaptive change, the reading behind it.
	From   *float64 `json:"from"`
	To     *float64 `json:"to"`
	Source string   `json:"source"`
	Reason string   `json:"reason"`
	// HookQueueOpened, HookSaleStarted: the scheduled time (Unix ms); 0:
	// none.
	QueueOpensAt int64 `json:"queue_opens_at"`
	SaleStartsAt int64 `json:"sale_starts_at"`
	// State is the room as recorded after the call's changes.
	State HookState `json:"state"`
}

// Sources of HookRateChanged.
const (
	HookByOrganizer = "organizer"
	HookByAdaptive  = "adaptive"
)

// HookState is a room as its hooks tell it.
type HookState struct {
	QueueOpen    bool   `json:"queue_open"`
	SaleStarted  bool   `json:"sale_started"`
	Paused       bool   `json:"paused"`
	Closed       bool   `json:"closed"`
	ClosedReason string `json:"closed_reason"` // "" or ClosedSoldOut
	// Trigger is a traffic-triggered room's TriggerQuiet or
	// TriggerQueueing; "" for other rooms.
	Trigger        string  `json:"trigger_state"`
	AdmitPerMinute int     `json:"admit_per_minute"`
	RatePerMinute  float64 `json:"rate_per_minute"` // as last told
}
