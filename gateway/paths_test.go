package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/booking"
)

// TestPathsAreTheRoutes: every path a builder makes is served by the route
// registered under the same pattern, so the link and the route cannot
// drift apart.
func TestPathsAreTheRoutes(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // registering routes dials nothing
	t.Cleanup(func() { _ = rdb.Close() })
	core, err := booking.NewCore(rdb, booking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sandbox, err := booking.NewSandbox(rdb, booking.SandboxConfig{Secret: []byte("secret"),
		PayURL: SandboxPayPath, WebhookURL: "http://127.0.0.1" + PaymentWebhookPath("sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{AdminToken: "x", Ready: func(context.Context) error { return nil }, Booking: core, Sandbox: sandbox}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, route string }{
		{http.MethodGet, RoomPagePath("launch"), roomPageRoute},
		{http.MethodGet, orderPagePath("o-1"), orderPageRoute},
		{http.MethodGet, eventPagePath("gig"), eventPageRoute},
		{http.MethodPost, SandboxPayPath("p-1"), sandboxPayRoute},
		{http.MethodPost, PaymentWebhookPath("sandbox"), paymentWebhookRoute},
		{http.MethodGet, checkRoute, checkRoute},
		{http.MethodGet, AdminRoomsPath, adminAPI + adminRoomsRoute},
		{http.MethodPatch, AdminRoomPath("launch"), adminAPI + adminRoomRoute},
		{http.MethodGet, AdminEventsPath, adminAPI + adminEventsRoute},
		{http.MethodPut, AdminEventPath("gig"), adminAPI + adminEventRoute},
		{http.MethodGet, AdminEventLogPath("gig"), adminAPI + adminEventRoute + eventLogRoute},
		{http.MethodGet, AdminEventAuditPath("gig"), adminAPI + adminEventRoute + eventAuditRoute},
	} {
		c := s.echo.NewContext(nil, nil)
		s.echo.Router().Find(tc.method, tc.path, c)
		if c.Path() != tc.route {
			t.Errorf("%s %s is routed to %q, want %q", tc.method, tc.path, c.Path(), tc.route)
		}
	}
	if got, want := ResumePath("launch", "a b"), "/rooms/launch#resume=a+b"; got != want {
		t.Errorf("ResumePath = %q, want %q", got, want)
	}
}
