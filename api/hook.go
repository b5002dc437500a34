package api

import "time"

// RoomHook is the body of a room hook: what Crowdgate posts, signed, to
// the organizer's room webhook (CROWDGATE_ROOM_WEBHOOK_URL) when something
// happens to a room. docs/hooks.md lists the types and when each is sent.
type RoomHook struct {
	// ID names the message for good: every delivery of it carries the
	// same, and so does its Idempotency-Key header.
	ID string `json:"id"`
	// Type is room.created, room.queue_opened, room.sale_started,
	// room.activated, room.quiet, room.paused, room.resumed,
	// room.sold_out, room.closed, room.reopened or room.rate_changed.
	Type string    `json:"type"`
	Room string    `json:"room"`
	At   time.Time `json:"at"` // when it happened, as Crowdgate saw it
	// Seq numbers the room's messages from 1, in the order of the changes:
	// deliveries may arrive out of it.
	Seq int64 `json:"seq"`

	// room.rate_changed: the rate the room admits at, per minute, before
	// and after; who changed it ("organizer" or "adaptive"); and for an
	// adaptive change, the reading behind it.
	From   *float64 `json:"from,omitempty"`
	To     *float64 `json:"to,omitempty"`
	Source string   `json:"source,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// room.queue_opened and room.sale_started: the scheduled time, when
	// there is one.
	QueueOpensAt *time.Time `json:"queue_opens_at,omitempty"`
	SaleStartsAt *time.Time `json:"sale_starts_at,omitempty"`

	// State is the room after this message's change (and any other told
	// with it).
	State RoomHookState `json:"state"`
}

// RoomHookState is a room as an organizer's systems follow it.
type RoomHookState struct {
	QueueOpen    bool   `json:"queue_open"`
	SaleStarted  bool   `json:"sale_started"`
	Paused       bool   `json:"paused"`
	Closed       bool   `json:"closed"`
	ClosedReason string `json:"closed_reason,omitempty"` // "sold_out" when it closed by itself
	// TriggerState is a traffic-triggered room's: "quiet" or "queueing";
	// absent for other rooms.
	TriggerState   string `json:"trigger_state,omitempty"`
	AdmitPerMinute int    `json:"admit_per_minute"` // the organizer's setting
	// RatePerMinute is the rate the room admits at: admit_per_minute, or
	// with adaptive admission the lower of it and the adaptive rate, as
	// last told.
	RatePerMinute float64 `json:"rate_per_minute"`
}
