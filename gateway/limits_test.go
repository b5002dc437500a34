package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/api"
)

func TestShedTurnsAwayBeyondConcurrency(t *testing.T) {
	t.Parallel()
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
	ae := toAPIError(err)
	if ae == nil || ae.Status != http.StatusTooManyRequests || ae.Code != "rate_limited" || ae.RetryAfter < 1 {
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
	t.Parallel()
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

// TestSlowBodyTakesNoSlot: a request whose body trickles holds no booking
// slot while it does (with room for one request in flight, another is
// served at once), and is answered 408 in the contract's shape, its
// connection closed, when its body deadline passes.
func TestSlowBodyTakesNoSlot(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.DiscardHandler), inflight: make(chan struct{}, 1), shedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	const deadline = 300 * time.Millisecond
	g := e.Group("/api", bodyFirst(deadline), s.shed)
	g.POST("/hold", func(c echo.Context) error {
		var v map[string]int
		if err := decodeJSON(c, &v, false); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, v)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /api/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(deadline / 3)
	res, err := http.Post(srv.URL+"/api/hold", "application/json", strings.NewReader(`{"quantity":2}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || strings.TrimSpace(string(b)) != `{"quantity":2}` {
		t.Fatalf("while another body trickles: %d %s, want 201 (it must not hold the only slot)", res.StatusCode, b)
	}

	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	slow, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(slow.Body)
	var eb api.ErrorResponse
	if slow.StatusCode != http.StatusRequestTimeout || json.Unmarshal(b, &eb) != nil || eb.Error.Code != "request_timeout" || eb.Error.Message == "" || !slow.Close {
		t.Fatalf("trickled body: %d %s (close %v), want 408 request_timeout and the connection closed", slow.StatusCode, b, slow.Close)
	}
	if took := time.Since(start); took < deadline {
		t.Fatalf("answered after %v, before the %v deadline", took, deadline)
	}
	if n := counterValue(t, s.shedTotal); n != 0 {
		t.Fatalf("%v requests shed", n)
	}
}

// TestBufferBodyLimits: a body over 64 KiB is 413 whether its length is
// declared or not, and a buffered body reads as it came.
func TestBufferBodyLimits(t *testing.T) {
	t.Parallel()
	e := echo.New()
	big := strings.Repeat("x", maxBody+1)
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"declared", httptest.NewRequest("POST", "/", strings.NewReader(big)), http.StatusRequestEntityTooLarge},
		{"chunked", httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(big))), http.StatusRequestEntityTooLarge},
		{"fits", httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`)), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "chunked" {
				tc.req.ContentLength = -1
			}
			c := e.NewContext(tc.req, httptest.NewRecorder())
			err := bufferBody(c, time.Second)
			var ae *apiError
			switch {
			case tc.status == 0 && err != nil:
				t.Fatal(err)
			case tc.status != 0 && (!errors.As(err, &ae) || ae.Status != tc.status):
				t.Fatalf("got %v, want %d", err, tc.status)
			case tc.status == 0:
				b, _ := io.ReadAll(c.Request().Body)
				if string(b) != `{"a":1}` || c.Request().ContentLength != int64(len(b)) {
					t.Fatalf("buffered %q (length %d)", b, c.Request().ContentLength)
				}
			}
		})
	}
}

// counterValue reads c as a scrape would.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gather: %v %v", mfs, err)
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
