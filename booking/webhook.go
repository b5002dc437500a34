package booking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Payment webhooks are signed the way Stripe signs them, so anyone who has
// written a Stripe receiver can write one for Crowdgate's sandbox, and so
// the verification code is the same for both: the header
//
//	Crowdgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>
//
// binds the body to a moment; a receiver refuses moments too far from its
// clock, which bounds how long a captured request can be replayed (the
// event id, remembered for days, stops replays inside the window).

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "Crowdgate-Signature"

// WebhookTolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way (clocks drift both ways).
const WebhookTolerance = 300 * time.Second

// Bounds on what a webhook can be. A real header is about 80 bytes (a few
// more v1 entries during a secret rotation); a real body under 200. The caps
// keep a flood of junk from costing more than reading it.
const (
	maxSignatureHeader = 1 << 10
	// MaxWebhookBody is the largest webhook body accepted (the contract's
	// 64 KiB request limit); receivers should read at most one byte more.
	MaxWebhookBody  = 64 << 10
	maxWebhookField = 128
)

// SignWebhook returns the SignatureHeader value for body, sent at t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	_, _ = io.WriteString(m, ts) // a hash.Hash never fails to write
	_, _ = m.Write([]byte{'.'})
	_, _ = m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks that header signs body with secret at a time within
// tolerance of now (WebhookTolerance when tolerance <= 0). It parses the
// header like Stripe does: comma-separated key=value pairs, unknown keys
// ignored (room for a v2 scheme), and any number of v1 signatures of which
// one must match, so a sender can sign with the old and the new secret
// while a rotation is under way. A second t is refused rather than guessed
// at. Every failure is ErrBadSignature, with the reason wrapped in for logs;
// the comparison is constant-time.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = WebhookTolerance
	}
	switch {
	case len(secret) == 0:
		return fmt.Errorf("%w: no secret configured", ErrBadSignature)
	case header == "":
		return fmt.Errorf("%w: no %s header", ErrBadSignature, SignatureHeader)
	case len(header) > maxSignatureHeader:
		return fmt.Errorf("%w: header over %d bytes", ErrBadSignature, maxSignatureHeader)
	case len(body) > MaxWebhookBody:
		return fmt.Errorf("%w: body over %d bytes", ErrBadSignature, MaxWebhookBody)
	}
	var ts string
	var sigs [][]byte
	for pair := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrBadSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one t", ErrBadSignature)
			}
			if !isDigits(v) {
				return fmt.Errorf("%w: t is not a number of seconds", ErrBadSignature)
			}
			ts = v
		case "v1":
			// A malformed entry cannot match; it does not spoil a good one.
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrBadSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t out of range", ErrBadSignature)
	}
	// Sub saturates, so an absurd t cannot wrap around into the window.
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %v away from now", ErrBadSignature, ts, d.Round(time.Second))
	}
	want := webhookMAC(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrBadSignature)
}

// isDigits reports whether s is 1 to 19 ASCII digits: a Unix time, with no
// sign, space or exponent for a lenient parser to read differently.
func isDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

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
	if len(body) > MaxWebhookBody {
		return WebhookEvent{}, fmt.Errorf("%w: over %d bytes", ErrBadWebhook, MaxWebhookBody)
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
