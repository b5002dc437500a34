package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is every verification failure: a signature missing,
// malformed, wrong or outside the time window.
var ErrInvalid = errors.New("webhook signature invalid")

// Header carries a webhook's signature.
const Header = "Crowdgate-Signature"

// Tolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way (clocks drift both ways).
const Tolerance = 300 * time.Second

// Bounds on what a webhook can be. A real header is about 80 bytes (a few
// more v1 entries during a secret rotation); a real body under 200. The caps
// keep a flood of junk from costing more than reading it.
const (
	maxHeader = 1 << 10
	// MaxBody is the largest webhook body accepted (the contract's
	// 64 KiB request limit); receivers should read at most one byte more.
	MaxBody = 64 << 10
)

// Sign returns the Header value for body, sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	_, _ = io.WriteString(m, ts) // a hash.Hash never fails to write
	_, _ = m.Write([]byte{'.'})
	_, _ = m.Write(body)
	return m.Sum(nil)
}

// Verify checks that header signs body with secret at a time within
// tolerance of now (Tolerance when tolerance <= 0). It parses the
// header like Stripe does: comma-separated key=value pairs, unknown keys
// ignored (room for a v2 scheme), and any number of v1 signatures of which
// one must match, so a sender can sign with the old and the new secret
// while a rotation is under way. A second t is refused rather than guessed
// at. Every failure is ErrInvalid, with the reason wrapped in for logs;
// the comparison is constant-time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = Tolerance
	}
	switch {
	case len(secret) == 0:
		return fmt.Errorf("%w: no secret configured", ErrInvalid)
	case header == "":
		return fmt.Errorf("%w: no %s header", ErrInvalid, Header)
	case len(header) > maxHeader:
		return fmt.Errorf("%w: header over %d bytes", ErrInvalid, maxHeader)
	case len(body) > MaxBody:
		return fmt.Errorf("%w: body over %d bytes", ErrInvalid, MaxBody)
	}
	var ts string
	var sigs [][]byte
	for pair := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrInvalid)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one t", ErrInvalid)
			}
			if !isDigits(v) {
				return fmt.Errorf("%w: t is not a number of seconds", ErrInvalid)
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
		return fmt.Errorf("%w: no timestamp", ErrInvalid)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrInvalid)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t out of range", ErrInvalid)
	}
	// Sub saturates, so an absurd t cannot wrap around into the window.
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %v away from now", ErrInvalid, ts, d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrInvalid)
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
