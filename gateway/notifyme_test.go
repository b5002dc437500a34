package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// TestNotifyAddressLimit: notify asks count against the real client
// address behind a trusted proxy; past queue.NotifyAsksPerAddress in a
// minute the ask is refused with 429 rate_limited and Retry-After, sends
// nothing, spends none of the room's budget and leaves the place free to
// ask from elsewhere; a --limit-bypass network is not limited.
func TestNotifyAddressLimit(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true, trusted: "127.0.0.1/32", bypass: "198.51.100.0/24"})
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	n := 0
	ask := func(from string) response {
		t.Helper()
		n++
		// Each place from an address of its own: only the asks share one.
		j := s.do("POST", "/api/v1/rooms/launch/join", "", "X-Forwarded-For", fmt.Sprintf("10.1.%d.%d", n/200, n%200+1))
		if j.status != 200 {
			t.Fatalf("join: %d %s", j.status, j.body)
		}
		qt := j.json(t)["queue_token"].(string)
		return s.do("POST", "/api/v1/rooms/launch/notify", fmt.Sprintf(`{"email":"fan%d@example.com"}`, n),
			"Authorization", "Bearer "+qt, "Content-Type", "application/json", "X-Forwarded-For", from)
	}
	sent := func() int64 {
		t.Helper()
		n, err := s.redis.Client(t).XLen(context.Background(), notify.Named("waiters.launch").Outbox()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range queue.NotifyAsksPerAddress {
		if r := ask("203.0.113.9"); r.status != 202 {
			t.Fatalf("ask %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := ask("203.0.113.9")
	if r.status != 429 || r.errorCode(t) != "rate_limited" {
		t.Fatalf("ask %d from one address: %d %s", queue.NotifyAsksPerAddress+1, r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 120 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if got := sent(); got != queue.NotifyAsksPerAddress {
		t.Fatalf("%d confirmations sent, want %d", got, queue.NotifyAsksPerAddress)
	}
	// Another address, and a bypassed network however often it asks.
	if r := ask("203.0.113.10"); r.status != 202 {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	for i := range queue.NotifyAsksPerAddress + 2 {
		if r := ask("198.51.100.1"); r.status != 202 {
			t.Fatalf("bypassed ask %d: %d %s", i+1, r.status, r.body)
		}
	}
	// The room's budget (100 an hour in a room that admits nobody) lost
	// only the confirmations that went out.
	left := int64(100) - sent()
	if ok, err := s.store.TakeNotifyBudget(context.Background(), "launch", int(left), 100); err != nil || !ok {
		t.Fatalf("the %d left of the budget: %v %v", left, ok, err)
	}
	if ok, _ := s.store.TakeNotifyBudget(context.Background(), "launch", 1, 100); ok {
		t.Fatal("the budget is not the 100 this test assumes")
	}
}

// FuzzNotifyAsks throws arbitrary bodies and forwarded addresses at the
// notify ask: the answer is 202 or a 4xx in the contract's shape (a 429
// with Retry-After), never a 5xx, whatever address the limit is counted
// against.
func FuzzNotifyAsks(f *testing.F) {
	s := newStackWith(f, stackOptions{booking: true, trusted: "127.0.0.1/32", bypass: "198.51.100.0/24"})
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	qt := s.do("POST", "/api/v1/rooms/launch/join", "").json(f)["queue_token"].(string)
	for _, c := range [][2]string{
		{`{"email":"fan@example.com"}`, "203.0.113.9"}, {`{"phone":"+919800000000"}`, "2001:db8::1"},
		{`{"email":"fan@example.com"}`, "198.51.100.7"}, {`{"email":"fan@example.com"}`, ""},
		{`{"email":"fan@example.com"}`, "::ffff:203.0.113.9"}, {`{"email":"fan@example.com"}`, "fe80::1%eth0"},
		{`{"email":"fan@example.com"}`, "not an address, 203.0.113.9"}, {`{"email":1}`, "203.0.113.9"},
		{`{}`, "203.0.113.9"}, {`null`, "10.0.0.1"}, {`{"email":"a@b.c\r\nBcc: x@y.z"}`, "203.0.113.9, 10.0.0.1"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, body, from string) {
		req, err := http.NewRequest("POST", s.srv.URL+"/api/v1/rooms/launch/notify", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+qt)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return // the client refused to send it (invalid header bytes)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		r := response{status: res.StatusCode, header: res.Header, body: b}
		switch {
		case r.status == http.StatusAccepted:
		case r.status >= 500 || r.status < 400:
			t.Fatalf("body %.80q from %.40q: %d %s", body, from, r.status, r.body)
		default:
			if code := r.errorCode(t); code == "rate_limited" && r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %s", r.body)
			}
		}
	})
}
