package gateway_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/gateway"
)

// TestPurchaseLimitSpansTheAdmission is issue 14's finding over HTTP: one
// admission, three rounds of hold → checkout → paid, per_order_limit 4 and
// no per_admission_limit set. The second and third rounds are refused with
// 409 limit_reached, saying what is left, and 4 tickets are sold in all.
func TestPurchaseLimitSpansTheAdmission(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	if got := s.do("GET", "/api/v1/events/gig", "").json(t)["per_admission_limit"]; got != 4.0 {
		t.Fatalf("public per_admission_limit = %v, want the default 4", got)
	}
	fan := s.fan("launch")
	for round := 1; round <= 3; round++ {
		r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":4}`)
		if round > 1 {
			if r.status != http.StatusConflict || r.errorCode(t) != "limit_reached" {
				t.Fatalf("round %d: %d %s, want 409 limit_reached", round, r.status, r.body)
			}
			limit, _ := r.json(t)["limit"].(map[string]any)
			if limit["per_admission"] != 4.0 || limit["left"] != 0.0 {
				t.Fatalf("round %d: limit = %v, want 4 per admission, 0 left", round, limit)
			}
			continue
		}
		if r.status != http.StatusCreated {
			t.Fatalf("round %d: hold: %d %s", round, r.status, r.body)
		}
		holdID := r.json(t)["hold_id"].(string)
		o := s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
		if _, err := s.sandbox.Decide(context.Background(), o["payment"].(map[string]any)["id"].(string), true); err != nil {
			t.Fatal(err)
		}
	}
	if a, h, sold := s.inventory(); a != 6 || h != 0 || sold != 4 {
		t.Fatalf("available %d held %d sold %d, want 4 sold", a, h, sold)
	}
	// Another admission buys on its own count.
	if r := s.as(s.fan("launch"), "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":4}`); r.status != http.StatusCreated {
		t.Fatalf("another admission: %d %s", r.status, r.body)
	}
	if a := s.admin("GET", "/admin/v1/events/gig/audit", "").json(t); a["balanced"] != true {
		t.Fatalf("audit = %v", a)
	}
}

// TestPerAdmissionLimitIsValidated: the organizer may raise the limit; a
// value below a per_order_limit, negative, absurd or not an integer is a
// 400 and changes nothing.
func TestPerAdmissionLimitIsValidated(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	with := func(v string) string {
		return strings.Replace(eventDoc, `"hold_seconds": 600,`, `"hold_seconds": 600, "per_admission_limit": `+v+`,`, 1)
	}
	for _, v := range []string{`-1`, `3`, `1001`, `"6"`, `6.5`, `1e1`, `99999999999999999999`, `true`, `[6]`} {
		if r := s.admin("PUT", "/admin/v1/events/gig", with(v)); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" {
			t.Errorf("per_admission_limit %s: %d %s", v, r.status, r.body)
		}
	}
	if got := s.admin("GET", "/admin/v1/events/gig", "").json(t)["per_admission_limit"]; got != 4.0 {
		t.Fatalf("per_admission_limit = %v after refused changes, want 4", got)
	}
	for v, want := range map[string]float64{`6`: 6, `0`: 4, `null`: 4, `1000`: 1000} {
		r := s.admin("PUT", "/admin/v1/events/gig", with(v))
		if r.status != http.StatusOK || r.json(t)["per_admission_limit"] != want {
			t.Fatalf("per_admission_limit %s: %d %s, want %v", v, r.status, r.body, want)
		}
	}
}

// FuzzDecodeEvent: whatever an event document says, DecodeEvent returns a
// valid event whose per-admission limit is at least every per-order
// limit, or an error.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		eventDoc,
		strings.Replace(eventDoc, `"hold_seconds": 600,`, `"per_admission_limit": 6,`, 1),
		strings.Replace(eventDoc, `"hold_seconds": 600,`, `"per_admission_limit": -4,`, 1),
		strings.Replace(eventDoc, `"hold_seconds": 600,`, `"per_admission_limit": 1e400,`, 1),
		`{"room":"launch","per_admission_limit":2,"ticket_types":[{"id":"a","name":"A","capacity":1,"price_minor":1,"currency":"INR","per_order_limit":3}]}`,
		`{}`, `null`, `[]`, `{"per_admission_limit":"4"}`,
	} {
		f.Add("gig", s)
	}
	f.Fuzz(func(t *testing.T, id, doc string) {
		e, err := gateway.DecodeEvent(id, []byte(doc))
		if err != nil {
			return
		}
		if e.ID != id || e.Validate() != nil {
			t.Fatalf("accepted an invalid event %+v from %q", e, doc)
		}
		for _, tt := range e.TicketTypes {
			if e.PerAdmissionLimit < tt.PerOrderLimit {
				t.Fatalf("per-admission limit %d below type %s's per-order limit %d", e.PerAdmissionLimit, tt.ID, tt.PerOrderLimit)
			}
		}
	})
}

// TestEventSaysWhatTheLimitLeaves: GET /api/v1/events/{event} with an
// admission for the event's room adds what the per-admission limit leaves
// the caller (live holds and paid orders count), the same figures a 409
// limit_reached gives; without an admission, or with another room's, the
// answer is everyone's.
func TestEventSaysWhatTheLimitLeaves(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.putRoom("other", `{"passthrough": true}`)
	fan := s.fan("launch")
	limit := func(token string) map[string]any {
		t.Helper()
		r := s.as(token, "GET", "/api/v1/events/gig", "")
		if r.status != http.StatusOK {
			t.Fatalf("event: %d %s", r.status, r.body)
		}
		l, _ := r.json(t)["limit"].(map[string]any)
		return l
	}
	if l := limit(fan); l["per_admission"] != 4.0 || l["left"] != 4.0 {
		t.Fatalf("nothing bought: %v", l)
	}
	hold := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":3}`)
	if hold.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", hold.status, hold.body)
	}
	if l := limit(fan); l["left"] != 1.0 {
		t.Fatalf("3 held: %v", l)
	}
	r := s.as(fan, "POST", "/api/v1/holds/"+hold.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`)
	if _, err := s.sandbox.Decide(context.Background(), r.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	if l := limit(fan); l["left"] != 1.0 {
		t.Fatalf("3 paid: %v", l)
	}
	refused := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`).json(t)["limit"]
	if l := limit(fan); !reflect.DeepEqual(any(l), refused) {
		t.Fatalf("the event says %v, the refusal %v", l, refused)
	}
	for name, token := range map[string]string{"no admission": "", "another room's": s.fan("other"), "forged": "e30.e30.e30"} {
		r := s.do("GET", "/api/v1/events/gig", "", "Authorization", "Bearer "+token)
		if _, ok := r.json(t)["limit"]; r.status != http.StatusOK || ok {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// The admission cookie, as the ticket page sends it, says the same.
	if r := s.do("GET", "/api/v1/events/gig", "", "Cookie", "cg_a_launch="+fan); r.json(t)["limit"].(map[string]any)["left"] != 1.0 {
		t.Fatalf("with the cookie: %s", r.body)
	}
}
