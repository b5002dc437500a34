package main

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	t.Parallel()
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d] after %d", i, lo, hi, prevHi)
		}
		if i >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-9 {
			t.Fatalf("bucket %d = [%d, %d] wider than 1/%d", i, lo, hi, histSub)
		}
		for _, v := range []int64{lo, hi} {
			if bucketOf(v) != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, bucketOf(v), i)
			}
		}
		prevHi = hi
	}
	if prevHi != histMaxMs {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, histMaxMs)
	}
	if bucketOf(histMaxMs*10) != histBuckets-1 || bucketOf(-5) != 0 {
		t.Fatal("out-of-range values must clamp to the end buckets")
	}
}

func TestHistQuantiles(t *testing.T) {
	t.Parallel()
	var h Hist
	for v := int64(1); v <= 100; v++ {
		h.Add(v)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("q%.2f = %d, want %d (exact below 128 ms)", c.q, got, c.want)
		}
	}
	// Above 128 ms: within one bucket (1/64) above the true value, clamped to max.
	var big Hist
	vals := []int64{1000, 2000, 3000, 4000, 123456}
	for _, v := range vals {
		big.Add(v)
	}
	if got := big.Quantile(0.5); got < 3000 || got > 3000+3000/histSub {
		t.Errorf("p50 = %d, want 3000 within 1/64", got)
	}
	if got := big.Quantile(1); got != 123456 {
		t.Errorf("p100 = %d, want the exact max", got)
	}
}

// TestHistMergeIsExact: histograms of parts merge into the histogram of the
// whole, bucket for bucket, so merged percentiles are exact; and the JSON
// form the workers send loses nothing.
func TestHistMergeIsExact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var whole Hist
	parts := make([]Hist, 5)
	for range 20000 {
		v := int64(rng.ExpFloat64() * 800)
		whole.Add(v)
		parts[rng.IntN(len(parts))].Add(v)
	}
	var merged Hist
	for i := range parts {
		raw, err := json.Marshal(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		var back Hist
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if back != parts[i] {
			t.Fatalf("part %d changed in JSON", i)
		}
		merged.Merge(&back)
	}
	if merged != whole {
		t.Fatalf("merged %s != whole %s", quantiles(&merged), quantiles(&whole))
	}
	var empty Hist
	merged.Merge(&empty)
	if merged != whole {
		t.Fatal("merging an empty histogram changed it")
	}
}

func TestHistJSONRejectsInconsistentCounts(t *testing.T) {
	t.Parallel()
	var h Hist
	for _, s := range []string{
		`{"count":2,"buckets":[[3,1]]}`,
		`{"count":1,"buckets":[[99999,1]]}`,
	} {
		if err := json.Unmarshal([]byte(s), &h); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestLiveHistMatchesHist(t *testing.T) {
	t.Parallel()
	live := newLiveHist()
	var want Hist
	vals := make([]int64, 1000)
	for i := range vals {
		vals[i] = int64(i*37%5000) + 3
		want.Add(vals[i])
	}
	var wg sync.WaitGroup
	for chunk := range slices.Chunk(vals, 100) {
		wg.Go(func() {
			for _, v := range chunk {
				live.add(v)
			}
		})
	}
	wg.Wait()
	if got := live.snapshot(); got != want {
		t.Fatalf("live %s, want %s", quantiles(&got), quantiles(&want))
	}
	if got := newLiveHist().snapshot(); got != (Hist{}) {
		t.Fatalf("empty live histogram snapshots as %+v", got)
	}
}
