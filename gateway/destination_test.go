package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestRoomDestination: a fan who came with no return_to is sent, once
// admitted, to the room's destination, else to the page of the event
// selling through the room, else to the site's root; a destination must be
// a path on the site.
func TestRoomDestination(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true, running: true})
	returnTo := func(room, query string) string {
		r := s.do("GET", "/rooms/"+room+query, "", "Accept", "text/html")
		if r.status != http.StatusOK {
			t.Fatalf("page of %s: %d", room, r.status)
		}
		_, rest, _ := strings.Cut(string(r.body), `data-return-to="`)
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	s.putRoom("dest", `{"passthrough": true, "destination": "/checkout/start"}`)
	s.putRoom("plain", `{"passthrough": true}`)
	if got := returnTo("dest", ""); got != "/checkout/start" {
		t.Errorf("a room with a destination sends fans to %q", got)
	}
	if got := returnTo("dest", "?return_to=/cart"); got != "/cart" {
		t.Errorf("return_to wins over the destination: %q", got)
	}
	if got := returnTo("plain", ""); got != "/" {
		t.Errorf("a room with neither destination nor event: %q", got)
	}
	s.putRoom("sale", `{"passthrough": true}`)
	if r := s.admin("PUT", "/admin/v1/events/final", strings.Replace(eventDoc, `"launch"`, `"sale"`, 1)); r.status/100 != 2 {
		t.Fatalf("event: %d %s", r.status, r.body)
	}
	if err := s.core.Sweep(context.Background()); err != nil { // as the booking core's loop does
		t.Fatal(err)
	}
	if got := returnTo("sale", ""); got != "/events/final" {
		t.Errorf("a room an event sells through sends fans to %q", got)
	}
	for _, bad := range []string{`"https://evil.example/"`, `"//evil.example/"`, `"checkout"`, `"/a\\b"`, `"/a\u0000b"`} {
		if r := s.admin("PATCH", "/admin/v1/rooms/dest", `{"destination": `+bad+`}`); r.status != http.StatusBadRequest {
			t.Errorf("destination %s: %d, want 400", bad, r.status)
		}
	}
}

// TestBrowsersNeverSeeJSON: a browser's page load of a path that is not
// there, or that failed, gets a page; API clients still get the contract's
// JSON, and API paths stay JSON for everyone.
func TestBrowsersNeverSeeJSON(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	page := s.do("GET", "/nothing/here", "", "Accept", "text/html,application/xhtml+xml")
	if page.status != http.StatusNotFound || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") || !strings.Contains(string(page.body), "Page not found") {
		t.Fatalf("a browser at a missing path: %d %s %.200s", page.status, page.header.Get("Content-Type"), page.body)
	}
	if r := s.do("GET", "/nothing/here", ""); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
		t.Fatalf("an API client at a missing path: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "/api/v1/rooms/nope", "", "Accept", "text/html"); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
		t.Fatalf("an API path from a browser: %d %s", r.status, r.body)
	}
}
