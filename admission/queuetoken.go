package admission

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
)

// Queue tokens prove a visitor's place in a room's line. They are checked on every status
// poll, join and WebSocket connect, so they are an HMAC, not a signature, and short enough
// for a cookie: "<queue id>.<22 base64url characters of HMAC-SHA256>". The MAC covers the
// room, so a token from one room is worthless in another. They carry no expiry: a place in
// line ends when the queue forgets the id.

const (
	queueMACChars      = 22 // 132 bits
	maxQueueIDLen      = 20
	maxQueueTokenBytes = 64
)

// QueueToken returns the token that proves queueID's place in room's line. queueID must
// match ^[a-z0-9]{1,20}$; tokens for other ids never pass ParseQueueToken.
func (k *Keyring) QueueToken(room, queueID string) string {
	return queueID + "." + queueMAC(k.current().queueSecret, room, queueID)
}

// ParseQueueToken returns the queue id in token if token was issued for room by any instance
// sharing this keyring. Anything else, forged, malformed or for another room, is an error
// wrapping ErrTokenInvalid.
func (k *Keyring) ParseQueueToken(room, token string) (queueID string, err error) {
	if len(token) > maxQueueTokenBytes {
		return "", fmt.Errorf("%w: queue token too long", ErrTokenInvalid)
	}
	id, mac, ok := strings.Cut(token, ".")
	if !ok || !validQueueID(id) || len(mac) != queueMACChars {
		return "", fmt.Errorf("%w: malformed queue token", ErrTokenInvalid)
	}
	if !hmac.Equal([]byte(mac), []byte(queueMAC(k.current().queueSecret, room, id))) {
		return "", fmt.Errorf("%w: queue token does not match", ErrTokenInvalid)
	}
	return id, nil
}

// macs keeps keyed HMAC states: hmac.New hashes the key pads on every call,
// which is most of the cost of a MAC this short. A pooled state is reused
// only while the secret is the same.
var macs sync.Pool

type macState struct {
	secret []byte
	h      hash.Hash
}

func queueMAC(secret []byte, room, queueID string) string {
	// The version prefix separates this use of the secret from any later one; NUL cannot
	// occur in a queue id, so room and id cannot be shifted into each other.
	sum := keyedMAC(secret, "q1\x00", room, queueID)
	// 17 bytes encode to 23 characters whose first 22 are all MAC bits.
	var enc [23]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:17])
	return string(enc[:queueMACChars])
}

// keyedMAC is HMAC-SHA256 under secret of domain, a, NUL, b, with a pooled keyed state.
// domain names the use (queue tokens, challenges), so one secret serves each without a
// MAC of one ever passing for the other; a must not contain NUL.
func keyedMAC(secret []byte, domain, a, b string) [sha256.Size]byte {
	st, _ := macs.Get().(*macState)
	if st == nil || !bytes.Equal(st.secret, secret) {
		st = &macState{secret: bytes.Clone(secret), h: hmac.New(sha256.New, secret)}
	}
	st.h.Reset()
	io.WriteString(st.h, domain)
	io.WriteString(st.h, a)
	io.WriteString(st.h, "\x00")
	io.WriteString(st.h, b)
	var sum [sha256.Size]byte
	st.h.Sum(sum[:0])
	macs.Put(st)
	return sum
}

func validQueueID(id string) bool {
	if len(id) == 0 || len(id) > maxQueueIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
