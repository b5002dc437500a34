package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestFailedRequestLogsMilliseconds: a failed request's line gives its
// duration in milliseconds under a key that says so, not as nanoseconds
// under "duration".
func TestFailedRequestLogsMilliseconds(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s, err := New(Config{AdminToken: "x", Ready: func(context.Context) error { return nil },
		Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.observe(func(echo.Context) error {
		time.Sleep(2 * time.Millisecond)
		return errors.New("boom")
	})
	c := s.echo.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	if err := h(c); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && m["msg"] == "request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request line in %s", buf.String())
	}
	if _, ok := line["duration"]; ok {
		t.Errorf("the line still has a unitless duration: %v", line)
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 2 || d > 10_000 {
		t.Errorf("duration_ms = %v, want the milliseconds taken", line["duration_ms"])
	}
}

// TestServePrivate: the private listener serves /metrics, and the profiler
// only when asked; when ctx ends it stops, and its port with it.
func TestServePrivate(t *testing.T) {
	t.Parallel()
	s, err := New(Config{AdminToken: "x", Ready: func(context.Context) error { return nil }, PrivateMetrics: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.ServePrivate(ctx, ln, true, profile) }()
		base := "http://" + ln.Addr().String()
		get := func(path string) (int, string) {
			t.Helper()
			res, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		if code, body := get("/metrics"); code != 200 || !bytes.Contains([]byte(body), []byte("crowdgate_booking_shed_total")) {
			t.Fatalf("private /metrics: %d %.200s", code, body)
		}
		want := http.StatusNotFound
		if profile {
			want = http.StatusOK
		}
		if code, _ := get("/debug/pprof/"); code != want {
			t.Fatalf("pprof %v: /debug/pprof/ %d, want %d", profile, code, want)
		}
		http.DefaultClient.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ServePrivate did not return after its context ended")
		}
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatal("the private listener still accepts after shutdown")
		}
	}

	// The main listener then has no /metrics, even for loopback.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("main /metrics with a private listener: %d", rec.Code)
	}
}
