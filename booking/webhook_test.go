package booking_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/booking"
)

var (
	testSecret = []byte("whsec-test-0123456789abcdef")
	testBody   = []byte(`{"id":"evt_1","type":"payment.succeeded","payment_id":"pay-1"}`)
)

func TestParseWebhookBody(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 129)
	tests := []struct {
		name string
		body string
		want booking.WebhookEvent
	}{
		{"succeeded", `{"id":"evt_1","type":"payment.succeeded","payment_id":"pay-1"}`, booking.WebhookEvent{ID: "evt_1", Type: booking.WebhookSucceeded, PaymentID: "pay-1"}},
		{"failed", `{"id":"evt_2","type":"payment.failed","payment_id":"pay-2"}`, booking.WebhookEvent{ID: "evt_2", Type: booking.WebhookFailed, PaymentID: "pay-2"}},
		{"unknown fields allowed", ` {"created":1,"id":"e","data":{"x":[1]},"type":"payment.failed","payment_id":"p"}` + "\n", booking.WebhookEvent{ID: "e", Type: booking.WebhookFailed, PaymentID: "p"}},
		{"128 bytes", `{"id":"` + long[:128] + `","type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{ID: long[:128], Type: booking.WebhookFailed, PaymentID: "p"}},
		{"empty", ``, booking.WebhookEvent{}},
		{"null", `null`, booking.WebhookEvent{}},
		{"array", `[]`, booking.WebhookEvent{}},
		{"no id", `{"type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"no type", `{"id":"e","payment_id":"p"}`, booking.WebhookEvent{}},
		{"no payment", `{"id":"e","type":"payment.failed"}`, booking.WebhookEvent{}},
		{"null id", `{"id":null,"type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"numeric id", `{"id":1,"type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"unknown type", `{"id":"e","type":"payment.refunded","payment_id":"p"}`, booking.WebhookEvent{}},
		{"id too long", `{"id":"` + long + `","type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"space in id", `{"id":"e 1","type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"control in payment", `{"id":"e","type":"payment.failed","payment_id":"p\n"}`, booking.WebhookEvent{}},
		{"non-ASCII", `{"id":"é","type":"payment.failed","payment_id":"p"}`, booking.WebhookEvent{}},
		{"trailing data", `{"id":"e","type":"payment.failed","payment_id":"p"}{}`, booking.WebhookEvent{}},
		{"trailing brace", `{"id":"e","type":"payment.failed","payment_id":"p"}}`, booking.WebhookEvent{}},
		{"truncated", `{"id":"e","type":"payment.failed","payment_id":"p"`, booking.WebhookEvent{}},
		{"huge", `{"id":"e","type":"payment.failed","payment_id":"p","x":"` + strings.Repeat("a", 64<<10) + `"}`, booking.WebhookEvent{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := booking.ParseWebhookBody([]byte(tc.body))
			if tc.want == (booking.WebhookEvent{}) {
				if !errors.Is(err, booking.ErrBadWebhook) {
					t.Errorf("got %+v, %v; want ErrBadWebhook", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseWebhookBody: parsing never panics, and what it accepts meets
// the contract (non-empty visible ASCII fields, a known type).
func FuzzParseWebhookBody(f *testing.F) {
	for _, s := range []string{
		string(testBody), `{}`, `null`, `[]`, `{"id":"e","type":"payment.failed","payment_id":"p","x":{}}`,
		`{"id":"e","type":"payment.failed","payment_id":"p"} `, `{"id":"\u0000"}`, `{"ID":"e","TYPE":"payment.failed","Payment_Id":"p"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := booking.ParseWebhookBody(body)
		if err != nil {
			if !errors.Is(err, booking.ErrBadWebhook) {
				t.Fatalf("error %v is not ErrBadWebhook", err)
			}
			return
		}
		if ev.Type != booking.WebhookSucceeded && ev.Type != booking.WebhookFailed {
			t.Fatalf("accepted type %q", ev.Type)
		}
		for _, v := range []string{ev.ID, ev.PaymentID} {
			if v == "" || len(v) > 128 || strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
				t.Fatalf("accepted field %s", strconv.Quote(v))
			}
		}
	})
}
