package admission

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// Proof-of-work challenges make a new place cost some CPU when a room is under
// pressure (queue.Gate decides when, and how hard). They are stateless: a challenge is
// a token MACed with the keyring's queue secret, so any instance verifies what any other
// minted, and the only state is the "used" mark join.lua sets when the place is made.
//
//	c1.<room>.<expires, Unix s>.<bits>.<id: 16 base64url>.<mac: 22 base64url>
//
// The solution is a decimal nonce such that SHA-256(token + ":" + nonce) starts with at
// least <bits> zero bits (docs/api.md spells it out for apps).

// ChallengeAlgorithm names the puzzle in answers, so clients can check they solve the
// right one.
const ChallengeAlgorithm = "sha256-leading-zero-bits"

// ChallengeTTL is how long a challenge may be solved and used.
const ChallengeTTL = 2 * time.Minute

const (
	challengeIDChars   = 16 // 96 random bits
	maxChallengeBytes  = 160
	maxSolutionDigits  = 20
	challengeMACDomain = "c1\x00"
)

// ErrChallenge is wrapped by every reason a challenge or its solution is refused.
var ErrChallenge = errors.New("admission: challenge failed")

// Challenge is one puzzle to solve before a new place is made.
type Challenge struct {
	Token   string
	Bits    int
	Expires time.Time
}

// Solved is a challenge whose solution checked out: what join.lua needs to mark it used
// and to weigh it against the pressure of the moment.
type Solved struct {
	ID      string
	Bits    int
	Expires time.Time
}

// Challenge mints a challenge of the given difficulty for room, valid ChallengeTTL from
// now. bits is clamped to queue.MinChallengeBits..queue.MaxChallengeBits.
func (k *Keyring) Challenge(room string, bits int, now time.Time) Challenge {
	return k.challenge(challengeMACDomain, room, bits, now)
}

// challenge mints a challenge MACed in domain: challengeMACDomain for the
// gate's, captchaFallbackDomain for those that stand in for a CAPTCHA
// (captcha.go), so neither passes for the other.
func (k *Keyring) challenge(domain, room string, bits int, now time.Time) Challenge {
	bits = min(max(bits, queue.MinChallengeBits), queue.MaxChallengeBits)
	var raw [challengeIDChars * 3 / 4]byte
	rand.Read(raw[:])
	exp := now.Add(ChallengeTTL).Truncate(time.Second)
	rest := strconv.FormatInt(exp.Unix(), 10) + "." + strconv.Itoa(bits) + "." + base64.RawURLEncoding.EncodeToString(raw[:])
	return Challenge{Token: "c1." + room + "." + rest + "." + challengeMAC(k.current().queueSecret, domain, room, rest), Bits: bits, Expires: exp}
}

// VerifyChallenge checks that token is a challenge this keyring's instances minted for
// room, unexpired at now, and that solution solves it. It costs one HMAC and one SHA-256.
// Whether the challenge was used already is join.lua's to say. Errors are
// *crowdgate.Error of kind ChallengeFailed wrapping ErrChallenge.
func (k *Keyring) VerifyChallenge(room, token, solution string, now time.Time) (Solved, error) {
	return k.verifyChallenge(challengeMACDomain, room, token, solution, now)
}

// verifyChallenge is VerifyChallenge for challenges MACed in domain.
func (k *Keyring) verifyChallenge(domain, room, token, solution string, now time.Time) (Solved, error) {
	fail := func(msg string) (Solved, error) {
		return Solved{}, &crowdgate.Error{Kind: crowdgate.ChallengeFailed, Message: msg, Err: ErrChallenge}
	}
	if len(token) > maxChallengeBytes {
		return fail("challenge too long")
	}
	var part [6]string
	rest := token
	for i := range 5 {
		var ok bool
		if part[i], rest, ok = strings.Cut(rest, "."); !ok {
			return fail("malformed challenge")
		}
	}
	part[5] = rest
	if part[0] != "c1" || !queue.ValidID(part[1]) || len(part[4]) != challengeIDChars || !base64url(part[4]) || len(part[5]) != queueMACChars {
		return fail("malformed challenge")
	}
	exp, err1 := strconv.ParseInt(part[2], 10, 64)
	n, err2 := strconv.Atoi(part[3])
	if err1 != nil || err2 != nil || n < queue.MinChallengeBits || n > queue.MaxChallengeBits || part[2][0] == '-' || part[3][0] == '-' {
		return fail("malformed challenge")
	}
	signed := token[len("c1.")+len(part[1])+1 : len(token)-queueMACChars-1]
	if !hmac.Equal([]byte(part[5]), []byte(challengeMAC(k.current().queueSecret, domain, part[1], signed))) {
		return fail("challenge not issued here")
	}
	if part[1] != room {
		return fail("challenge is for another room")
	}
	expires := time.Unix(exp, 0)
	if !now.Before(expires) {
		return fail("challenge expired; join again for a new one")
	}
	if !validSolution(solution) {
		return fail("solution must be a decimal number of 1 to 20 digits")
	}
	if LeadingZeroBits(token, solution) < n {
		return fail("solution does not solve the challenge")
	}
	return Solved{ID: part[4], Bits: n, Expires: expires}, nil
}

// LeadingZeroBits is the number of leading zero bits of SHA-256(token + ":" + nonce):
// the work a solution shows.
func LeadingZeroBits(token, nonce string) int {
	var buf [maxChallengeBytes + 1 + maxSolutionDigits]byte
	b := append(append(append(buf[:0], token...), ':'), nonce...)
	sum := sha256.Sum256(b)
	z := 0
	for _, c := range sum {
		if c != 0 {
			return z + bits.LeadingZeros8(c)
		}
		z += 8
	}
	return z
}

func challengeMAC(secret []byte, domain, room, rest string) string {
	sum := keyedMAC(secret, domain, room, rest)
	var enc [23]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:17])
	return string(enc[:queueMACChars])
}

func validSolution(s string) bool {
	if len(s) == 0 || len(s) > maxSolutionDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
