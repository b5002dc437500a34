package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
)

// Latencies are kept in fixed log-linear buckets of whole milliseconds, the
// HDR histogram layout: values below 128 ms have a bucket each, and every
// power of two above is split into 64 buckets (at most 1/64 ≈ 1.6% wide).
// Buckets are the same in every process, so workers' histograms merge by
// adding counts and the merged percentiles are exactly those of one
// histogram fed every value.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	histMaxMs   = 1<<26 - 1        // ~18.6 h; larger values land in the last bucket
	histBuckets = histSub*(26-histSubBits-1) + 2*histSub
)

// bucketOf returns the bucket index of v milliseconds.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > histMaxMs {
		v = histMaxMs
	}
	e := max(bits.Len64(uint64(v))-(histSubBits+1), 0)
	return histSub*e + int(v>>e)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	e := i/histSub - 1
	m := int64(i - histSub*e)
	return m << e, (m+1)<<e - 1
}

// Hist is a latency histogram in milliseconds: a snapshot that merges
// exactly and travels as JSON from worker to parent.
type Hist struct {
	Count  int64
	Sum    int64 // ms, for the mean
	Min    int64 // exact
	Max    int64 // exact
	Counts [histBuckets]int64
}

// Add records one value.
func (h *Hist) Add(v int64) {
	if v < 0 {
		v = 0
	}
	if h.Count == 0 || v < h.Min {
		h.Min = v
	}
	if v > h.Max {
		h.Max = v
	}
	h.Count++
	h.Sum += v
	h.Counts[bucketOf(v)]++
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	if o.Count == 0 {
		return
	}
	if h.Count == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	h.Max = max(h.Max, o.Max)
	h.Count += o.Count
	h.Sum += o.Sum
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
}

// Quantile returns the value at quantile q (0..1): the upper bound of the
// bucket holding that rank, clamped to the exact min and max, so it is exact
// below 128 ms and never more than 1/64 above the true value.
func (h *Hist) Quantile(q float64) int64 {
	if h.Count == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.Count))), 1)
	var seen int64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.Min), h.Max)
		}
	}
	return h.Max
}

// histJSON is the wire form: sparse buckets as [index, count] pairs, plus
// percentiles for whoever reads the JSON (ignored when decoding).
type histJSON struct {
	Count   int64      `json:"count"`
	Sum     int64      `json:"sum_ms"`
	Min     int64      `json:"min_ms"`
	Max     int64      `json:"max_ms"`
	P50     int64      `json:"p50_ms"`
	P90     int64      `json:"p90_ms"`
	P99     int64      `json:"p99_ms"`
	Buckets [][2]int64 `json:"buckets"`
}

// MarshalJSON writes the sparse form.
func (h Hist) MarshalJSON() ([]byte, error) {
	j := histJSON{Count: h.Count, Sum: h.Sum, Min: h.Min, Max: h.Max,
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99), Buckets: [][2]int64{}}
	for i, c := range h.Counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]int64{int64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the sparse form and checks it adds up.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*h = Hist{Count: j.Count, Sum: j.Sum, Min: j.Min, Max: j.Max}
	var n int64
	for _, p := range j.Buckets {
		if p[0] < 0 || p[0] >= histBuckets || p[1] < 0 {
			return fmt.Errorf("histogram bucket %v out of range", p)
		}
		h.Counts[p[0]] += p[1]
		n += p[1]
	}
	if n != h.Count {
		return fmt.Errorf("histogram buckets hold %d values, count says %d", n, h.Count)
	}
	return nil
}

// liveHist is the recording side: lock-free, so thousands of connection
// goroutines can add to it without contending on a mutex.
type liveHist struct {
	count, sum atomic.Int64
	min, max   atomic.Int64 // min holds -1 until the first value
	counts     [histBuckets]atomic.Int64
}

func newLiveHist() *liveHist {
	h := &liveHist{}
	h.min.Store(-1)
	return h
}

func (h *liveHist) add(v int64) {
	v = max(v, 0)
	for {
		m := h.min.Load()
		if (m >= 0 && m <= v) || h.min.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.max.Load()
		if m >= v || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// snapshot copies the histogram; call it once recording has stopped.
func (h *liveHist) snapshot() Hist {
	s := Hist{Count: h.count.Load(), Sum: h.sum.Load(), Min: max(h.min.Load(), 0), Max: h.max.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}
