package queue_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestCreateRoomLeavesAnExistingRoomAlone: CreateRoom creates a missing
// room, and leaves one that exists as it is, whatever it is given; of
// many creating one room at once, exactly one creates it.
func TestCreateRoomLeavesAnExistingRoomAlone(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		var wg sync.WaitGroup
		created := make(chan bool, 8)
		for range 8 {
			wg.Go(func() {
				ok, err := s.CreateRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 60}.WithDefaults())
				if err != nil {
					t.Error(err)
				}
				created <- ok
			})
		}
		wg.Wait()
		close(created)
		n := 0
		for ok := range created {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d of 8 concurrent creates created the room, want 1", n)
		}
		prev := mustGet(t, s, "launch")
		next := prev
		next.AdmitPerMinute = 900 // an organizer's live change
		if err := s.UpdateRoom(ctx, prev, next); err != nil {
			t.Fatal(err)
		}
		ok, err := s.CreateRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 60}.WithDefaults())
		if err != nil || ok {
			t.Fatalf("create over an existing room: created %v, err %v", ok, err)
		}
		if r := mustGet(t, s, "launch"); r.AdmitPerMinute != 900 {
			t.Fatalf("an existing room was overwritten: rate %d, want the live 900", r.AdmitPerMinute)
		}
		rooms, err := s.ListRooms(ctx)
		if err != nil || len(rooms) != 1 {
			t.Fatalf("rooms listed: %v, %v", rooms, err)
		}
	})
}

func mustGet(t *testing.T, s *queue.Store, name string) queue.Room {
	t.Helper()
	r, err := s.GetRoom(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
