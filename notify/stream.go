package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Stream is one outbox and the keys that go with it: the messages to
// deliver, the dead letters, and each message's delivery marks. All share
// Prefix, which holds the stream's Redis Cluster hash tag, so one
// transaction can move a message to the dead letters and ack it.
type Stream struct {
	// Name identifies the stream in logs and receivers' idempotency keys,
	// and must be unique among the streams a Notifier delivers.
	Name string
	// Prefix begins every key of the stream, e.g. "cgb:{ev:spring}:".
	Prefix string
}

// Named is the stream called name, with keys of notify's own:
// "cgn:{<name>}:…". Producers without a key family of their own (waiters'
// messages) use it with Outbox.Append.
func Named(name string) Stream { return Stream{Name: name, Prefix: "cgn:{" + name + "}:"} }

// Outbox is the key of the stream's messages, a Redis stream whose entries
// have Message's fields.
func (s Stream) Outbox() string { return s.Prefix + "outbox" }

func (s Stream) dead() string { return s.Prefix + "dead" }

// marks remembers which channels already delivered one message, so a
// retry only repeats the channels that failed.
func (s Stream) marks(id string) string { return s.Prefix + "sent:" + id }

func (s Stream) valid() error {
	if s.Name == "" || s.Prefix == "" || strings.ContainsAny(s.Name, "\x00\r\n") {
		return fmt.Errorf("notify: stream %q (prefix %q) needs a one-line name and a prefix", s.Name, s.Prefix)
	}
	return nil
}

// Source lists streams to deliver, read on every pass: booking's events'
// outboxes, for one. Streams written with Outbox.Append need no Source.
type Source func(ctx context.Context) ([]Stream, error)

// registryKey is the hash of streams written with Outbox.Append, name →
// prefix.
const registryKey = "cgn:streams"

// Outbox is where producers written in Go (admission, for waiters) send
// their messages. It is safe for concurrent use.
type Outbox struct{ rdb redis.UniversalClient }

// NewOutbox returns an Outbox writing to rdb.
func NewOutbox(rdb redis.UniversalClient) *Outbox { return &Outbox{rdb: rdb} }

// Append adds m to s's outbox and registers s, so that every Notifier
// delivers it without being told of s. It returns the message's id. The
// registration goes first: a stream registered with nothing in it costs a
// read per pass, a message in an unregistered stream would never be sent.
func (o *Outbox) Append(ctx context.Context, s Stream, m Message) (string, error) {
	if err := s.valid(); err != nil {
		return "", err
	}
	if err := o.rdb.HSet(ctx, registryKey, s.Name, s.Prefix).Err(); err != nil {
		return "", fmt.Errorf("notify: register stream %s: %w", s.Name, err)
	}
	id, err := o.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Outbox(), Values: m.fields()}).Result()
	if err != nil {
		return "", fmt.Errorf("notify: append to stream %s: %w", s.Name, err)
	}
	return id, nil
}

// DeadLetters lists up to limit of s's dead letters, newest first
// (DeadLetters).
func (o *Outbox) DeadLetters(ctx context.Context, s Stream, limit int) ([]DeadLetter, error) {
	return DeadLetters(ctx, o.rdb, s, limit)
}

// deadFields are the fields bury adds to a message it gives up on.
var deadFields = []string{"id", "error", "attempts", "channels"}

// Redrive puts up to limit of s's dead letters, oldest first, back in its
// outbox as new messages, each in one step with its removal from the dead
// letters, and returns how many it moved. They are delivered again by
// every channel, those that had delivered them too (a new message has no
// marks): for a stream with one channel, such as a room's hooks, once the
// receiver is fixed. Receivers see new ids (Idempotency-Key). A limit of 0
// or less means 100.
func (o *Outbox) Redrive(ctx context.Context, s Stream, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	msgs, err := o.rdb.XRangeN(ctx, s.dead(), "-", "+", int64(limit)).Result()
	if err != nil {
		return 0, fmt.Errorf("notify: redrive stream %s: %w", s.Name, err)
	}
	for i, m := range msgs {
		values := make(map[string]any, len(m.Values))
		for f, v := range m.Values {
			values[f] = v
		}
		for _, f := range deadFields {
			delete(values, f)
		}
		_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: s.Outbox(), Values: values})
			p.XDel(ctx, s.dead(), m.ID)
			return nil
		})
		if err != nil {
			return i, fmt.Errorf("notify: redrive %s in stream %s: %w", m.ID, s.Name, err)
		}
	}
	return len(msgs), nil
}

// streams lists those of sources and, with registered, the registered
// streams, sorted by name, the first of each name kept. A failing source
// leaves the others served.
func streams(ctx context.Context, rdb redis.UniversalClient, sources []Source, registered bool) ([]Stream, error) {
	var (
		all  []Stream
		errs []error
	)
	if registered {
		reg, err := rdb.HGetAll(ctx, registryKey).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: list streams: %w", err))
		}
		for name, prefix := range reg {
			all = append(all, Stream{Name: name, Prefix: prefix})
		}
	}
	for _, src := range sources {
		ss, err := src(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: list streams: %w", err))
		}
		all = append(all, ss...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := all[:0]
	for _, s := range all {
		if s.valid() == nil && (len(out) == 0 || out[len(out)-1].Name != s.Name) {
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}
