package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		// Two instances on one Redis: each tries every bucket, one wins.
		a, b := mustStore(t, rdb, clk), mustStore(t, rdb, clk)
		mustRoom(t, a, queue.Room{Name: "r"})
		start := clk.Now()
		for i := range 200 { // 200 × 3 s = 10 min, 60 buckets
			at := start.Add(time.Duration(i) * 3 * time.Second)
			for j, s := range []*queue.Store{a, b} {
				sample := queue.HistorySample{At: at.Add(time.Duration(j) * time.Millisecond), Waiting: int64(i), TargetRate: 600}
				if err := s.RecordHistory(ctx, "r", sample); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := a.History(ctx, "r", start.Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 60 {
			t.Fatalf("%d samples over 60 buckets", len(got))
		}
		seen := map[int64]bool{}
		for i, h := range got {
			bucket := h.At.UnixMilli() / queue.HistoryStep.Milliseconds()
			if seen[bucket] {
				t.Fatalf("two samples in bucket %d", bucket)
			}
			seen[bucket] = true
			if i > 0 && !h.At.After(got[i-1].At) {
				t.Fatalf("samples out of order: %v after %v", h.At, got[i-1].At)
			}
			if h.TargetRate != 600 {
				t.Fatalf("sample %+v", h)
			}
		}
		if got[0].Waiting != 0 || !got[0].At.Equal(start) {
			t.Errorf("first sample %+v, want the first call's at %v", got[0], start)
		}
		// since is exclusive.
		if later, _ := a.History(ctx, "r", got[58].At); len(later) != 1 || !later[0].At.Equal(got[59].At) {
			t.Errorf("history after the last but one: %+v", later)
		}

		// The window: samples older than 30 min go as new ones arrive.
		last := got[59].At
		far := last.Add(queue.HistoryWindow + time.Minute)
		if err := a.RecordHistory(ctx, "r", queue.HistorySample{At: far, Waiting: 7}); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.History(ctx, "r", time.Time{}); len(got) != 1 || got[0].Waiting != 7 {
			t.Fatalf("after 30 min: %+v", got)
		}
		if err := a.RecordHistory(ctx, "r", queue.HistorySample{}); err == nil {
			t.Error("a sample without a time was recorded")
		}

		// Deleting the room deletes its history.
		if err := a.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if got, err := a.History(ctx, "r", time.Time{}); err != nil || len(got) != 0 {
			t.Fatalf("history of a deleted room: %+v %v", got, err)
		}
	})
}

func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		// Samples every 10 s for 40 min: the last 30 min are kept.
		for i := range 240 {
			if err := s.RecordHistory(ctx, "r", queue.HistorySample{At: start.Add(time.Duration(i) * queue.HistoryStep)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.History(ctx, "r", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 181 || !got[180].At.Equal(start.Add(239*queue.HistoryStep)) {
			t.Fatalf("%d samples kept, last %v", len(got), got[len(got)-1].At)
		}
	})
}
