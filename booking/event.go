package booking

import (
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// Errors of the booking core. Callers test them with errors.Is; every one
// that reaches a caller is a *crowdgate.Error (or is wrapped in one, or
// wraps one) whose Kind and Message say what to tell the visitor.
var (
	// ErrInvalid is wrapped by every reason a request or an event is
	// refused (kind Invalid; the Message is the reason).
	ErrInvalid = errors.New("booking: invalid")
	// ErrEventNotFound: no event of that id.
	ErrEventNotFound error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such event", Err: errors.New("booking: event not found")}
	// ErrNotFound: no such hold or order (or not the caller's).
	ErrNotFound error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such hold or order", Err: errors.New("booking: not found")}
	// ErrSoldOut: fewer tickets available than asked for (kind SoldOut).
	ErrSoldOut = errors.New("booking: sold out")
	// ErrHoldExists: the visitor already has a live hold (see HoldExistsError).
	ErrHoldExists error = &crowdgate.Error{Kind: crowdgate.HoldExists, Message: "you already hold tickets; pay for them or release them first", Err: errors.New("booking: visitor already holds tickets")}
	// ErrHoldExpired: the hold's time is up; its tickets went back.
	ErrHoldExpired error = &crowdgate.Error{Kind: crowdgate.HoldExpired, Message: "the hold expired and its tickets went back; hold again", Err: errors.New("booking: hold expired")}
	// ErrLimitReached: the hold would take the buyer past the event's
	// per-admission limit (see LimitReachedError).
	ErrLimitReached error = &crowdgate.Error{Kind: crowdgate.LimitReached, Message: "that is more tickets than one admission may buy at this event", Err: errors.New("booking: per-admission limit reached")}
	// ErrConflict: the change contradicts what is stored (a capacity below
	// the tickets already taken, a paid hold released); kind Conflict.
	ErrConflict = errors.New("booking: conflict")
	// ErrAdmissionExpired: the admission the request came with has ended.
	ErrAdmissionExpired error = &crowdgate.Error{Kind: crowdgate.Unauthorized, Message: "your admission has ended", Err: errors.New("booking: admission expired")}
	// ErrWrongRoom: the admission is for a room this event does not sell
	// through (kind Forbidden).
	ErrWrongRoom = errors.New("booking: admission for another room")
)

// failf returns the *crowdgate.Error of kind whose Message is the formatted
// text, on sentinel so that errors.Is(err, sentinel) holds.
func failf(kind crowdgate.Kind, sentinel error, format string, args ...any) error {
	return &crowdgate.Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: sentinel}
}

// invalidf is failf for ErrInvalid.
func invalidf(format string, args ...any) error {
	return failf(crowdgate.Invalid, ErrInvalid, format, args...)
}

// conflictf is failf for ErrConflict.
func conflictf(format string, args ...any) error {
	return failf(crowdgate.Conflict, ErrConflict, format, args...)
}

// HoldExistsError names the visitor's live hold, so a client that lost its
// answer can carry on with it.
type HoldExistsError struct{ HoldID string }

func (e *HoldExistsError) Error() string { return ErrHoldExists.Error() + " (" + e.HoldID + ")" }

// Unwrap makes errors.Is(err, ErrHoldExists) true.
func (e *HoldExistsError) Unwrap() error { return ErrHoldExists }

// LimitReachedError says how many tickets the buyer may still hold at the
// event (Left) under its per-admission limit (Limit): tickets in live
// holds and paid orders count against it.
type LimitReachedError struct{ Limit, Left int64 }

func (e *LimitReachedError) Error() string {
	return fmt.Sprintf("%s (%d of %d left)", ErrLimitReached.Error(), e.Left, e.Limit)
}

// Unwrap makes errors.Is(err, ErrLimitReached) true, and gives the kind.
func (e *LimitReachedError) Unwrap() error {
	msg := fmt.Sprintf("one admission may buy at most %d tickets at this event; you may hold %d more", e.Limit, e.Left)
	if e.Left == 0 {
		msg = fmt.Sprintf("one admission may buy at most %d tickets at this event, and yours has them", e.Limit)
	}
	return &crowdgate.Error{Kind: crowdgate.LimitReached, Message: msg, Err: ErrLimitReached}
}

// Limits that keep an event sane; they exist so that a typo is an error.
const (
	MaxTicketTypes   = 50
	MaxCapacity      = 10_000_000
	MaxPriceMinor    = 10_000_000_000 // 100 million in a two-decimal currency
	MaxPerOrderLimit = 100
	// MaxPerAdmissionLimit bounds Event.PerAdmissionLimit.
	MaxPerAdmissionLimit = 1000
	MinHoldSeconds       = 1
	MaxHoldSeconds       = 24 * 3600
	DefaultHoldSeconds   = 600
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// MaxEventName bounds Event.Name, in characters.
const MaxEventName = 200

// validName reports whether n may be an event's name: empty (none), or up
// to MaxEventName characters of valid UTF-8 with no control characters.
func validName(n string) bool {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > MaxEventName {
		return false
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// TicketType is one kind of ticket an event sells.
type TicketType struct {
	ID            string
	Name          string
	Capacity      int64
	PriceMinor    int64  // in the currency's minor unit
	Currency      string // ISO 4217
	PerOrderLimit int
}

// Event is what an organizer sells behind one room.
type Event struct {
	ID          string
	Name        string // what fans read for it ("" shows the id); at most MaxEventName characters
	Room        string // the room whose admission tokens may buy
	HoldSeconds int    // how long an unpaid hold keeps its tickets
	TicketTypes []TicketType
	// PerAdmissionLimit is the most tickets one buyer may have at the
	// event at once, over all their holds and orders: in live holds plus
	// in paid orders. The buyer is the admission's visitor, or the site's
	// user id when the hold names one (HoldRequest.UserID). 0 means the
	// default, the largest PerOrderLimit of the types: a per-order limit
	// that a fan can repeat with the same admission is no limit. It may
	// be set higher, never below a type's PerOrderLimit.
	PerAdmissionLimit int
}

// WithDefaults returns e with unset fields filled in.
func (e Event) WithDefaults() Event {
	if e.HoldSeconds == 0 {
		e.HoldSeconds = DefaultHoldSeconds
	}
	if e.PerAdmissionLimit == 0 {
		e.PerAdmissionLimit = maxPerOrder(e.TicketTypes)
	}
	return e
}

// maxPerOrder is the largest per-order limit of types, the default
// per-admission limit.
func maxPerOrder(types []TicketType) int {
	most := 0
	for _, t := range types {
		most = max(most, t.PerOrderLimit)
	}
	return most
}

// Validate reports the first thing wrong with e, wrapping ErrInvalid.
func (e Event) Validate() error {
	bad := invalidf
	if !queue.ValidID(e.ID) {
		return bad("event id %q must match ^[a-z0-9][a-z0-9-]{0,63}$", e.ID)
	}
	if !queue.ValidID(e.Room) {
		return bad("room %q must match ^[a-z0-9][a-z0-9-]{0,63}$", e.Room)
	}
	if !validName(e.Name) {
		return bad("name must be at most %d characters of text, without control characters", MaxEventName)
	}
	if e.HoldSeconds < MinHoldSeconds || e.HoldSeconds > MaxHoldSeconds {
		return bad("hold_seconds must be between %d and %d", MinHoldSeconds, MaxHoldSeconds)
	}
	if len(e.TicketTypes) == 0 || len(e.TicketTypes) > MaxTicketTypes {
		return bad("an event has 1 to %d ticket types", MaxTicketTypes)
	}
	seen := map[string]bool{}
	for _, t := range e.TicketTypes {
		switch {
		case !queue.ValidID(t.ID):
			return bad("ticket type id %q must match ^[a-z0-9][a-z0-9-]{0,63}$", t.ID)
		case seen[t.ID]:
			return bad("ticket type %q appears twice", t.ID)
		case t.Name == "" || utf8.RuneCountInString(t.Name) > 200 || !utf8.ValidString(t.Name):
			return bad("ticket type %q: name must be 1 to 200 characters", t.ID)
		case t.Capacity < 0 || t.Capacity > MaxCapacity:
			return bad("ticket type %q: capacity must be between 0 and %d", t.ID, MaxCapacity)
		case t.PriceMinor < 0 || t.PriceMinor > MaxPriceMinor:
			return bad("ticket type %q: price_minor must be between 0 and %d", t.ID, int64(MaxPriceMinor))
		case !currencyPattern.MatchString(t.Currency):
			return bad("ticket type %q: currency must be an ISO 4217 code like INR", t.ID)
		case t.PerOrderLimit < 1 || t.PerOrderLimit > MaxPerOrderLimit:
			return bad("ticket type %q: per_order_limit must be between 1 and %d", t.ID, MaxPerOrderLimit)
		}
		seen[t.ID] = true
	}
	if most := maxPerOrder(e.TicketTypes); e.PerAdmissionLimit < most || e.PerAdmissionLimit > MaxPerAdmissionLimit {
		return bad("per_admission_limit must be between the largest per_order_limit (%d) and %d, or 0 for the default (%d)", most, MaxPerAdmissionLimit, most)
	}
	return nil
}

// Inventory is where the tickets of one type are. Available + Held + Sold
// == Capacity at every instant: each script moves tickets between the
// three, never in or out.
type Inventory struct {
	Available, Held, Sold int64
}

// TicketTypeView is a ticket type with its inventory.
type TicketTypeView struct {
	TicketType
	Inventory
}

// EventView is an event as stored, with its inventory and counters.
type EventView struct {
	ID          string
	Name        string // Event.Name
	Room        string
	HoldSeconds int
	TicketTypes []TicketTypeView
	// PerAdmissionLimit is the limit in force (Event.PerAdmissionLimit,
	// defaults filled in).
	PerAdmissionLimit int
	// Stats counts what happened: holds, released, expired, checkouts,
	// paid, paid_late, failed, refunded, sold_out, limit_reached,
	// webhook_duplicates.
	Stats     map[string]int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Totals sums the inventory over ticket types.
func (v EventView) Totals() (capacity int64, inv Inventory) {
	for _, t := range v.TicketTypes {
		capacity += t.Capacity
		inv.Available += t.Available
		inv.Held += t.Held
		inv.Sold += t.Sold
	}
	return capacity, inv
}
