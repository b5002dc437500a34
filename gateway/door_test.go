package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// TestEveryDoorRefusesAnEndedAdmission walks one admission through every
// path that lets a visitor in on it (forward auth, the reverse proxy, the
// booking API, fan status): each must refuse it once it
// was released, once its room was deleted, and once a room of the same name
// was created again.
func TestEveryDoorRefusesAnEndedAdmission(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)

	doors := []struct {
		name string
		try  func(s *stack, token string) int
	}{
		{"forward auth, room=", func(s *stack, token string) int {
			return s.do("GET", "/auth/v1/check?room=launch", "", "Authorization", "Bearer "+token).status
		}},
		{"forward auth, X-Original-URI", func(s *stack, token string) int {
			return s.do("GET", "/auth/v1/check", "", "X-Original-URI", "/checkout/pay", "Cookie", "cg_a_launch="+token).status
		}},
		{"reverse proxy", func(s *stack, token string) int {
			return s.do("GET", "/checkout/pay", "", "Accept", "application/json", "Cookie", "cg_a_launch="+token).status
		}},
		{"booking", func(s *stack, token string) int {
			return s.as(token, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`).status
		}},
	}
	ends := []struct {
		name string
		end  func(s *stack, token, queueToken string)
	}{
		{"released", func(s *stack, token, _ string) {
			if r := s.as(token, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
				t.Fatalf("release: %d %s", r.status, r.body)
			}
		}},
		{"room deleted", func(s *stack, _, _ string) {
			if r := s.admin("DELETE", "/admin/v1/rooms/launch", ""); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
		}},
		{"room deleted and created again", func(s *stack, _, _ string) {
			if r := s.admin("DELETE", "/admin/v1/rooms/launch", ""); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			// A second later, so the new room's creation is not in the
			// same second as the old admission's iat.
			time.Sleep(1100 * time.Millisecond)
			s.putRoom("launch", `{"passthrough": true}`)
		}},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			s := newStackWith(t, stackOptions{booking: true, upstream: up, routes: []string{"/checkout/=launch"}})
			s.putRoom("launch", `{"passthrough": true}`)
			if r := s.admin("PUT", "/admin/v1/events/gig", eventDoc); r.status != http.StatusCreated {
				t.Fatalf("put event: %d %s", r.status, r.body)
			}
			join := s.do("POST", "/api/v1/rooms/launch/join", "")
			token, _ := join.json(t)["admission_token"].(string)
			queueToken, _ := join.json(t)["queue_token"].(string)
			if token == "" {
				t.Fatalf("join: %d %s", join.status, join.body)
			}
			for _, d := range doors[:3] { // the reads; a hold changes state
				if got := d.try(s, token); got != http.StatusOK {
					t.Fatalf("%s before the end: %d, want 200", d.name, got)
				}
			}
			e.end(s, token, queueToken)
			for _, d := range doors {
				if got := d.try(s, token); got == http.StatusOK || got == http.StatusCreated || got == http.StatusNoContent {
					t.Errorf("%s let an ended admission through: %d", d.name, got)
				}
			}
			if r := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+queueToken); r.status == http.StatusOK && r.json(t)["status"] == "admitted" {
				t.Errorf("fan status still says admitted: %s", r.body)
			}
			// Releasing what has ended changes nothing, and says so plainly.
			if r := s.as(token, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
				t.Errorf("release after the end: %d %s", r.status, r.body)
			}
		})
	}
}
