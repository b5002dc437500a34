package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func TestShedTurnsAwayBeyondConcurrency(t *testing.T) {
	s := &Server{inflight: make(chan struct{}, 1), shedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})}
	release, entered := make(chan struct{}), make(chan struct{})
	h := s.shed(func(echo.Context) error {
		close(entered)
		<-release
		return nil
	})
	e := echo.New()
	ctx := func() echo.Context {
		return e.NewContext(httptest.NewRequest("POST", "/", nil), httptest.NewRecorder())
	}
	done := make(chan error)
	go func() { done <- h(ctx()) }()
	<-entered

	start := time.Now()
	err := s.shed(func(echo.Context) error { t.Error("ran beyond the limit"); return nil })(ctx())
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.Code != "rate_limited" || ae.RetryAfter < 1 {
		t.Fatalf("over the limit: %v", err)
	}
	if waited := time.Since(start); waited < shedWait {
		t.Fatalf("shed after %v; a request may wait %v for a slot", waited, shedWait)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slot is free again.
	if err := s.shed(func(echo.Context) error { return nil })(ctx()); err != nil {
		t.Fatal(err)
	}
}

func TestLimiterSet(t *testing.T) {
	ls := newLimiterSet(time.Second, 2)
	now := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false} {
		if got := ls.allow("a", now); got != want {
			t.Fatalf("request %d: allowed %v, want %v (a burst of 2)", i+1, got, want)
		}
	}
	if !ls.allow("b", now) {
		t.Fatal("keys have their own buckets")
	}
	if !ls.allow("a", now.Add(time.Second)) {
		t.Fatal("a token refills each second")
	}
	ls.get("c", now.Add(2*time.Minute)) // sweeps the refilled ones
	if len(ls.m) != 1 {
		t.Fatalf("kept %d keys after a sweep, want only the new one", len(ls.m))
	}
}
