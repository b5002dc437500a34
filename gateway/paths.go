package gateway

import "net/url"

// The paths below are gateway's routes, for the code that builds links to
// them (booking's pay and resume links, wired in cmd): the gateway owns its
// URLs, so nobody else spells them out. Each takes ids that passed
// queue.ValidID, which need no escaping in a path.

// RoomPagePath is the path of a room's waiting-room page.
func RoomPagePath(room string) string { return "/rooms/" + room }

// ResumePath is the waiting-room page's path with a queue token in the
// fragment (#resume=), which brings a waiter back to its place. The token
// rides in the fragment, which browsers never send: it stays out of access
// logs and Referer headers.
func ResumePath(room, queueToken string) string {
	return RoomPagePath(room) + "#resume=" + url.QueryEscape(queueToken)
}

// SandboxPayPath is the path of the sandbox provider's hosted pay page for
// a payment.
func SandboxPayPath(paymentID string) string { return "/pay/sandbox/" + paymentID }

// PaymentWebhookPath is the path a payment provider posts its webhooks to.
func PaymentWebhookPath(provider string) string { return "/api/v1/payments/" + provider + "/webhook" }

// The admin API's paths, for its clients (the crowdgate CLI).

// AdminRoomsPath lists the rooms.
const AdminRoomsPath = "/admin/v1/rooms"

// AdminRoomPath is one room: GET, PUT, PATCH, DELETE.
func AdminRoomPath(room string) string { return AdminRoomsPath + "/" + room }

// AdminEventsPath lists the events.
const AdminEventsPath = "/admin/v1/events"

// AdminEventPath is one event: GET, PUT.
func AdminEventPath(event string) string { return AdminEventsPath + "/" + event }

// AdminEventLogPath is an event's log.
func AdminEventLogPath(event string) string { return AdminEventPath(event) + "/log" }

// AdminEventAuditPath is an event's recount.
func AdminEventAuditPath(event string) string { return AdminEventPath(event) + "/audit" }
