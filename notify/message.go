package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message is one entry of an outbox: something a fan should hear about.
// Producers write it in the same step as the change it reports (booking's
// scripts write these fields themselves, scripts/prelude.lua), so a change
// and its message are never one without the other.
type Message struct {
	// ID is the outbox entry id, set when the message is read. With Stream
	// it names the message for good: receivers de-duplicate on it
	// (Idempotency-Key, Message-ID).
	ID string
	// Stream is the name of the outbox the message came from, set when it
	// is read.
	Stream string
	// Kind is "order.paid", "payment.failed", "hold.expiring",
	// "order.expired", "order.refunded", "contact.confirm", "queue.near"
	// or "queue.admitted"; channels treat others generically.
	Kind  string
	Event string // "" for waiters' messages
	Order string // "" for hold-only messages
	Hold  string
	Email string // "" when the fan gave none
	Phone string // "" when the fan gave none
	// Currency is the ISO 4217 code of AmountMinor.
	Currency    string
	AmountMinor int64
	// At is when the state changed (millisecond precision), not when the
	// message is delivered.
	At time.Time
	// For waiters' messages (kinds "contact.confirm", "queue.near" and
	// "queue.admitted"):
	// the room, the waiter's place when it was written, and the link back
	// to it.
	Room     string
	Position int64
	Link     string
	// Data is a producer's own JSON document, for a channel that renders
	// it (WebhookConfig.Render): organizers' room hooks (queue/hooks.go)
	// write it. Fans' messages have none.
	Data string
}

// fields is m as outbox fields, the names booking's scripts also write.
func (m Message) fields() []any {
	f := []any{
		"kind", m.Kind, "event", m.Event, "order", m.Order, "hold", m.Hold,
		"email", m.Email, "phone", m.Phone,
		"amount_minor", strconv.FormatInt(m.AmountMinor, 10), "currency", m.Currency,
		"at", strconv.FormatInt(m.At.UnixMilli(), 10),
		"room", m.Room, "position", strconv.FormatInt(m.Position, 10), "link", m.Link,
	}
	if m.Data != "" {
		f = append(f, "data", m.Data)
	}
	return f
}

// parseMessage reads an outbox entry of the stream named stream. It is
// tolerant: a missing field is empty and a malformed number is 0, because a
// message that cannot be parsed perfectly is still better delivered than
// stuck.
func parseMessage(stream string, x redis.XMessage) Message {
	s := func(k string) string {
		switch v := x.Values[k].(type) {
		case nil:
			return ""
		case string:
			return v
		case []byte:
			return string(v)
		default:
			return fmt.Sprint(v)
		}
	}
	m := Message{
		ID: x.ID, Stream: stream, Kind: s("kind"), Event: s("event"), Order: s("order"), Hold: s("hold"),
		Email: s("email"), Phone: s("phone"), Currency: s("currency"),
		Room: s("room"), Link: s("link"), Data: s("data"),
	}
	m.Position, _ = strconv.ParseInt(s("position"), 10, 64)
	m.AmountMinor, _ = strconv.ParseInt(s("amount_minor"), 10, 64)
	if ms, _ := strconv.ParseInt(s("at"), 10, 64); ms != 0 {
		m.At = time.UnixMilli(ms).UTC()
	}
	return m
}
