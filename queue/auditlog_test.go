package queue_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		if got, err := s.Audit(ctx, 50); err != nil || len(got) != 0 {
			t.Fatalf("empty log: %v %v", got, err)
		}
		for i := range 60 {
			clk.Add(time.Second)
			e := queue.AuditEntry{Actor: queue.ActorDashboard, IP: "192.0.2.1", Method: "PATCH",
				Path: "/admin/v1/rooms/r", Summary: `{"admit_per_minute":` + strconv.Itoa(i) + `}`, Status: 200}
			if i%2 == 1 {
				e.Actor, e.Status, e.At = queue.ActorAPI, 400, clk.Now().Add(time.Hour)
			}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Audit(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 50 {
			t.Fatalf("%d entries", len(got))
		}
		// Newest first, every field back.
		first, second := got[0], got[1]
		if first.Summary != `{"admit_per_minute":59}` || first.Actor != queue.ActorAPI || first.Status != 400 ||
			!first.At.Equal(clk.Now().Add(time.Hour)) || first.ID == "" {
			t.Errorf("newest entry %+v", first)
		}
		if second.Summary != `{"admit_per_minute":58}` || second.Actor != queue.ActorDashboard || second.Status != 200 ||
			second.IP != "192.0.2.1" || second.Method != "PATCH" || second.Path != "/admin/v1/rooms/r" ||
			!second.At.Equal(clk.Now().Add(-time.Second)) {
			t.Errorf("second entry %+v", second)
		}
		for _, bad := range []int{0, -1, 1001} {
			if _, err := s.Audit(ctx, bad); err == nil {
				t.Errorf("limit %d accepted", bad)
			}
		}
	})
}
