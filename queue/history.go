package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A room's recent history, for the organizers' dashboard chart: one sample
// per HistoryStep for the whole deployment, whatever the number of
// instances sampling, kept for HistoryWindow.
const (
	HistoryStep   = 10 * time.Second
	HistoryWindow = 30 * time.Minute
	// historyMax bounds the samples kept: the window's worth and a margin
	// for samples stamped a little early or late.
	historyMax = 200
	// historyTTL lets the history of a room nobody samples any more (it was
	// deleted on another instance meanwhile) vanish on its own.
	historyTTL = 2 * HistoryWindow
)

// HistorySample is a room's figures at one moment.
type HistorySample struct {
	At             time.Time `json:"at"`
	Waiting        int64     `json:"waiting"`
	Active         int64     `json:"active"`
	AdmittedTotal  int64     `json:"admitted_total"`
	AbandonedTotal int64     `json:"abandoned_total"`
	// AdmitRatePerMinute is the observed rate: admissions in the minute
	// before At.
	AdmitRatePerMinute int64 `json:"admit_rate_per_minute"`
	// TargetRate is the rate the room was set to admit at, per minute
	// (with adaptive admission, the lower of admit_per_minute and the
	// adaptive rate): 0 while it is paused or closed.
	TargetRate int64 `json:"target_rate"`
}

// RecordHistory stores sample as the room's sample of the HistoryStep
// bucket that sample.At falls in, unless one is stored already: every
// instance may call it for every bucket, and the first call of a bucket
// wins (a SET NX slot key per bucket), so the deployment keeps one sample
// per step. A losing call returns nil. Samples older than HistoryWindow
// are trimmed as new ones arrive. Claiming the step and writing the sample
// are two round trips, not one script: a crash between them costs that
// step's sample (a gap in a chart), and nothing else reads it.
func (s *Store) RecordHistory(ctx context.Context, room string, sample HistorySample) error {
	if sample.At.IsZero() {
		return errors.New("queue: a history sample needs its time")
	}
	k := keysFor(room)
	bucket := sample.At.UnixMilli() / HistoryStep.Milliseconds()
	slot := k.history + ":" + strconv.FormatInt(bucket, 10)
	won, err := s.rdb.SetNX(ctx, slot, "1", 2*HistoryStep).Result()
	if err != nil {
		return fmt.Errorf("queue: record history %s: %w", room, err)
	}
	if !won {
		return nil
	}
	sample.At = sample.At.UTC().Truncate(time.Millisecond)
	doc, err := json.Marshal(sample)
	if err != nil {
		return fmt.Errorf("queue: record history %s: %w", room, err)
	}
	at := sample.At.UnixMilli()
	// The sample's key and its slot key share the room's hash tag, so in
	// a cluster this transaction is one slot's.
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k.history, redis.Z{Score: float64(at), Member: doc})
		p.ZRemRangeByScore(ctx, k.history, "-inf", "("+strconv.FormatInt(at-HistoryWindow.Milliseconds(), 10))
		p.ZRemRangeByRank(ctx, k.history, 0, -historyMax-1)
		p.PExpire(ctx, k.history, historyTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: record history %s: %w", room, err)
	}
	return nil
}

// History returns the room's samples taken after since, oldest first. A
// room without samples (or without history yet) has none; it is not an
// error.
func (s *Store) History(ctx context.Context, room string, since time.Time) ([]HistorySample, error) {
	docs, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: keysFor(room).history, ByScore: true,
		Start: "(" + strconv.FormatInt(since.UnixMilli(), 10), Stop: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: history %s: %w", room, err)
	}
	out := make([]HistorySample, 0, len(docs))
	for _, d := range docs {
		var h HistorySample
		if err := json.Unmarshal([]byte(d), &h); err != nil {
			return nil, fmt.Errorf("queue: history %s: %w", room, err)
		}
		out = append(out, h)
	}
	return out, nil
}
