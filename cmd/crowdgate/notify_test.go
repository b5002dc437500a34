package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/webhooksig"
)

// TestNotificationsThroughServe: serve wires notify to both of its
// producers. A waiter who left a phone number is sent a confirmation,
// confirms it, and hears, on the operator's webhook, that they are
// admitted, with a link back to their place; a buyer hears that their
// order is paid. Every message is signed.
func TestNotificationsThroughServe(t *testing.T) {
	t.Parallel()
	const secret = "notify-secret-0123456789"
	got := make(chan map[string]any, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooksig.Verify([]byte(secret), r.Header.Get(webhooksig.Header), body, time.Now(), 0); err != nil {
			t.Errorf("unsigned notification: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("notification %q: %v", body, err)
		}
		got <- m
	}))
	t.Cleanup(rcv.Close)
	const paySecret = "sandbox-secret-0123456789"
	inst := startServe(t, map[string]string{
		"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_SANDBOX_WEBHOOK_SECRET": paySecret,
		"CROWDGATE_NOTIFY_WEBHOOK_URL": rcv.URL, "CROWDGATE_NOTIFY_WEBHOOK_SECRET": secret,
		"CROWDGATE_NOTIFY_PHONE_CODES": "+91,+44",
	})
	admin := []string{"Authorization", "Bearer tok"}
	wait := func(kind string) map[string]any {
		t.Helper()
		for timeout := time.After(10 * time.Second); ; {
			select {
			case m := <-got:
				if m["kind"] == kind {
					return m
				}
			case <-timeout:
				t.Fatalf("no %s notification within 10 s", kind)
			}
		}
	}

	if code, m := call(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"admit_per_minute":600,"paused":true}`, admin...); code != 201 {
		t.Fatalf("room: %d %v", code, m)
	}
	_, j := call(t, "POST", inst.base+"/api/v1/rooms/launch/join", "")
	qt, _ := j["queue_token"].(string)
	fan := []string{"Authorization", "Bearer " + qt, "Content-Type", "application/json"}
	if code, m := call(t, "POST", inst.base+"/api/v1/rooms/launch/notify", `{"phone":"+919800000000"}`, fan...); code != 202 {
		t.Fatalf("notify me: %d %v", code, m)
	}
	m := wait("contact.confirm")
	link, _ := m["link"].(string)
	_, confirm, ok := strings.Cut(link, "&confirm=")
	if !ok || m["phone"] != "+919800000000" || !strings.HasPrefix(link, inst.base+"/rooms/launch#resume=") {
		t.Fatalf("confirmation %v", m)
	}
	if code, m := call(t, "POST", inst.base+"/api/v1/rooms/launch/notify/confirm", `{"code":"`+confirm+`"}`, fan...); code != 200 {
		t.Fatalf("confirm: %d %v", code, m)
	}
	if code, m := call(t, "PATCH", inst.base+"/admin/v1/rooms/launch", `{"paused":false}`, admin...); code != 200 {
		t.Fatalf("unpause: %d %v", code, m)
	}
	m = wait("queue.admitted")
	if link, _ := m["link"].(string); m["room"] != "launch" || m["phone"] != "+919800000000" || !strings.HasPrefix(link, inst.base+"/rooms/launch#resume=") {
		t.Errorf("admitted message %v", m)
	}

	if code, m := call(t, "PUT", inst.base+"/admin/v1/events/gig", `{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":5,"price_minor":100,"currency":"INR","per_order_limit":2}]}`, admin...); code != 201 {
		t.Fatalf("event: %d %v", code, m)
	}
	_, st := call(t, "GET", inst.base+"/api/v1/rooms/launch/status", "", fan...)
	at, _ := st["admission_token"].(string)
	buyer := []string{"Authorization", "Bearer " + at, "Content-Type", "application/json"}
	code, h := call(t, "POST", inst.base+"/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1,"email":"fan@example.com"}`, buyer...)
	if code != 201 {
		t.Fatalf("hold: %d %v", code, h)
	}
	code, o := call(t, "POST", inst.base+"/api/v1/holds/"+h["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`, buyer...)
	if code != 201 {
		t.Fatalf("checkout: %d %v", code, o)
	}
	pay := o["payment"].(map[string]any)["id"].(string)
	body := `{"id":"evt_1","type":"payment.succeeded","payment_id":"` + pay + `"}`
	if code, m := call(t, "POST", inst.base+"/api/v1/payments/sandbox/webhook", body,
		webhooksig.Header, webhooksig.Sign([]byte(paySecret), time.Now(), []byte(body))); code != 200 {
		t.Fatalf("payment webhook: %d %v", code, m)
	}
	if m := wait("order.paid"); m["event"] != "gig" || m["order"] != o["order_id"] || m["email"] != "fan@example.com" {
		t.Errorf("paid message %v", m)
	}
}
