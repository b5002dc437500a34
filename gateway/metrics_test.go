package gateway_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestMadeUpRoomsAddNoSeries: 1,000 joins to rooms that do not exist (with
// and without a forged queue token) leave /metrics as it was, and a
// deleted room's series go with it.
func TestMadeUpRoomsAddNoSeries(t *testing.T) {
	t.Parallel()
	s := newMeteredStack(t)
	join := func(room string, i int) {
		t.Helper()
		var h []string
		if i%2 == 1 {
			h = []string{"Authorization", "Bearer forged"}
		}
		if r := s.do("POST", "/api/v1/rooms/"+room+"/join", "", h...); r.status != http.StatusNotFound && r.status != http.StatusUnauthorized {
			t.Fatalf("join %s: %d %s", room, r.status, r.body)
		}
	}
	// Once each way first: the latency histogram's series for these routes
	// and codes (and /metrics') are bounded, and made here.
	join("warm-up-0", 0)
	join("warm-up-1", 1)
	series(t, s)
	before := series(t, s)
	for i := range 1000 {
		join(fmt.Sprintf("made-up-%d", i), i)
	}
	after := series(t, s)
	if len(after) != len(before) {
		var added []string
		for k := range after {
			if _, ok := before[k]; !ok {
				added = append(added, k)
			}
		}
		t.Fatalf("1,000 joins to made-up rooms took /metrics from %d to %d series, e.g. %v", len(before), len(after), added[:min(len(added), 3)])
	}
	for k := range after {
		if strings.Contains(k, "made-up") {
			t.Fatalf("a made-up room is in /metrics: %s", k)
		}
	}

	s.putRoom("gone", `{}`)
	if r := s.do("POST", "/api/v1/rooms/gone/join", ""); r.status != http.StatusOK {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
	labelled := func() bool {
		for k := range series(t, s) {
			if strings.Contains(k, `room="gone"`) {
				return true
			}
		}
		return false
	}
	waitFor(t, "the room's series", labelled)
	if r := s.admin("DELETE", "/admin/v1/rooms/gone", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	waitFor(t, "a deleted room's series gone", func() bool { return !labelled() })
}

// newMeteredStack is a gateway whose /metrics shows the admission
// controller's series too, as in `crowdgate serve`, with the controller's
// loops running.
func newMeteredStack(t *testing.T) *stack {
	t.Helper()
	return newStackWith(t, stackOptions{running: true, metered: true})
}

// series reads /metrics into its series (name and labels) and values.
func series(t *testing.T, s *stack) map[string]string {
	t.Helper()
	r := s.do("GET", "/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// TestMetricsAreNotPublic: on the main listener /metrics answers clients
// on loopback and private networks, judged on the real client address, and
// is a plain 404 to everyone else: at the edge it would tell the internet
// the names of unannounced rooms and their figures.
func TestMetricsAreNotPublic(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32"})
	for _, tc := range []struct {
		from string
		want int
	}{
		{"", http.StatusOK}, // the proxy's own request: loopback
		{"10.1.2.3", http.StatusOK},
		{"192.168.0.9", http.StatusOK},
		{"fd00::1", http.StatusOK},
		{"203.0.113.7", http.StatusNotFound},
		{"2001:db8::1", http.StatusNotFound},
		{"10.1.2.3, 203.0.113.7", http.StatusNotFound}, // a client's own X-Forwarded-For is not believed
	} {
		var h []string
		if tc.from != "" {
			h = []string{"X-Forwarded-For", tc.from}
		}
		r := s.do("GET", "/metrics", "", h...)
		if r.status != tc.want {
			t.Errorf("/metrics for %q: %d, want %d", tc.from, r.status, tc.want)
		}
		if r.status == http.StatusNotFound && (r.errorCode(t) != "not_found" || strings.Contains(string(r.body), "crowdgate_")) {
			t.Errorf("/metrics for %q: %s", tc.from, r.body)
		}
	}
}
