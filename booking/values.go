package booking

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// Stored numbers are written by our own scripts; a field that is missing
// reads as zero.
func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func atoi(s string) int { return int(atoi64(s)) }

// msTime reads a Unix-milliseconds field; missing is the zero time.
func msTime(s string) time.Time {
	ms := atoi64(s)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// validUserID accepts "" (no user id) or up to 255 bytes of UTF-8 without
// control characters: the id is a key in Redis and a word in the event
// log, never a line break.
func validUserID(id string) bool {
	if len(id) > 255 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validContact checks the optional email and phone a fan leaves for
// notifications (queue.Contact.Validate), as a booking error.
func validContact(email, phone string) error {
	if err := (queue.Contact{Email: email, Phone: phone}).Validate(); err != nil {
		return invalidf("%s", crowdgate.MessageOf(err))
	}
	return nil
}
