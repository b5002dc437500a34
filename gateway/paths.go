package gateway

import (
	"net/url"
	"strings"
)

// The gateway owns its URLs: each path that is registered in more than one
// place or linked to is spelled once, below, as the pattern echo registers
// (":room" is a parameter). routes() and its helpers register the
// patterns, and the builders fill them in for the code that links to them
// (booking's pay and resume links, wired in cmd; the crowdgate CLI), so a
// path cannot change in one place only. Builders take ids that passed
// queue.ValidID, which need no escaping in a path.

// The APIs' prefixes.
const (
	fanAPI = "/api/v1" // the fans', origins' and payment providers' API
	// adminAPI is the organizers' API, behind the admin token. It lies under
	// adminPath, the dashboard session cookie's Path, so the dashboard's
	// session reaches it.
	adminAPI = adminPath + "/v1"
)

// Route patterns registered on the server itself.
const (
	checkRoute      = "/auth/v1/check" // forward auth; see checkPathPrefix
	roomPageRoute   = "/rooms/:room"
	roomEnterRoute  = roomPageRoute + "/enter" // a framed waiting room's last step (look.go)
	orderPageRoute  = "/orders/:order"
	eventPageRoute  = "/events/:event"
	sandboxPayRoute = "/pay/sandbox/:payment"
	// fanRoomRoute is a room in the fans' API: join, status, notify,
	// fairness, revocations.
	fanRoomRoute = fanAPI + "/rooms/:room"
	// paymentsRoute is the providers' part of the fans' API.
	paymentsRoute       = fanAPI + "/payments/"
	paymentWebhookRoute = paymentsRoute + ":provider/webhook"
)

// Route patterns registered on the admin group, under adminAPI.
const (
	adminRoomsRoute  = "/rooms"
	adminRoomRoute   = adminRoomsRoute + "/:room"
	adminEventsRoute = "/events"
	// Registered on the room's group, under adminRoomRoute.
	roomCodesRoute     = "/codes"
	roomTemplateRoute  = "/template"
	roomHooksDeadRoute = "/hooks/dead"
	adminEventRoute    = adminEventsRoute + "/:event"
	// Registered on the event's group, under adminEventRoute.
	eventLogRoute   = "/log"
	eventAuditRoute = "/audit"
)

// fill puts id in the one parameter of pattern.
func fill(pattern, id string) string {
	i := strings.IndexByte(pattern, ':')
	if j := strings.IndexByte(pattern[i:], '/'); j >= 0 {
		return pattern[:i] + id + pattern[i+j:]
	}
	return pattern[:i] + id
}

// RoomPagePath is the path of a room's waiting-room page.
func RoomPagePath(room string) string { return fill(roomPageRoute, room) }

// ResumePath is the waiting-room page's path with a queue token in the
// fragment (#resume=), which brings a waiter back to its place. The token
// rides in the fragment, which browsers never send: it stays out of access
// logs and Referer headers.
func ResumePath(room, queueToken string) string {
	return RoomPagePath(room) + "#resume=" + url.QueryEscape(queueToken)
}

// eventPagePath is the path of an event's ticket page.
func eventPagePath(event string) string { return fill(eventPageRoute, event) }

// orderPagePath is the path of an order's page, where a payment provider
// sends the fan back.
func orderPagePath(order string) string { return fill(orderPageRoute, order) }

// SandboxPayPath is the path of the sandbox provider's hosted pay page for
// a payment.
func SandboxPayPath(paymentID string) string { return fill(sandboxPayRoute, paymentID) }

// PaymentWebhookPath is the path a payment provider posts its webhooks to.
func PaymentWebhookPath(provider string) string { return fill(paymentWebhookRoute, provider) }

// The admin API's paths, for its clients (the crowdgate CLI).

// AdminRoomsPath lists the rooms.
const AdminRoomsPath = adminAPI + adminRoomsRoute

// AdminRoomPath is one room: GET, PUT, PATCH, DELETE.
func AdminRoomPath(room string) string { return fill(adminAPI+adminRoomRoute, room) }

// AdminRoomCodesPath is a room's access codes: POST adds, GET counts,
// DELETE revokes them all.
func AdminRoomCodesPath(room string) string { return AdminRoomPath(room) + roomCodesRoute }

// AdminRoomHooksDeadPath lists a room's hook messages given up on; with
// "/retry", POST sends them again.
func AdminRoomHooksDeadPath(room string) string { return AdminRoomPath(room) + roomHooksDeadRoute }

// AdminRoomTemplatePath is a room's page template.
func AdminRoomTemplatePath(room string) string { return AdminRoomPath(room) + roomTemplateRoute }

// AdminEventsPath lists the events.
const AdminEventsPath = adminAPI + adminEventsRoute

// AdminEventPath is one event: GET, PUT, DELETE.
func AdminEventPath(event string) string { return fill(adminAPI+adminEventRoute, event) }

// AdminEventLogPath is an event's log.
func AdminEventLogPath(event string) string { return AdminEventPath(event) + eventLogRoute }

// AdminEventAuditPath is an event's recount.
func AdminEventAuditPath(event string) string { return AdminEventPath(event) + eventAuditRoute }
