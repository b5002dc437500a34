// Package booking is the booking core behind the gate: events and their
// ticket types, holds that expire, checkout, payments confirmed by signed
// webhooks, and notifications sent at least once.
//
// # Where the data lives
//
// Everything of one event is in Redis under the hash tag "{ev:<event>}", so
// each Lua script (scripts/*.lua) changes one event atomically and runs
// unchanged on Redis Cluster. Tickets of a type are counted in three fields,
// available, held and sold; every script moves tickets between them and
// never in or out, so available + held + sold == capacity at every instant
// (Audit recounts it from the holds and orders; the gauge
// crowdgate_booking_inventory_drift must read 0). Ids in URLs (hold, order,
// payment) resolve to their event through one small index key each.
//
// # Holds
//
// A hold is tickets kept for one admitted visitor (the admission token's
// subject). hold.lua checks, all at once: the idempotency key (a repeat
// returns the first hold), the event, the admission's expiry, the ticket
// type, the per-order limit, the visitor's one live hold, the buyer's
// per-admission limit, and the inventory. Its expiry time goes into a
// sorted set; the sweeper (Run, every 500 ms on every instance) returns
// expired holds' tickets. Keyspace notifications are never relied on: they
// are lost while nobody listens.
//
// Hold states: active → checkout (an order is waiting for payment) →
// paid; active|checkout → released (the fan let go) | expired (time up).
// A failed payment puts a checkout hold back to active, so the fan may try
// again while it lasts.
//
// # Purchase limits
//
// A per-order limit that a fan can repeat is no limit, so an event also
// caps what one buyer may have at it (Event.PerAdmissionLimit, by default
// the largest per-order limit). The buyer is the admission's visitor, or
// the site's user id when the hold names one (HoldRequest.UserID). Each
// buyer has a count, in the event's slot ("buy" in scripts/prelude.lua),
// of their tickets in live holds and paid orders: hold.lua checks and
// takes it with the tickets, so no race of holds passes the limit; a hold
// that is released or expires gives its tickets back, a paid one keeps
// them, and a late payment takes them again only within the limit (it is
// refunded otherwise). Audit recounts it from the holds and orders. A
// hold made before the counts existed counts for nobody; in a rolling
// upgrade an older instance that ends a newer hold leaves its buyer's
// count high (they may buy less, never more), which Audit reports.
//
// # Orders
//
//	                 ┌──────── payment.failed ───────► failed
//	                 │                                   │ payment.succeeded after all
//	checkout ─► pending_payment ── payment.succeeded ──► paid ◄──┘ (hold still live)
//	                 │
//	                 ├── hold expires ──► expired ─┐
//	                 └── hold released ─► canceled ┤ payment.succeeded (late):
//	                                               ├─ tickets still available → paid (late)
//	                                               └─ otherwise → refunded
//
// A payment that lands after its hold ended is the state every flash-sale
// system gets wrong. Here it is decided inside payment.lua, in the same
// step that records it: the order is paid if its tickets can be taken again
// from what is available, and refunded otherwise (the refund is then sent
// to the provider, and retried by the reconciler until it goes through). It
// is never sold twice. Each provider event id is remembered for at least
// 3 days, so a redelivered webhook changes nothing. A reconciler asks the
// provider about payments still pending after ReconcileAfter, so a lost
// webhook does not leave an order stuck. It is the net, not the way: the
// sandbox, like a real provider, retries a webhook that did not land (a
// receiver whose Redis is still loading answers 503) in the background
// for a minute, from 0.5 s doubling to 15 s, so the order is paid within
// seconds of the receiver's recovery; the fan's order page says the
// payment is being confirmed meanwhile.
//
// # Sold out, and tickets again
//
// When the events behind a room have no ticket available and none held
// (so none can come back), the sweeper reports it, once (Config.SoldOut):
// the room closes by itself, saying why and since when. When tickets are
// on sale again behind it (PutEvent raising a capacity, adding a type or
// an event), the room reopens in the same step (Config.Restocked), and the
// sweeper reopens it on its next pass if that step failed, or if a close
// decided on figures older than the new tickets landed after them. Only
// what the check did is undone: a room the organizer closed is never
// reopened by itself, and a sold-out room the organizer reopened by hand
// is not closed again until it has had tickets on sale and sold out
// again. Expiring holds never reopen a room: it closes only when nothing
// is held. Both changes go to the events' logs (room.sold_out,
// room.reopened, who "system") and the room's to the audit log (actor
// "crowdgate"). Rooms and events live under different hash tags, so the
// two cannot change in one script: the sold-out mark (cgb:soldout) and
// the time a room closed order them instead.
//
// # Deleting an event
//
// An event is deleted only when it owes nothing: no paid order, no live
// hold, no payment that may still land (for up to a day after its hold
// ended), no refund the provider has not confirmed (EventInUseError).
// scripts/delevent.lua checks that and removes the definition and the
// fixed keys in one step, so a hold cannot land in between; the keys named
// by ids follow (DeleteEvent), and a mark keeps PutEvent from creating the
// id again until they are gone.
//
// # Notifications and the event log
//
// The scripts that change a hold or an order append, in the same step, to
// the event's outbox (order.paid, payment.failed, hold.expiring,
// order.expired, order.refunded) and to its event log stream (who did what,
// when). The outbox is a notify.Stream (Outbox; Core.Outboxes lists them
// all as a notify.Source), so a change and its message are never one
// without the other; package notify delivers them at least once. Booking
// decides what to say, never how it is sent.
//
// # Concurrency
//
// Core and the providers are safe for concurrent use by any number of
// goroutines and processes sharing one Redis. This package never imports
// gateway; HTTP belongs there, except the sandbox provider's outgoing
// webhooks (signed with package webhooksig).
package booking
