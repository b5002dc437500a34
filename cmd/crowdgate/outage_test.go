package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestRedisOutageIsSaidOnce: a Redis outage of a few seconds under a real
// serve, with a room and an event, is said once per component at ERROR
// ("store unreachable") and once more at INFO when the store is back,
// instead of a line per room per tick from every loop.
func TestRedisOutageIsSaidOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped with -short")
	}
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs a redis-server to stop")
	}
	cg := startServe(t, map[string]string{
		"CROWDGATE_ADMIN_TOKEN": "tok",
		"CROWDGATE_REDIS_URL":   "unix://" + strings.TrimPrefix(rs.Addr, "unix:"),
	})
	admin := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, cg.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", method, path, res, err)
		}
		res.Body.Close()
	}
	admin("PUT", "/admin/v1/rooms/launch", `{"admit_per_minute": 600}`)
	admin("PUT", "/admin/v1/events/gig", `{"room": "launch", "hold_seconds": 600, "ticket_types": [{"id": "ga", "name": "GA", "capacity": 10, "price_minor": 100, "currency": "INR", "per_order_limit": 2}]}`)
	time.Sleep(1500 * time.Millisecond)
	before := len(cg.stderr.String())

	rs.Stop()
	time.Sleep(4 * time.Second)
	rs.Start(t)

	// Every component that said the store was gone says it is back, within
	// its own loop's period (the dashboard's history samples every 10 s).
	var down, up map[string]int
	var loud []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		down, up, loud = map[string]int{}, map[string]int{}, nil
		sc := bufio.NewScanner(strings.NewReader(cg.stderr.String()[before:]))
		for sc.Scan() {
			var l struct{ Level, Msg, Component string }
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch {
			case l.Msg == "store unreachable":
				down[l.Component]++
			case l.Msg == "store reachable again":
				up[l.Component]++
			case l.Level == "WARN" || l.Level == "ERROR":
				loud = append(loud, sc.Text())
			}
		}
		if len(up) >= len(down) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("store unreachable: %v; reachable again: %v", down, up)
	if len(down) == 0 {
		t.Fatal("nobody said the store was unreachable")
	}
	for c, n := range down {
		if n != 1 {
			t.Errorf("%s said the store was unreachable %d times, want once", c, n)
		}
		if up[c] != 1 {
			t.Errorf("%s said it was back %d times, want once", c, up[c])
		}
	}
	if len(loud) > 0 {
		t.Errorf("%d other lines at WARN or above during a 4 s outage:\n%s", len(loud), strings.Join(loud, "\n"))
	}
}
