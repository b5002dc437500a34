package webhooksig_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/webhooksig"
)

var (
	testSecret = []byte("whsec-test-0123456789abcdef")
	testNow    = time.Unix(1_800_000_000, 0)
	testBody   = []byte(`{"id":"evt_1","type":"payment.succeeded","payment_id":"pay-1"}`)
)

func TestSignShape(t *testing.T) {
	t.Parallel()
	h := webhooksig.Sign(testSecret, testNow, testBody)
	ts, sig, ok := strings.Cut(h, ",v1=")
	if !ok || ts != "t=1800000000" || len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		t.Fatalf("header %q is not t=<seconds>,v1=<64 hex>", h)
	}
	// Stable: the same input signs the same, so receivers in other
	// languages can check their code against this value.
	if again := webhooksig.Sign(testSecret, testNow, testBody); again != h {
		t.Errorf("signature changed: %q then %q", h, again)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	good := webhooksig.Sign(testSecret, testNow, testBody)
	sig := strings.TrimPrefix(good, "t=1800000000,")
	other := webhooksig.Sign([]byte("another-secret-of-some-length"), testNow, testBody)
	at := func(d time.Duration) string { return webhooksig.Sign(testSecret, testNow.Add(d), testBody) }
	tests := []struct {
		name   string
		header string
		body   []byte
		ok     bool
	}{
		{"valid", good, testBody, true},
		{"missing header", "", testBody, false},
		{"no t", sig, testBody, false},
		{"no v1", "t=1800000000", testBody, false},
		{"non-hex v1", "t=1800000000,v1=" + strings.Repeat("zz", 32), testBody, false},
		{"short v1", "t=1800000000,v1=abcd", testBody, false},
		{"t 301 s old", at(-301 * time.Second), testBody, false},
		{"t 301 s in the future", at(301 * time.Second), testBody, false},
		{"t 299 s old", at(-299 * time.Second), testBody, true},
		{"t 299 s in the future", at(299 * time.Second), testBody, true},
		{"t 300 s old", at(-300 * time.Second), testBody, true},
		{"body altered", good, []byte(strings.Replace(string(testBody), "succeeded", "failed", 1)), false},
		{"body empty", good, nil, false},
		{"t not an integer", "t=1800000000.0," + sig, testBody, false},
		{"t signed", "t=+1800000000," + sig, testBody, false},
		{"t huge", "t=99999999999999999999," + sig, testBody, false},
		{"t max int64", "t=9223372036854775807," + sig, testBody, false},
		{"t twice", "t=1800000000,t=1800000000," + sig, testBody, false},
		{"t twice, differing", "t=1,t=1800000000," + sig, testBody, false},
		{"v1 twice, one good (rotation)", "t=1800000000,v1=" + strings.Repeat("00", 32) + "," + sig, testBody, true},
		{"v1 twice, good first", good + ",v1=" + strings.Repeat("00", 32), testBody, true},
		{"old and new secret's v1 (rotation)", other + "," + sig, testBody, true},
		{"wrong secret", other, testBody, false},
		{"unknown keys ignored", "v0=abc,t=1800000000,x=y," + sig + ",v2=zz", testBody, true},
		{"spaces around pairs", "t=1800000000, " + sig, testBody, true},
		{"pair without =", "t=1800000000,v1," + sig, testBody, false},
		{"upper-case hex", "t=1800000000,v1=" + strings.ToUpper(strings.TrimPrefix(sig, "v1=")), testBody, true},
		{"huge header", good + ",x=" + strings.Repeat("a", 1100), testBody, false},
		{"huge body", webhooksig.Sign(testSecret, testNow, make([]byte, 64<<10+1)), make([]byte, 64<<10+1), false},
		{"signature of t without body", webhooksig.Sign(testSecret, testNow, nil), testBody, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhooksig.Verify(testSecret, tc.header, tc.body, testNow, 300*time.Second)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, webhooksig.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifySecrets(t *testing.T) {
	t.Parallel()
	h := webhooksig.Sign(nil, testNow, testBody)
	if err := webhooksig.Verify(nil, h, testBody, testNow, time.Minute); !errors.Is(err, webhooksig.ErrInvalid) {
		t.Errorf("an empty secret verified a signature: %v", err)
	}
	// Tolerance <= 0 means the default, not "refuse everything" or "accept any".
	if err := webhooksig.Verify(testSecret, webhooksig.Sign(testSecret, testNow.Add(-299*time.Second), testBody), testBody, testNow, 0); err != nil {
		t.Errorf("default tolerance refused 299 s: %v", err)
	}
	if err := webhooksig.Verify(testSecret, webhooksig.Sign(testSecret, testNow.Add(-301*time.Second), testBody), testBody, testNow, 0); err == nil {
		t.Error("default tolerance accepted 301 s")
	}
}

// FuzzVerify: verification never panics; what Sign signs
// verifies; and changing any one byte of the header's signature or of the
// body breaks it.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("secret"), testBody, int64(1_800_000_000), uint16(0), byte(1), "")
	f.Add([]byte{0}, []byte{}, int64(0), uint16(5), byte(0x80), "t=1,v1=00")
	f.Add([]byte("k"), []byte("{}"), int64(-5), uint16(300), byte(0xff), "v1=,t=")
	f.Add([]byte("rotation"), []byte(`{"a":1}`), int64(1<<40), uint16(3), byte(7), "t=01,v1=zz,,=")
	f.Fuzz(func(t *testing.T, secret, body []byte, unix int64, pos uint16, flip byte, junk string) {
		now := time.Unix(unix, 0)
		// Never panics, whatever the header.
		_ = webhooksig.Verify(secret, junk, body, now, time.Minute)
		if len(secret) == 0 || unix < 0 || len(body) > webhooksig.MaxBody {
			return // outside what Sign promises to produce
		}
		h := webhooksig.Sign(secret, now, body)
		if err := webhooksig.Verify(secret, h, body, now, time.Minute); err != nil {
			t.Fatalf("own signature refused: %q: %v", h, err)
		}
		if flip == 0 {
			flip = 1
		}
		if len(body) > 0 {
			b := append([]byte(nil), body...)
			b[int(pos)%len(b)] ^= flip
			if err := webhooksig.Verify(secret, h, b, now, time.Minute); err == nil {
				t.Fatalf("body changed at %d, still verified", int(pos)%len(b))
			}
		}
		// Any byte of the header: its t or its signature. A change that
		// leaves an equivalent header (hex case) is not a change.
		hb := []byte(h)
		i := int(pos) % len(hb)
		hb[i] ^= flip
		if changed := string(hb); !strings.EqualFold(changed, h) {
			if err := webhooksig.Verify(secret, changed, body, now, time.Minute); err == nil {
				t.Fatalf("header %q changed at %d to %q, still verified", h, i, changed)
			}
		}
		// A different secret never verifies.
		if err := webhooksig.Verify(append(secret, 'x'), h, body, now, time.Minute); err == nil {
			t.Fatal("another secret verified")
		}
		// Outside the tolerance, never.
		if err := webhooksig.Verify(secret, h, body, now.Add(time.Minute+time.Second), time.Minute); err == nil {
			t.Fatal("verified 61 s late with a 60 s tolerance")
		}
	})
}

// A receiver verifies the signature on the raw body before reading it. The
// header printed is a test vector for receivers written in other languages.
func ExampleVerify() {
	secret := []byte("whsec-example-0123456789")
	body := []byte(`{"id":"evt_1","type":"payment.succeeded","payment_id":"pay-1"}`)
	sent := time.Unix(1_800_000_000, 0)
	header := webhooksig.Sign(secret, sent, body)
	fmt.Println(header)

	// The receiver, ten seconds later.
	if err := webhooksig.Verify(secret, header, body, sent.Add(10*time.Second), webhooksig.Tolerance); err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("verified")
	// Output:
	// t=1800000000,v1=b0edcab9953d175fe5d0982645685b76ef2fc26f232abd8ea5a73ed75a4f1a25
	// verified
}
