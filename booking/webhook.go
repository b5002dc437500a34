package booking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/crowdgate/crowdgate/webhooksig"
)

// maxWebhookField bounds each field of a webhook's body: they become Redis
// keys and log fields.
const maxWebhookField = 128

// webhookBody is a webhook's JSON, as the contract spells it.
type webhookBody struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	PaymentID string `json:"payment_id"`
}

// ParseWebhookBody reads a verified webhook's body: one JSON object with
// non-empty id, type and payment_id, each at most 128 visible ASCII
// characters (they become Redis keys and log fields), and a type of
// WebhookSucceeded or WebhookFailed. Unknown fields are allowed, because
// providers add fields over time and a receiver that refused them would
// drop real payments. Anything else is ErrBadWebhook.
func ParseWebhookBody(body []byte) (WebhookEvent, error) {
	if len(body) > webhooksig.MaxBody {
		return WebhookEvent{}, fmt.Errorf("%w: over %d bytes", ErrBadWebhook, webhooksig.MaxBody)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return WebhookEvent{}, fmt.Errorf("%w: not a JSON object", ErrBadWebhook)
	}
	var b webhookBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return WebhookEvent{}, fmt.Errorf("%w: %v", ErrBadWebhook, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return WebhookEvent{}, fmt.Errorf("%w: data after the object", ErrBadWebhook)
	}
	for _, f := range []struct{ name, v string }{{"id", b.ID}, {"type", b.Type}, {"payment_id", b.PaymentID}} {
		if !webhookField(f.v) {
			return WebhookEvent{}, fmt.Errorf("%w: %s must be 1 to %d visible ASCII characters", ErrBadWebhook, f.name, maxWebhookField)
		}
	}
	if b.Type != WebhookSucceeded && b.Type != WebhookFailed {
		return WebhookEvent{}, fmt.Errorf("%w: unknown type %q", ErrBadWebhook, b.Type)
	}
	return WebhookEvent(b), nil
}

func webhookField(s string) bool {
	if s == "" || len(s) > maxWebhookField {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
