package gateway_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
)

// challengeOf reads the challenge of a 428 answer.
func challengeOf(t *testing.T, r response) api.Challenge {
	t.Helper()
	var b api.ErrorResponse
	if err := json.Unmarshal(r.body, &b); err != nil || r.status != 428 || b.Error.Code != "challenge_required" || b.Challenge == nil {
		t.Fatalf("want 428 challenge_required with a challenge, got %d %s", r.status, r.body)
	}
	return *b.Challenge
}

func solveFor(ch api.Challenge) string {
	for n := 0; ; n++ {
		if admission.LeadingZeroBits(ch.Token, strconv.Itoa(n)) >= ch.Bits {
			return strconv.Itoa(n)
		}
	}
}

func solutionBody(ch api.Challenge, nonce string) string {
	b, _ := json.Marshal(api.JoinRequest{Challenge: ch.Token, Solution: nonce})
	return string(b)
}

// TestJoinChallenge: a room that always asks for a challenge answers a
// cookie-less join with 428 and the puzzle; the solved join gets a place;
// the same solution again, a wrong one, another room's or a malformed one
// get 400 challenge_failed and change nothing; the place's own token never
// needs a challenge.
func TestJoinChallenge(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32"})
	s.putRoom("always", `{"admit_per_minute": 0, "challenge": "always", "challenge_bits": 8}`)
	s.putRoom("other", `{"admit_per_minute": 0, "challenge": "always", "challenge_bits": 8}`)
	s.putRoom("off", `{"admit_per_minute": 0, "challenge": "off"}`)
	const path = "/api/v1/rooms/always/join"
	from := []string{"X-Forwarded-For", "203.0.113.7", "Content-Type", "application/json"}

	ch := challengeOf(t, s.do("POST", path, "", from...))
	if ch.Bits != 8 || ch.Algorithm != "sha256-leading-zero-bits" || ch.ExpiresAt.IsZero() || !strings.HasPrefix(ch.Token, "c1.always.") {
		t.Fatalf("challenge %+v", ch)
	}
	nonce := solveFor(ch)
	r := s.do("POST", path, solutionBody(ch, nonce), from...)
	if r.status != 200 {
		t.Fatalf("solved join: %d %s", r.status, r.body)
	}
	token := r.json(t)["queue_token"].(string)

	waiting := func() float64 {
		return s.admin("GET", "/admin/v1/rooms/always", "").json(t)["stats"].(map[string]any)["waiting"].(float64)
	}
	before := waiting()
	wrong := "0"
	for admission.LeadingZeroBits(ch.Token, wrong) >= ch.Bits {
		wrong += "0"
	}
	otherCh := challengeOf(t, s.do("POST", "/api/v1/rooms/other/join", "", from...))
	for name, body := range map[string]string{
		"replayed":     solutionBody(ch, nonce),
		"wrong":        solutionBody(ch, wrong),
		"other room":   solutionBody(otherCh, solveFor(otherCh)),
		"not a number": solutionBody(ch, "12a"),
		"no solution":  `{"challenge":"` + ch.Token + `"}`,
		"forged":       solutionBody(api.Challenge{Token: strings.Replace(ch.Token, ".8.", ".9.", 1), Bits: 8}, nonce),
	} {
		if r := s.do("POST", path, body, from...); r.status != 400 || r.errorCode(t) != "challenge_failed" {
			t.Errorf("%s: %d %s, want 400 challenge_failed", name, r.status, r.body)
		}
	}
	if r := s.do("POST", path, `{"solution": 12}`, from...); r.status != 400 || r.errorCode(t) != "invalid_request" {
		t.Errorf("a number for the solution: %d %s", r.status, r.body)
	}
	if got := waiting(); got != before {
		t.Fatalf("waiting %v after the refusals, want %v", got, before)
	}
	if r := s.do("POST", path, "", append(from, "Authorization", "Bearer "+token)...); r.status != 200 {
		t.Fatalf("the place's own token: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/api/v1/rooms/off/join", "", from...); r.status != 200 {
		t.Fatalf("a room with the challenge off: %d %s", r.status, r.body)
	}
}

// TestJoinAddressLimits: new places per address per minute, counted on the
// real client address behind a trusted proxy, with 429 and Retry-After;
// bypass networks and loopback are not counted.
func TestJoinAddressLimits(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32", bypass: "198.51.100.0/24", metered: true})
	s.putRoom("r", `{"admit_per_minute": 0, "challenge": "off", "address_joins_per_minute": 2}`)
	join := func(from string) response {
		h := []string{}
		if from != "" {
			h = []string{"X-Forwarded-For", from}
		}
		return s.do("POST", "/api/v1/rooms/r/join", "", h...)
	}
	for range 2 {
		if r := join("203.0.113.7"); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	r := join("203.0.113.7")
	if r.status != 429 || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third place from one address: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	for _, from := range []string{"203.0.113.8", "198.51.100.1", "198.51.100.1", "198.51.100.1", "", ""} {
		if r := join(from); r.status != 200 {
			t.Fatalf("from %q: %d %s", from, r.status, r.body)
		}
	}
	// Loopback (here, the trusted proxy itself) is an address like any
	// other: a script on the gateway's box is a script.
	if r := join(""); r.status != 429 {
		t.Fatalf("third place from loopback: %d %s", r.status, r.body)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/r", `{"address_joins_per_minute": -1}`); r.status != 400 {
		t.Fatalf("a negative limit: %d", r.status)
	}
	m := s.do("GET", "/metrics", "")
	if !strings.Contains(string(m.body), `crowdgate_joins_refused_total{reason="rate_limited",room="r"} 2`) {
		t.Fatalf("metrics lack the refusal:\n%s", m.body)
	}
}
