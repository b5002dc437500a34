package booking

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPlaceHold measures the hold path against a private redis-server
// (no persistence: the store's own cost, not the disk's), from many
// goroutines at once as a gateway would call it. Each hold is a new
// visitor's, for one ticket of an event that never runs out.
func BenchmarkPlaceHold(b *testing.B) {
	f := newFixture(b)
	f.clock.Set(time.Now())
	f.event(b, 10_000_000, 1)
	var n atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS callers, like concurrent requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v := fmt.Sprintf("v%d", n.Add(1))
			if _, _, err := f.core.PlaceHold(context.Background(), f.holdReq(v, 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
