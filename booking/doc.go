// Package booking is the rate-limited booking core behind the gate: events
// and ticket types, holds that expire, checkout, payments confirmed by
// signed webhooks, and notifications sent at least once. Its hot path runs
// in Redis scripts over one event's keys (one hash tag), so it never
// oversells. It never imports gateway.
//
// It is being built (issue 4); this file marks its place in the layout.
package booking
