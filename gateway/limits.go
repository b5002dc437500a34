package gateway

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// limiterSet is one token bucket per key (an address, a visitor), created
// on first use. Keys whose bucket has refilled are forgotten once a minute,
// so the set holds only who is active.
type limiterSet struct {
	every time.Duration
	burst int

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

func newLimiterSet(every time.Duration, burst int) *limiterSet {
	return &limiterSet{every: every, burst: burst, m: map[string]*rate.Limiter{}}
}

func (s *limiterSet) get(key string, now time.Time) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > time.Minute {
		for k, l := range s.m {
			if l.TokensAt(now) >= float64(s.burst) {
				delete(s.m, k)
			}
		}
		s.swept = now
	}
	l, ok := s.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(s.every), s.burst)
		s.m[key] = l
	}
	return l
}

// allow spends one token of key's bucket, if it has one.
func (s *limiterSet) allow(key string, now time.Time) bool { return s.get(key, now).AllowN(now, 1) }

// Per admitted visitor, the booking API allows a burst of 100 requests and
// then 10 a second: far more than a person clicking (or an app retrying),
// far less than a script hammering holds at thousands a second.
const (
	visitorBurst = 100
	visitorEvery = 100 * time.Millisecond
)

// shed is the booking API's global concurrency guard: at most
// cfg.BookingConcurrency requests in flight; the next one waits up to
// shedWait for a slot and is otherwise turned away with 429 and
// Retry-After. Queueing more than that only makes everyone's latency
// collapse together.
func (s *Server) shed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		select {
		case s.inflight <- struct{}{}:
		default:
			t := time.NewTimer(shedWait)
			select {
			case s.inflight <- struct{}{}:
				t.Stop()
			case <-t.C:
				s.shedTotal.Inc()
				return rateLimited("the booking system is busy; try again in a moment")
			}
		}
		defer func() { <-s.inflight }()
		return next(c)
	}
}

// shedWait is how long a booking request may wait for a free slot.
const shedWait = 50 * time.Millisecond
