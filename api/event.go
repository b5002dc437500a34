package api

import "time"

// Event is an event and what is left of it: GET /api/v1/events/{event} for
// fans, and GET and PUT /admin/v1/events/{event} and each entry of GET
// /admin/v1/events for organizers, whose view adds the fields marked so.
type Event struct {
	Event string `json:"event"`
	// Name is what fans read for the event; absent when it has none, and
	// the pages then show the id.
	Name        string       `json:"name,omitempty"`
	Room        string       `json:"room"`
	HoldSeconds int          `json:"hold_seconds"`
	TicketTypes []TicketType `json:"ticket_types"`
	// PerAdmissionLimit is the most tickets one admission (or one user,
	// when the room uses enqueue tokens) may have at the event at once, in
	// live holds and paid orders together: the organizer's, or the
	// default, the largest per_order_limit of the types.
	PerAdmissionLimit int `json:"per_admission_limit"`
	// Limit is what PerAdmissionLimit leaves the caller: fans only, when
	// the request carries an admission for the event's room.
	Limit *PurchaseLimit `json:"limit,omitempty"`
	// Organizers only.
	Totals    *Inventory       `json:"totals,omitempty"`
	Stats     map[string]int64 `json:"stats,omitempty"`
	CreatedAt *time.Time       `json:"created_at,omitempty"`
	UpdatedAt *time.Time       `json:"updated_at,omitempty"`
	// Warnings, in PUT answers only, say what the change may not do as
	// meant (a room that does not exist).
	Warnings []Warning `json:"warnings,omitempty"`
}

// TicketType is a kind of ticket of an Event and what is left of it.
// Capacity, Held and Sold are the organizer's view only.
type TicketType struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Capacity      *int64 `json:"capacity,omitempty"`
	PriceMinor    int64  `json:"price_minor"`
	Currency      string `json:"currency"`
	PerOrderLimit int    `json:"per_order_limit"`
	Available     int64  `json:"available"`
	Held          *int64 `json:"held,omitempty"`
	Sold          *int64 `json:"sold,omitempty"`
}

// Inventory is an event's tickets summed over its types (Event.Totals).
type Inventory struct {
	Capacity  int64 `json:"capacity"`
	Available int64 `json:"available"`
	Held      int64 `json:"held"`
	Sold      int64 `json:"sold"`
}

// EventList is GET /admin/v1/events.
type EventList struct {
	Events []Event `json:"events"`
}

// EventRequest is the body of PUT /admin/v1/events/{event}, and of the
// events a configuration file declares: an event is always set whole.
type EventRequest struct {
	// Name is Event.Name: optional, at most 200 characters, no control
	// characters.
	Name        string              `json:"name,omitempty"`
	Room        string              `json:"room"`
	HoldSeconds int                 `json:"hold_seconds"`
	TicketTypes []TicketTypeRequest `json:"ticket_types"`
	// PerAdmissionLimit is Event.PerAdmissionLimit; 0 or absent is the
	// default, the largest per_order_limit of the types.
	PerAdmissionLimit int `json:"per_admission_limit,omitempty"`
}

// TicketTypeRequest is a ticket type of an EventRequest.
type TicketTypeRequest struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Capacity      int64  `json:"capacity"`
	PriceMinor    int64  `json:"price_minor"`
	Currency      string `json:"currency"`
	PerOrderLimit int    `json:"per_order_limit"`
}

// LogPage is a page of GET /admin/v1/events/{event}/log?after=&limit=,
// oldest first: Next is the after of the next page (the last entry's id,
// or the after asked with when the page is empty).
type LogPage struct {
	Entries []LogEntry `json:"entries"`
	Next    string     `json:"next"`
}

// LogEntry is one state change of an event.
type LogEntry struct {
	ID     string            `json:"id"`
	At     time.Time         `json:"at"`
	What   string            `json:"what"` // hold.created, order.paid, ...
	Who    string            `json:"who"`  // the visitor, "organizer", "system" or a provider
	Fields map[string]string `json:"fields"`
}

// Audit is GET /admin/v1/events/{event}/audit: the books recounted from
// the holds and orders. The fields are in alphabetical order, as the
// answer has always had them.
type Audit struct {
	Balanced bool   `json:"balanced"` // Problems is empty
	Event    string `json:"event"`
	// Holds and Orders count what was read, by state and by status.
	Holds    map[string]int64 `json:"holds"`
	Orders   map[string]int64 `json:"orders"`
	Problems []string         `json:"problems"`
}

// DeadLetterList is GET /admin/v1/events/{event}/notifications/dead: the
// notifications given up on, newest first.
type DeadLetterList struct {
	Dead []DeadLetter `json:"dead"`
}

// DeadLetter is a notification given up on, for an organizer to reach the
// fan another way.
type DeadLetter struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Order    string    `json:"order,omitempty"`
	Hold     string    `json:"hold"`
	At       time.Time `json:"at"`
	Error    string    `json:"error"`    // each failed channel's last error
	Attempts int64     `json:"attempts"` // delivery attempts made
	Channels []string  `json:"channels"` // the channels that failed
}
