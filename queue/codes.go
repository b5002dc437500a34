package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Access codes make a room invite-only (or a presale): with the room's
// AccessCodeRequired, a new place needs a code the organizer uploaded, each
// good for a number of joins. join.lua takes a use in the same call that
// makes the place, so two joins racing for a code's last use cannot both
// get it, and a refused join takes none. A caller who already holds a place
// never needs a code.
//
// Codes are stored hashed: the hex SHA-256 of room, NUL, code. They are
// secrets the organizer chooses, and only as strong as they are long: a
// six-character code is guessable by anyone patient. Guessing is bounded
// per address: after BadCodesPerMinute wrong codes in a minute, an address's
// joins in the room are refused (rate_limited) before any code is looked at.
// Addresses the gate does not count (bypassed networks, internal callers)
// are not bounded.
const (
	MinCodeLength = 6
	MaxCodeLength = 64
	// MaxCodesPerUpload bounds one AddCodes call (one script call, and
	// one admin request within its 64 KiB body; the CLI sends more in batches).
	MaxCodesPerUpload = 1000
	MaxCodeUses       = 1_000_000
	// BadCodesPerMinute is how many wrong access codes one address may try
	// in a room over the last minute.
	BadCodesPerMinute = 10
)

// RefusedBadCode: the room requires an access code for a new place and the
// join brought none (Refusal.NoCode), or a wrong or used-up one.
const RefusedBadCode = "bad_code"

// ErrBadCodes is AddCodes' error for codes or uses out of bounds.
var ErrBadCodes = errors.New("queue: bad access codes")

// ValidCode reports whether code may be an access code: MinCodeLength to
// MaxCodeLength visible ASCII characters (no spaces).
func ValidCode(code string) bool {
	if len(code) < MinCodeLength || len(code) > MaxCodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] > '~' {
			return false
		}
	}
	return true
}

// codeHash is how a code of room is stored and looked up.
func codeHash(room, code string) string {
	h := sha256.Sum256([]byte(room + "\x00" + code))
	return hex.EncodeToString(h[:])
}

// CodeCounts are a room's access codes, counted.
type CodeCounts struct {
	Codes    int64 // codes uploaded (and not cleared)
	UsesLeft int64 // joins they still allow
	Used     int64 // joins that used one, cleared codes included
}

// AddCodes stores codes for room, each good for uses new places; a code
// stored already gets uses (not more). Errors: ErrBadCodes (no codes, more
// than MaxCodesPerUpload, a code ValidCode refuses, uses outside 1 to
// MaxCodeUses), ErrRoomNotFound.
func (s *Store) AddCodes(ctx context.Context, room string, codes []string, uses int) (CodeCounts, error) {
	if len(codes) == 0 || len(codes) > MaxCodesPerUpload || uses < 1 || uses > MaxCodeUses {
		return CodeCounts{}, fmt.Errorf("%w: give 1 to %d codes, each good for 1 to %d joins", ErrBadCodes, MaxCodesPerUpload, MaxCodeUses)
	}
	args := make([]any, 0, len(codes)+2)
	args = append(args, "add", uses)
	for i, c := range codes {
		if !ValidCode(c) {
			return CodeCounts{}, fmt.Errorf("%w: code %d is not %d to %d visible ASCII characters", ErrBadCodes, i+1, MinCodeLength, MaxCodeLength)
		}
		args = append(args, codeHash(room, c))
	}
	return s.codes(ctx, room, args...)
}

// Codes counts room's access codes. Errors: ErrRoomNotFound.
func (s *Store) Codes(ctx context.Context, room string) (CodeCounts, error) {
	return s.codes(ctx, room, "count")
}

// ClearCodes revokes all of room's access codes (the count of uses is kept).
// Errors: ErrRoomNotFound.
func (s *Store) ClearCodes(ctx context.Context, room string) (CodeCounts, error) {
	return s.codes(ctx, room, "clear")
}

func (s *Store) codes(ctx context.Context, room string, args ...any) (CodeCounts, error) {
	k := keysFor(room)
	res, err := s.scripts.codes.Run(ctx, s.rdb, []string{k.cfg, k.codes}, args...).Int64Slice()
	if err != nil {
		return CodeCounts{}, fmt.Errorf("queue: access codes %s: %w", room, err)
	}
	if len(res) < 3 {
		return CodeCounts{}, ErrRoomNotFound
	}
	return CodeCounts{Codes: res[0], UsesLeft: res[1], Used: res[2]}, nil
}

// badCodeKeys are the wrong-code counts of this and the last window.
func (k roomKeys) badCodeKeys(now time.Time) []string {
	w := now.UnixMilli() / gateWindow.Milliseconds()
	return []string{k.prefix + "gb:" + strconv.FormatInt(w, 10), k.prefix + "gb:" + strconv.FormatInt(w-1, 10)}
}
