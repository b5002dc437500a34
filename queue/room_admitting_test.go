package queue_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

func TestAdmittingIsNotClosedNotPausedAndPastSaleStart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		room queue.Room
		want bool
	}{
		{"an open room with no schedule admits", queue.Room{}, true},
		{"a paused room does not", queue.Room{Paused: true}, false},
		{"a closed room does not", queue.Room{Closed: true}, false},
		{"a room sold out does not", queue.Room{Closed: true, ClosedReason: queue.ClosedSoldOut}, false},
		{"the pre-queue does not", queue.Room{SaleStartsAt: now.Add(time.Second)}, false},
		{"the sale's first instant does", queue.Room{SaleStartsAt: now}, true},
		{"a sale already started does", queue.Room{SaleStartsAt: now.Add(-time.Minute)}, true},
		{"a passthrough room does", queue.Room{Passthrough: true}, true},
		{"a passthrough room that is paused does not", queue.Room{Passthrough: true, Paused: true}, false},
		{"a room admitting nobody per minute still does", queue.Room{AdmitPerMinute: 0}, true},
		{"a random_prequeue room past its sale start does (its draw is the caller's)", queue.Room{Mode: queue.ModeRandomPrequeue, SaleStartsAt: now.Add(-time.Second)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.room.Admitting(now); got != tc.want {
				t.Errorf("Admitting = %v, want %v", got, tc.want)
			}
		})
	}
}
