package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestSoldOutRoomReopensItselfOnly: a room that closed by itself for being
// sold out says when, reopens when asked with newer figures, and leaves
// both in the audit log; a room the organizer closed, or one that closed
// after the caller's figures were read, stays closed.
func TestSoldOutRoomReopensItselfOnly(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "launch", AdmitPerMinute: 60, Title: "Launch"})
		closedAt := clk.Now()
		if err := s.CloseSoldOut(ctx, "launch"); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRoom(ctx, "launch")
		if err != nil || !r.Closed || r.ClosedReason != queue.ClosedSoldOut || !r.ClosedAt.Equal(closedAt) || r.Title != "Launch" {
			t.Fatalf("after the sell-out: %+v %v", r, err)
		}

		// Figures read at (or before) the moment it closed cannot reopen it.
		if ok, err := s.ReopenSoldOut(ctx, "launch", closedAt); ok || err != nil {
			t.Fatalf("reopened on figures as old as the close: %v %v", ok, err)
		}
		clk.Add(time.Second)
		if ok, err := s.ReopenSoldOut(ctx, "launch", clk.Now()); !ok || err != nil {
			t.Fatalf("reopen: %v %v", ok, err)
		}
		r, _ = s.GetRoom(ctx, "launch")
		if r.Closed || r.ClosedReason != "" || !r.ClosedAt.IsZero() || r.AdmitPerMinute != 60 {
			t.Fatalf("after reopening: %+v", r)
		}
		if ok, err := s.ReopenSoldOut(ctx, "launch", clk.Now()); ok || err != nil {
			t.Fatalf("reopening an open room: %v %v", ok, err)
		}

		// The organizer closes it by hand: no sell-out check reopens it,
		// and closing it as sold out leaves it as the organizer's.
		prev, _ := s.GetRoom(ctx, "launch")
		next := prev
		next.Closed = true
		if err := s.UpdateRoom(ctx, prev, next); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseSoldOut(ctx, "launch"); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if ok, err := s.ReopenSoldOut(ctx, "launch", clk.Now()); ok || err != nil {
			t.Fatalf("reopened a room the organizer closed: %v %v", ok, err)
		}
		if r, _ := s.GetRoom(ctx, "launch"); !r.Closed || r.ClosedReason != "" || !r.ClosedAt.IsZero() {
			t.Fatalf("the organizer's close: %+v", r)
		}

		// An organizer's change of Closed clears the reason and the time.
		prev, _ = s.GetRoom(ctx, "launch")
		next = prev
		next.Closed = false
		if err := s.UpdateRoom(ctx, prev, next); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseSoldOut(ctx, "launch"); err != nil {
			t.Fatal(err)
		}
		prev, _ = s.GetRoom(ctx, "launch")
		next = prev
		next.ClosedReason = "" // what the admin API does with {"closed": true}
		if err := s.UpdateRoom(ctx, prev, next); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRoom(ctx, "launch"); !r.Closed || r.ClosedReason != "" || !r.ClosedAt.IsZero() {
			t.Fatalf("kept closed by the organizer: %+v", r)
		}

		entries, err := s.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			if e.Actor == queue.ActorCrowdgate {
				if e.Path != "/admin/v1/rooms/launch" {
					t.Errorf("audit entry for %s", e.Path)
				}
				got = append(got, e.Summary)
			}
		}
		if len(got) != 3 || !strings.HasPrefix(got[0], "closed by itself: sold out") ||
			!strings.HasPrefix(got[1], "reopened by itself") || !strings.HasPrefix(got[2], "closed by itself: sold out") {
			t.Errorf("audit log, newest first: %q", got)
		}

		if err := s.CloseSoldOut(ctx, "nosuch"); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Errorf("close a missing room: %v", err)
		}
		if _, err := s.ReopenSoldOut(ctx, "nosuch", clk.Now()); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Errorf("reopen a missing room: %v", err)
		}
	})
}
