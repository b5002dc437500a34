package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/gateway"
)

// namedEventDoc is eventDoc with the event's own name.
const namedEventDoc = `{"name": "Sunburn <Goa> 2026", "room": "launch", "hold_seconds": 600,
 "ticket_types": [{"id": "ga", "name": "General", "capacity": 10, "price_minor": 150000,
                   "currency": "INR", "per_order_limit": 4}]}`

// TestEventName: an event's optional name goes in with PUT and comes back
// in the organizers' and the fans' views; a bad one is a 400 that changes
// nothing, and an event set again without one has none.
func TestEventName(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	name := func() (organizer, fan any) {
		t.Helper()
		return s.admin("GET", "/admin/v1/events/gig", "").json(t)["name"], s.do("GET", "/api/v1/events/gig", "").json(t)["name"]
	}
	if o, f := name(); o != nil || f != nil {
		t.Fatalf("an event set without a name has one: %v %v", o, f)
	}
	if r := s.admin("PUT", "/admin/v1/events/gig", namedEventDoc); r.status != http.StatusOK || r.json(t)["name"] != "Sunburn <Goa> 2026" {
		t.Fatalf("put with a name: %d %s", r.status, r.body)
	}
	if o, f := name(); o != "Sunburn <Goa> 2026" || f != "Sunburn <Goa> 2026" {
		t.Fatalf("name read back: %v %v", o, f)
	}
	for _, bad := range []string{`"a\u0007b"`, `"line\nbreak"`, `"` + strings.Repeat("é", 201) + `"`, `42`} {
		body := strings.Replace(namedEventDoc, `"Sunburn <Goa> 2026"`, bad, 1)
		if r := s.admin("PUT", "/admin/v1/events/gig", body); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" {
			t.Errorf("name %s: %d %s", bad, r.status, r.body)
		}
		if o, _ := name(); o != "Sunburn <Goa> 2026" {
			t.Errorf("after name %s: %v", bad, o)
		}
	}
	long := strings.Repeat("é", 200)
	if r := s.admin("PUT", "/admin/v1/events/gig", strings.Replace(namedEventDoc, "Sunburn <Goa> 2026", long, 1)); r.status != http.StatusOK || r.json(t)["name"] != long {
		t.Errorf("200 characters: %d %s", r.status, r.body)
	}
	if r := s.admin("PUT", "/admin/v1/events/gig", eventDoc); r.status != http.StatusOK {
		t.Fatalf("put without a name: %d %s", r.status, r.body)
	}
	if o, f := name(); o != nil || f != nil {
		t.Errorf("set again without a name, it still has one: %v %v", o, f)
	}
}

// TestShopPagesSayNames: the sandbox's pay page says what is paid for by
// the ticket type's and the event's names, and carries the amount for the
// script to write as the other pages write money; the order page leads on
// once paid, to the room's destination when it has one, else the event.
func TestShopPagesSayNames(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	if r := s.admin("PUT", "/admin/v1/events/gig", namedEventDoc); r.status != http.StatusOK {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	fan := s.fan("launch")
	checkout := func() (order, payURL string) {
		t.Helper()
		r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`)
		if r.status != http.StatusCreated {
			t.Fatalf("hold: %d %s", r.status, r.body)
		}
		o := s.as(fan, "POST", "/api/v1/holds/"+r.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`).json(t)
		return o["order_id"].(string), o["payment"].(map[string]any)["redirect_url"].(string)
	}
	order, payURL := checkout()
	pay := s.getPage(payURL)
	body := string(pay.body)
	if pay.status != 200 || !strings.Contains(body, "<p>2 × General, Sunburn &lt;Goa&gt; 2026</p>") || strings.Contains(body, "× ga") {
		t.Errorf("pay page does not name what is paid for: %d %s", pay.status, body)
	}
	if attr(t, pay.body, "data-minor") != "300000" || attr(t, pay.body, "data-currency") != "INR" || attr(t, pay.body, "data-page") != "pay" ||
		!strings.Contains(body, ">Pay INR 3,000.00</h1>") {
		t.Errorf("pay page's amount: %s", body)
	}
	checkPageHeaders(t, pay)

	if got := attr(t, s.getPage("/orders/"+order).body, "data-paid-link"); got != "/events/gig" {
		t.Errorf("onward without a destination: %q", got)
	}
	if got := attr(t, s.getPage("/orders/"+order+"?lang=hi").body, "data-paid-link"); got != "/events/gig?lang=hi" {
		t.Errorf("onward with ?lang=: %q", got)
	}
	s.putRoom("launch", `{"passthrough": true, "destination": "/welcome?from=queue"}`)
	if got := attr(t, s.getPage("/orders/"+order).body, "data-paid-link"); got != "/welcome?from=queue" {
		t.Errorf("onward with the room's destination: %q", got)
	}
	if got := attr(t, s.getPage("/orders/ord-nosuchorder").body, "data-paid-link"); got != "" {
		t.Errorf("onward of an unknown order: %q", got)
	}
}

// FuzzEventName: an event definition takes a name exactly when it is at
// most 200 characters without control characters, and keeps it as sent.
func FuzzEventName(f *testing.F) {
	for _, n := range []string{"", "Sunburn Goa 2026", "a\x07b", "tab\there", strings.Repeat("é", 200), strings.Repeat("é", 201), "\xff", "\u202eRTL"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		doc, err := json.Marshal(map[string]any{"name": name, "room": "launch", "ticket_types": []map[string]any{
			{"id": "ga", "name": "General", "capacity": 1, "price_minor": 1, "currency": "INR", "per_order_limit": 1}}})
		if err != nil {
			t.Fatal(err)
		}
		var sent struct{ Name string }
		if err := json.Unmarshal(doc, &sent); err != nil { // JSON carries invalid UTF-8 as U+FFFD
			t.Fatal(err)
		}
		want := utf8.RuneCountInString(sent.Name) <= 200 && !strings.ContainsFunc(sent.Name, unicode.IsControl)
		e, err := gateway.DecodeEvent("gig", doc)
		if want != (err == nil) {
			t.Fatalf("name %q: accepted %v, error %v", sent.Name, want, err)
		}
		if err == nil && e.Name != sent.Name {
			t.Fatalf("name %q kept as %q", sent.Name, e.Name)
		}
	})
}
