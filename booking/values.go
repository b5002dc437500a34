package booking

import (
	"fmt"
	"net/mail"
	"strconv"
	"time"
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

// validContact checks the optional email and phone a fan leaves for
// notifications. They end up in mail headers and gateway requests, so
// anything but a plain address or number is refused.
func validContact(email, phone string) error {
	if email != "" {
		a, err := mail.ParseAddress(email)
		if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
			return fmt.Errorf("%w: email must be a plain address like fan@example.com", ErrInvalid)
		}
	}
	if phone != "" {
		ok := len(phone) >= 6 && len(phone) <= 20
		for i := 0; ok && i < len(phone); i++ {
			c := phone[i]
			ok = c >= '0' && c <= '9' || i == 0 && c == '+'
		}
		if !ok {
			return fmt.Errorf("%w: phone must be digits with an optional leading +, like +919800000000", ErrInvalid)
		}
	}
	return nil
}
