package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/webhooksig"
)

const eventDoc = `{"room": "launch", "hold_seconds": 600,
 "ticket_types": [{"id": "ga", "name": "General", "capacity": 10, "price_minor": 150000,
                   "currency": "INR", "per_order_limit": 4}]}`

// newShop is a stack with room "launch" (passthrough, so joining admits)
// and event "gig" selling through it.
func newShop(t testing.TB) *stack {
	t.Helper()
	s := newStackWith(t, stackOptions{booking: true})
	s.putRoom("launch", `{"passthrough": true}`)
	if r := s.admin("PUT", "/admin/v1/events/gig", eventDoc); r.status != http.StatusCreated {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	return s
}

// fan joins room and returns their admission token.
func (s *stack) fan(room string) string {
	s.t.Helper()
	r := s.do("POST", "/api/v1/rooms/"+room+"/join", "")
	at, _ := r.json(s.t)["admission_token"].(string)
	if at == "" {
		s.t.Fatalf("join %s: %d %s", room, r.status, r.body)
	}
	return at
}

func (s *stack) as(token, method, path, body string, header ...string) response {
	s.t.Helper()
	return s.do(method, path, body, append([]string{"Authorization", "Bearer " + token, "Content-Type", "application/json"}, header...)...)
}

// inventory reads the organizer's view of type ga.
func (s *stack) inventory() (available, held, sold int) {
	s.t.Helper()
	r := s.admin("GET", "/admin/v1/events/gig", "")
	var v struct {
		TicketTypes []struct {
			Capacity, Available, Held, Sold int
		} `json:"ticket_types"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || len(v.TicketTypes) != 1 {
		s.t.Fatalf("event: %d %s", r.status, r.body)
	}
	tt := v.TicketTypes[0]
	if tt.Available+tt.Held+tt.Sold != tt.Capacity {
		s.t.Fatalf("available %d + held %d + sold %d != capacity %d", tt.Available, tt.Held, tt.Sold, tt.Capacity)
	}
	return tt.Available, tt.Held, tt.Sold
}

func TestBookingFlowWithSandbox(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")

	pub := s.do("GET", "/api/v1/events/gig", "").json(t)
	types := pub["ticket_types"].([]any)
	if len(types) != 1 || types[0].(map[string]any)["available"] != 10.0 || types[0].(map[string]any)["sold"] != nil {
		t.Fatalf("public event = %v (fans must not see held or sold)", pub)
	}

	r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`, "Idempotency-Key", "click-1")
	if r.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	hold := r.json(t)
	holdID := hold["hold_id"].(string)
	if hold["amount_minor"] != 300000.0 || hold["currency"] != "INR" || hold["expires_at"] == nil || len(hold["items"].([]any)) != 1 {
		t.Fatalf("hold = %v", hold)
	}
	again := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`, "Idempotency-Key", "click-1")
	if again.status != http.StatusCreated || string(again.body) != string(r.body) {
		t.Fatalf("replay: %d %s, want the first response %s", again.status, again.body, r.body)
	}
	if a, h, _ := s.inventory(); a != 8 || h != 2 {
		t.Fatalf("after hold: available %d held %d", a, h)
	}

	r = s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox","email":"fan@example.com"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	order := r.json(t)
	orderID := order["order_id"].(string)
	pay := order["payment"].(map[string]any)
	if order["status"] != "pending_payment" || pay["provider"] != "sandbox" || !strings.HasPrefix(pay["redirect_url"].(string), "/pay/sandbox/") {
		t.Fatalf("order = %v", order)
	}

	// The fan approves on the sandbox's page; its webhook comes back over
	// HTTP, signed.
	if _, err := s.sandbox.Decide(context.Background(), pay["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	got := s.do("GET", "/api/v1/orders/"+orderID, "").json(t)
	if got["status"] != "paid" || got["amount_minor"] != 300000.0 {
		t.Fatalf("order after approval = %v", got)
	}
	if a, h, sold := s.inventory(); a != 8 || h != 0 || sold != 2 {
		t.Fatalf("after payment: available %d held %d sold %d", a, h, sold)
	}
	// A redelivery changes nothing.
	if err := s.sandbox.Redeliver(context.Background(), pay["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if _, _, sold := s.inventory(); sold != 2 {
		t.Fatalf("sold %d after a redelivery", sold)
	}
	// The organizer can audit it all.
	log := s.admin("GET", "/admin/v1/events/gig/log?limit=100", "").json(t)
	var whats []string
	for _, e := range log["entries"].([]any) {
		whats = append(whats, e.(map[string]any)["what"].(string))
	}
	if want := "event.created hold.created order.created order.paid"; strings.Join(whats, " ") != want {
		t.Fatalf("log = %v, want %s", whats, want)
	}
	if a := s.admin("GET", "/admin/v1/events/gig/audit", "").json(t); a["balanced"] != true {
		t.Fatalf("audit = %v", a)
	}
}

func TestHoldErrors(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.putRoom("other", `{"passthrough": true}`)
	if r := s.admin("PUT", "/admin/v1/events/gig", strings.Replace(eventDoc, `"capacity": 10`, `"capacity": 5`, 1)); r.status != http.StatusOK {
		t.Fatalf("shrink: %d %s", r.status, r.body)
	}
	fan, stranger, elsewhere := s.fan("launch"), s.fan("launch"), s.fan("other")
	r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":3}`)
	if r.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	holdID := r.json(t)["hold_id"].(string)
	tests := []struct {
		name   string
		token  string
		method string
		path   string
		body   string
		status int
		code   string
	}{
		{"zero", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":0}`, 400, "invalid_request"},
		{"negative", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":-1}`, 400, "invalid_request"},
		{"huge", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":99999999999999999999}`, 400, "invalid_request"},
		{"fraction", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1.5}`, 400, "invalid_request"},
		{"string", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":"2"}`, 400, "invalid_request"},
		{"over limit", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":5}`, 400, "invalid_request"},
		{"unknown type", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"vip","quantity":1}`, 400, "invalid_request"},
		{"unknown field", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1,"price":0}`, 400, "invalid_request"},
		{"sold out", stranger, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":4}`, 409, ""},
		{"second hold", fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`, 409, "hold_exists"},
		{"no token", "", "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`, 401, "unauthorized"},
		{"forged token", fan + "x", "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`, 401, "unauthorized"},
		{"other room", elsewhere, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`, 403, "forbidden"},
		{"unknown event", stranger, "POST", "/api/v1/events/nope/holds", `{"ticket_type":"ga","quantity":1}`, 404, "not_found"},
		{"bad event id", stranger, "POST", "/api/v1/events/NOPE/holds", `{"ticket_type":"ga","quantity":1}`, 404, "not_found"},
		{"someone else's hold", stranger, "DELETE", "/api/v1/holds/" + holdID, "", 404, "not_found"},
		{"someone else's checkout", stranger, "POST", "/api/v1/holds/" + holdID + "/checkout", `{"provider":"sandbox"}`, 404, "not_found"},
		{"unknown provider", fan, "POST", "/api/v1/holds/" + holdID + "/checkout", `{"provider":"paypal"}`, 400, "invalid_request"},
		{"unknown order", fan, "GET", "/api/v1/orders/ord-nope", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := []string{"Content-Type", "application/json"}
			if tt.token != "" {
				h = append(h, "Authorization", "Bearer "+tt.token)
			}
			r := s.do(tt.method, tt.path, tt.body, h...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			code := tt.code
			if code == "" {
				code = "sold_out"
			}
			if got := r.errorCode(t); got != code {
				t.Fatalf("code %q, want %q", got, code)
			}
		})
	}
	if r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`); r.json(t)["hold_id"] != holdID {
		t.Fatalf("hold_exists must name the live hold: %s", r.body)
	}
	if a, h, sold := s.inventory(); a != 2 || h != 3 || sold != 0 {
		t.Fatalf("refused requests changed the books: available %d held %d sold %d", a, h, sold)
	}
	if r := s.as(fan, "DELETE", "/api/v1/holds/"+holdID, ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	if a, _, _ := s.inventory(); a != 5 {
		t.Fatalf("available %d after release", a)
	}
}

// TestDeleteEvent: DELETE /admin/v1/events/{event} refuses an event with
// a live hold or a paid order (409 event_has_orders, nothing changed), and
// deletes one that owes nothing, whose pages and holds are 404 afterwards.
func TestDeleteEvent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")
	r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`)
	if r.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	holdID := r.json(t)["hold_id"].(string)

	refused := func(want string) {
		t.Helper()
		r := s.admin("DELETE", "/admin/v1/events/gig", "")
		if r.status != http.StatusConflict || r.errorCode(t) != "event_has_orders" {
			t.Fatalf("delete: %d %s, want 409 event_has_orders", r.status, r.body)
		}
		if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, want) {
			t.Fatalf("message %q does not say %q", msg, want)
		}
		if r := s.do("GET", "/api/v1/events/gig", ""); r.status != http.StatusOK {
			t.Fatalf("the event after a refused delete: %d %s", r.status, r.body)
		}
	}
	refused("1 live hold (2 tickets held)")
	if a, h, _ := s.inventory(); a != 8 || h != 2 {
		t.Fatalf("a refused delete changed the books: available %d held %d", a, h)
	}

	// A paid order: the event stays for good.
	r = s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox","email":"fan@example.com"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	orderID := r.json(t)["order_id"].(string)
	if _, err := s.sandbox.Decide(context.Background(), r.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	refused("1 paid order (2 tickets sold)")
	if r := s.do("GET", "/api/v1/orders/"+orderID, ""); r.status != http.StatusOK || r.json(t)["status"] != "paid" {
		t.Fatalf("the paid order after a refused delete: %d %s", r.status, r.body)
	}

	// An event that owes nothing goes, with every way in.
	if r := s.admin("PUT", "/admin/v1/events/scrap", eventDoc); r.status != http.StatusCreated {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r = s.as(fan, "POST", "/api/v1/events/scrap/holds", `{"ticket_type":"ga","quantity":1}`)
	if r.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	released := r.json(t)["hold_id"].(string)
	if r := s.as(fan, "DELETE", "/api/v1/holds/"+released, ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, path string
		header     []string
		status     int
	}{
		{"no token", "/admin/v1/events/scrap", nil, http.StatusUnauthorized},
		{"bad id", "/admin/v1/events/Scrap", []string{"Authorization", "Bearer " + adminToken}, http.StatusNotFound},
		{"unknown", "/admin/v1/events/nope", []string{"Authorization", "Bearer " + adminToken}, http.StatusNotFound},
	} {
		if r := s.do("DELETE", tc.path, "", tc.header...); r.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	if r := s.admin("DELETE", "/admin/v1/events/scrap", ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name string
		r    response
	}{
		{"the public event", s.do("GET", "/api/v1/events/scrap", "")},
		{"the organizer's event", s.admin("GET", "/admin/v1/events/scrap", "")},
		{"its log", s.admin("GET", "/admin/v1/events/scrap/log", "")},
		{"a new hold", s.as(fan, "POST", "/api/v1/events/scrap/holds", `{"ticket_type":"ga","quantity":1}`)},
		{"its old hold", s.as(fan, "GET", "/api/v1/holds/"+released, "")},
		{"deleting again", s.admin("DELETE", "/admin/v1/events/scrap", "")},
	} {
		if tc.r.status != http.StatusNotFound || tc.r.errorCode(t) != "not_found" {
			t.Errorf("%s after the delete: %d %s, want 404", tc.name, tc.r.status, tc.r.body)
		}
	}
	if list := s.admin("GET", "/admin/v1/events", ""); strings.Contains(string(list.body), `"scrap"`) {
		t.Fatalf("the deleted event is still listed: %s", list.body)
	}
	if r := s.do("GET", "/api/v1/events/gig", ""); r.status != http.StatusOK {
		t.Fatalf("the other event: %d %s", r.status, r.body)
	}
	if r := s.admin("PUT", "/admin/v1/events/scrap", eventDoc); r.status != http.StatusCreated {
		t.Fatalf("create again: %d %s", r.status, r.body)
	}
}

func TestPaymentWebhookRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")
	holdID := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`).json(t)["hold_id"].(string)
	order := s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
	payID := order["payment"].(map[string]any)["id"].(string)
	body := fmt.Sprintf(`{"id":"evt_x1","type":"payment.succeeded","payment_id":%q}`, payID)
	now := time.Now()
	sign := func(secret string, at time.Time, b string) string {
		return webhooksig.Sign([]byte(secret), at, []byte(b))
	}
	for _, c := range []struct{ name, sig, body string }{
		{"missing", "", body},
		{"wrong secret", sign("not-the-secret-at-all", now, body), body},
		{"stale", sign(sandboxSecret, now.Add(-301*time.Second), body), body},
		{"future", sign(sandboxSecret, now.Add(301*time.Second), body), body},
		{"body swapped", sign(sandboxSecret, now, body), strings.Replace(body, "succeeded", "failed", 1)},
		{"malformed", "t=abc,v1=zz", body},
		{"not json", sign(sandboxSecret, now, "nope"), "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/payments/sandbox/webhook", c.body, "Crowdgate-Signature", c.sig)
			if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if got := s.do("GET", "/api/v1/orders/"+order["order_id"].(string), "").json(t)["status"]; got != "pending_payment" {
		t.Fatalf("status %v after forged webhooks", got)
	}
	ok := s.do("POST", "/api/v1/payments/sandbox/webhook", body, "Crowdgate-Signature", sign(sandboxSecret, now, body))
	if ok.status != http.StatusOK || ok.json(t)["result"] != "paid" {
		t.Fatalf("genuine: %d %s", ok.status, ok.body)
	}
	dup := s.do("POST", "/api/v1/payments/sandbox/webhook", body, "Crowdgate-Signature", sign(sandboxSecret, now, body))
	if dup.status != http.StatusOK || dup.json(t)["result"] != "duplicate" {
		t.Fatalf("redelivery: %d %s", dup.status, dup.body)
	}
	if r := s.do("POST", "/api/v1/payments/stripe/webhook", body, "Crowdgate-Signature", sign(sandboxSecret, now, body)); r.status != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", r.status)
	}
}

func TestEventAdminValidation(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	for _, body := range []string{
		`{"room":"launch","ticket_types":[]}`,
		`{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":-1,"price_minor":1,"currency":"INR","per_order_limit":1}]}`,
		`{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":1,"price_minor":1,"currency":"inr","per_order_limit":1}]}`,
		`{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":1,"price_minor":1,"currency":"INR","per_order_limit":0}]}`,
		`{"room":"launch","hold_seconds":-1,"ticket_types":[{"id":"ga","name":"GA","capacity":1,"price_minor":1,"currency":"INR","per_order_limit":1}]}`,
		`{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":1.5,"price_minor":1,"currency":"INR","per_order_limit":1}]}`,
		`{"room":"Launch","ticket_types":[{"id":"ga","name":"GA","capacity":1,"price_minor":1,"currency":"INR","per_order_limit":1}]}`,
		`{"room":"launch","surprise":1,"ticket_types":[{"id":"ga","name":"GA","capacity":1,"price_minor":1,"currency":"INR","per_order_limit":1}]}`,
		`not json`,
	} {
		if r := s.admin("PUT", "/admin/v1/events/gig", body); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	if a, h, sold := s.inventory(); a != 10 || h != 0 || sold != 0 {
		t.Fatalf("refused changes altered the event: %d %d %d", a, h, sold)
	}
	if r := s.do("PUT", "/admin/v1/events/gig", eventDoc); r.status != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d", r.status)
	}
	if r := s.admin("GET", "/admin/v1/events/gig/notifications/dead", ""); r.status != 200 || len(r.json(t)["dead"].([]any)) != 0 {
		t.Fatalf("dead letters: %d %s", r.status, r.body)
	}
	if r := s.admin("GET", "/admin/v1/events/nope/notifications/dead", ""); r.status != 404 {
		t.Fatalf("dead letters of no event: %d %s", r.status, r.body)
	}
	if r := s.admin("GET", "/admin/v1/events", ""); r.status != 200 || len(r.json(t)["events"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
}

func TestBookingRateLimitPerVisitor(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan, other := s.fan("launch"), s.fan("launch")
	limited := 0
	for range 150 {
		r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":0}`)
		if r.status == http.StatusTooManyRequests {
			if r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without the contract's shape: %v %s", r.header, r.body)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("150 requests at once from one visitor were all served")
	}
	if r := s.as(other, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`); r.status != http.StatusCreated {
		t.Fatalf("another visitor was limited too: %d %s", r.status, r.body)
	}
}

// TestSoldOutClosesTheRoom: waiters see what is left to buy; once nothing
// is left and nothing held could come back, the room closes by itself and
// says why.
func TestSoldOutClosesTheRoom(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true})
	if r := s.admin("PUT", "/admin/v1/events/gig", strings.Replace(eventDoc, `"capacity": 10`, `"capacity": 1`, 1)); r.status != http.StatusCreated {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	s.putRoom("launch", `{"admit_per_minute": 6000}`)
	buyerQT := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	for len(s.admit("launch")) == 0 { // the bucket fills at 100 a second
		time.Sleep(5 * time.Millisecond)
	}
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	waiterQT := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	buyer := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+buyerQT).json(t)["admission_token"].(string)
	waiter := func() map[string]any {
		t.Helper()
		if err := s.core.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+waiterQT).json(t)
	}
	if w := waiter(); w["status"] != "waiting" || w["tickets_available"] != 1.0 || w["tickets_held"] != 0.0 {
		t.Fatalf("before: %v", w)
	}
	holdID := s.as(buyer, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`).json(t)["hold_id"].(string)
	if w := waiter(); w["status"] != "waiting" || w["tickets_available"] != 0.0 || w["tickets_held"] != 1.0 {
		t.Fatalf("while the last ticket is held (it may come back): %v", w)
	}
	order := s.as(buyer, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
	if _, err := s.sandbox.Decide(context.Background(), order["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	if w := waiter(); w["status"] != "closed" || w["closed_reason"] != "sold_out" {
		t.Fatalf("after the last ticket sold: %v", w)
	}
	if r := s.admin("GET", "/admin/v1/rooms/launch", "").json(t); r["closed"] != true || r["closed_reason"] != "sold_out" {
		t.Fatalf("room: %v", r)
	}
	// A new fan is told the same.
	if j := s.do("POST", "/api/v1/rooms/launch/join", "").json(t); j["status"] != "closed" || j["closed_reason"] != "sold_out" {
		t.Fatalf("join after sold out: %v", j)
	}
}

func TestNotifyMe(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true})
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	qt := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	bearer := []string{"Authorization", "Bearer " + qt, "Content-Type", "application/json"}
	for _, c := range []struct {
		name, body string
		header     []string
		status     int
	}{
		{"no token", `{"email":"fan@example.com"}`, nil, 401},
		{"forged token", `{"email":"fan@example.com"}`, []string{"Authorization", "Bearer 1.AAAAAAAAAAAAAAAAAAAAAA"}, 401},
		{"nothing given", `{}`, bearer, 400},
		{"bad email", `{"email":"fan@example.com\r\nBcc: x@y.z"}`, bearer, 400},
		{"bad phone", `{"phone":"call me"}`, bearer, 400},
		{"unknown field", `{"email":"fan@example.com","name":"x"}`, bearer, 400},
		{"no body", ``, bearer, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			if r := s.do("POST", "/api/v1/rooms/launch/notify", c.body, c.header...); r.status != c.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, c.status)
			} else {
				r.errorCode(t)
			}
		})
	}
	if r := s.do("POST", "/api/v1/rooms/launch/notify", `{"phone":"+15550100"}`, bearer...); r.status != 400 {
		t.Fatalf("a phone number of a country not allowed: %d %s", r.status, r.body)
	}
	r := s.do("POST", "/api/v1/rooms/launch/notify", `{"phone":"+919800000000"}`, bearer...)
	if r.status != 202 || r.json(t)["notify"] != true || r.json(t)["confirmed"] != false || r.json(t)["place_kept_until"] != nil {
		t.Fatalf("notify: %d %s", r.status, r.body)
	}
	ws, err := s.store.NotifyWaiters(context.Background(), "launch")
	if err != nil || len(ws) != 1 || ws[0].Phone != "+919800000000" || ws[0].Stage != queue.NotifyUnconfirmed {
		t.Fatalf("stored: %+v %v", ws, err)
	}
	// The one message sent: the confirmation, whose link brings the code.
	msgs, err := s.redis.Client(t).XRange(context.Background(), notify.Named("waiters.launch").Outbox(), "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["kind"] != "contact.confirm" {
		t.Fatalf("sent %v %v, want one confirmation", msgs, err)
	}
	_, code, _ := strings.Cut(msgs[0].Values["link"].(string), "&confirm=")
	if r := s.do("POST", "/api/v1/rooms/launch/notify/confirm", `{"code":"nope"}`, bearer...); r.status != 400 {
		t.Fatalf("a wrong code: %d %s", r.status, r.body)
	}
	r = s.do("POST", "/api/v1/rooms/launch/notify/confirm", `{"code":"`+code+`"}`, bearer...)
	if r.status != 200 || r.json(t)["confirmed"] != true || r.json(t)["place_kept_until"] == nil {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	// One contact, one place.
	other := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	if r := s.do("POST", "/api/v1/rooms/launch/notify", `{"phone":"+919800000000"}`, "Authorization", "Bearer "+other, "Content-Type", "application/json"); r.status != 409 {
		t.Fatalf("the same phone for a second place: %d %s", r.status, r.body)
	}
	if r := s.do("DELETE", "/api/v1/rooms/launch/notify", "", bearer...); r.status != 204 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if ws, _ := s.store.NotifyWaiters(context.Background(), "launch"); len(ws) != 0 {
		t.Fatalf("after cancel: %+v", ws)
	}
}
