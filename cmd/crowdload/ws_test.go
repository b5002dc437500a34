package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for crowdload when the multi-process
// test re-executes it as a worker (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if os.Getenv("CROWDLOAD_TEST_WORKER") == "1" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "crowdload worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mustRunWS runs `crowdload ws -json args...` and decodes its report.
func mustRunWS(tb testing.TB, args ...string) (Report, time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, append([]string{"ws", "-json"}, args...), &stdout, &stderr)
	elapsed := time.Since(start)
	if err != nil {
		tb.Fatalf("crowdload ws %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, &stdout, &stderr)
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		tb.Fatalf("report: %v\n%s", err, &stdout)
	}
	tb.Logf("stderr:\n%s", &stderr)
	return r, elapsed
}

func checkOutcomesAddUp(tb testing.TB, r Report) {
	tb.Helper()
	sum := r.Admitted + r.AdmittedAtJoin + r.Closed + r.JoinFailed + r.ConnectFailed + r.Dropped + r.Unfinished + r.NotStarted
	if sum != r.FansRequested {
		tb.Errorf("outcomes add up to %d, want fans_requested %d: %+v", sum, r.FansRequested, r)
	}
}

func TestWSFollowsFansToAdmission(t *testing.T) {
	t.Parallel()
	const fans = 50
	f := newFakeGate(t, func(f *fakeGate) {
		f.bumpFan = fans - 1 // admitted last, so it sees several positions
		f.restartFan = 1
	})
	r, _ := mustRunWS(t, "-targets", f.url, "-room", "launch", "-admin-token", f.adminToken,
		"-fans", fmt.Sprint(fans), "-rate", "600000", "-ramp", "2000", "-duration", "20s", "-sources", "4")

	checkOutcomesAddUp(t, r)
	for name, got := range map[string]int64{
		"fans_requested": r.FansRequested, "joined": r.Joined, "connected": r.Connected,
		"admitted": r.Admitted, "admitted messages": r.Messages["admitted"],
		"latency count": r.AdmissionLatency.Count,
	} {
		if got != fans {
			t.Errorf("%s = %d, want %d", name, got, fans)
		}
	}
	if r.Workers != 1 || r.StopReason != "finished" {
		t.Errorf("workers %d stop %q, want 1 finished", r.Workers, r.StopReason)
	}
	if r.PositionIncreases != 1 || len(r.PositionIncreaseExamples) != 1 {
		t.Fatalf("position increases %d %v, want exactly the bumped one", r.PositionIncreases, r.PositionIncreaseExamples)
	}
	// The bumped message is its predecessor's position (or lower, after
	// admissions) plus 1000.
	if e := r.PositionIncreaseExamples[0]; e.QueueID != fmt.Sprintf("q-%d", fans-1) || e.To <= 1000 || e.To-1000 > e.From {
		t.Errorf("increase example %+v, want q-%d from p to at most p+1000", e, fans-1)
	}
	if r.RestartCloses != 1 || r.Reconnects != 1 {
		t.Errorf("restart closes %d reconnects %d, want 1 and 1", r.RestartCloses, r.Reconnects)
	}
	if r.Messages["position"] < fans || r.MessagesPerSecond <= 0 {
		t.Errorf("position messages %d at %.1f/s", r.Messages["position"], r.MessagesPerSecond)
	}
	if l := r.AdmissionLatency; l.Max > 5000 || l.Quantile(0.5) > l.Max {
		t.Errorf("admission latency %+v", quantiles(&l))
	}
	if r.MaxPositionGap.Count == 0 || r.MaxPositionGap.Max > 2000 || r.PositionGapsOver5s != 0 {
		t.Errorf("position gaps: %s, %d over 5s", quantiles(&r.MaxPositionGap), r.PositionGapsOver5s)
	}
	if r.PeakConnections < fans-1 || r.PeakConnections > fans {
		t.Errorf("peak connections %d, want about %d", r.PeakConnections, fans)
	}
	var stats struct {
		AdmittedTotal int `json:"admitted_total"`
	}
	if err := json.Unmarshal(r.ServerStats, &stats); err != nil || r.UnpausedMs == 0 || stats.AdmittedTotal != fans {
		t.Errorf("unpaused %d, server stats %s", r.UnpausedMs, r.ServerStats)
	}
	puts, patches, openAtUnpause, _, remotes := f.snapshot()
	if puts != 1 || patches != 1 || openAtUnpause < fans-2 {
		t.Errorf("room: %d PUT, %d PATCH, %d open at unpause; want 1, 1, all connected first", puts, patches, openAtUnpause)
	}
	if remotes != 4 {
		t.Errorf("connections came from %d addresses, want the 4 sources", remotes)
	}
}

func TestWSCountsErrors(t *testing.T) {
	t.Parallel()
	f := newFakeGate(t, func(f *fakeGate) {
		f.failJoin, f.forbidWS, f.closeFan, f.dropFan = 3, 5, 7, 8
		f.admitEvery = 50 * time.Millisecond // fan 8 must get two positions before its admission
	})
	r, _ := mustRunWS(t, "-targets", f.url, "-fans", "10", "-duration", "20s", "-sources", "0")
	checkOutcomesAddUp(t, r)
	want := map[string]int64{
		"join_failed": 1, "connect_failed": 1, "closed": 1, "dropped": 1, "admitted": 6,
		"join_errors http_500": 1, "connect_errors http_403": 1, "drop_errors close_1006": 1,
		"closed_reasons sold_out": 1,
	}
	got := map[string]int64{
		"join_failed": r.JoinFailed, "connect_failed": r.ConnectFailed, "closed": r.Closed, "dropped": r.Dropped,
		"admitted": r.Admitted, "join_errors http_500": r.JoinErrors["http_500"],
		"connect_errors http_403": r.ConnectErrors["http_403"], "drop_errors close_1006": r.DropErrors["close_1006"],
		"closed_reasons sold_out": r.ClosedReasons["sold_out"],
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if r.ErrorSamples["join/http_500"] == "" {
		t.Errorf("no sample for the join error: %v", r.ErrorSamples)
	}
	var sum bytes.Buffer
	r.writeSummary(&sum)
	for _, s := range []string{"join failed 1", "http_403=1", "close_1006=1", "sold_out=1"} {
		if !strings.Contains(sum.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, &sum)
		}
	}
}

// TestWSDeadlineStopsRun: a room that never admits still ends at -duration.
func TestWSDeadlineStopsRun(t *testing.T) {
	t.Parallel()
	f := newFakeGate(t, func(f *fakeGate) { f.neverAdmit = true })
	r, elapsed := mustRunWS(t, "-targets", f.url, "-fans", "20", "-duration", "2s")
	checkOutcomesAddUp(t, r)
	if elapsed > 6*time.Second {
		t.Errorf("run took %s with -duration 2s", elapsed)
	}
	if r.StopReason != "deadline" || r.Unfinished != 20 || r.Connected != 20 || r.Admitted != 0 {
		t.Errorf("stop %q unfinished %d connected %d admitted %d; want deadline 20 20 0",
			r.StopReason, r.Unfinished, r.Connected, r.Admitted)
	}
}

// TestWSInterruptStillReports: cancelling the run (Ctrl-C) stops the fans
// and still prints what was measured.
func TestWSInterruptStillReports(t *testing.T) {
	t.Parallel()
	f := newFakeGate(t, func(f *fakeGate) { f.neverAdmit = true })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	stderr := &cancelOn{cancel: cancel, after: "fans connected"}
	start := time.Now()
	err := run(ctx, []string{"ws", "-targets", f.url, "-fans", "20", "-duration", "1m"}, &stdout, stderr)
	if err != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("run: %v after %s\n%s", err, time.Since(start), &stderr.buf)
	}
	for _, s := range []string{"stopped: interrupted", "connected 20", "unfinished 20"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, &stdout)
		}
	}
}

// cancelOn is a log writer that cancels a run once it logs a given text.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel func()
	after  string
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(p, []byte(c.after)) {
		c.cancel()
	}
	return c.buf.Write(p)
}

// TestWSHoldKeepsRoomPaused: -hold holds every socket, never unpauses, and
// stops by itself.
func TestWSHoldKeepsRoomPaused(t *testing.T) {
	t.Parallel()
	f := newFakeGate(t, nil)
	r, elapsed := mustRunWS(t, "-targets", f.url, "-admin-token", f.adminToken, "-fans", "30",
		"-hold", "300ms", "-duration", "20s")
	checkOutcomesAddUp(t, r)
	if elapsed > 5*time.Second {
		t.Errorf("run took %s with -hold 300ms", elapsed)
	}
	_, patches, _, peak, _ := f.snapshot()
	if r.StopReason != "hold" || r.PeakConnections != 30 || r.Unfinished != 30 || patches != 0 || peak != 30 {
		t.Errorf("stop %q peak %d unfinished %d, server peak %d, %d PATCH; want hold 30 30 30 0",
			r.StopReason, r.PeakConnections, r.Unfinished, peak, patches)
	}
}

// TestWSWorkerProcesses runs the parent with two worker processes (this test
// binary, re-executed) and checks the merged report.
func TestWSWorkerProcesses(t *testing.T) {
	t.Setenv("CROWDLOAD_TEST_WORKER", "1")
	const fans = 40
	f := newFakeGate(t, nil)
	r, _ := mustRunWS(t, "-targets", f.url+","+f.url, "-admin-token", f.adminToken, "-fans", fmt.Sprint(fans),
		"-workers", "2", "-rate", "600000", "-duration", "20s")
	checkOutcomesAddUp(t, r)
	if r.Workers != 2 || r.Connected != fans || r.Admitted != fans || r.AdmissionLatency.Count != fans ||
		r.Messages["admitted"] != fans || r.StopReason != "finished" || len(r.Errors) != 0 {
		t.Errorf("merged report: workers %d connected %d admitted %d latencies %d stop %q errors %v",
			r.Workers, r.Connected, r.Admitted, r.AdmissionLatency.Count, r.StopReason, r.Errors)
	}
	if _, patches, openAtUnpause, _, _ := f.snapshot(); patches != 1 || openAtUnpause < fans-1 {
		t.Errorf("%d PATCH with %d open; want one unpause once all %d were connected", patches, openAtUnpause, fans)
	}
}

// TestWSSteadyPhase: the parent tells both worker processes when the steady
// phase starts; what they saw after it is reported on its own.
func TestWSSteadyPhase(t *testing.T) {
	t.Setenv("CROWDLOAD_TEST_WORKER", "1")
	f := newFakeGate(t, nil)
	r, _ := mustRunWS(t, "-targets", f.url, "-admin-token", f.adminToken, "-fans", "20", "-workers", "2",
		"-hold", "1500ms", "-settle", "500ms", "-duration", "20s")
	checkOutcomesAddUp(t, r)
	if r.SteadyMs <= r.StartedMs || r.SteadyMs >= r.EndedMs {
		t.Fatalf("steady phase from %d, run %d..%d", r.SteadyMs, r.StartedMs, r.EndedMs)
	}
	// Every fan gets a position every 20 ms from the fake: each of the 20
	// saw gaps in the ~1 s steady phase, all short.
	if r.MaxSteadyGap.Count != 20 || r.MaxSteadyGap.Max > 1000 || r.SteadyGapsOver5s != 0 {
		t.Errorf("steady gaps: %s, %d over 5s", quantiles(&r.MaxSteadyGap), r.SteadyGapsOver5s)
	}
	total := r.Messages["position"]
	if r.SteadyMessages <= 0 || r.SteadyMessages >= total || r.SteadyMessagesPerSecond <= 0 {
		t.Errorf("steady messages %d (%.1f/s) of %d", r.SteadyMessages, r.SteadyMessagesPerSecond, total)
	}
}

func TestReportJSONRoundTripAndMerge(t *testing.T) {
	t.Parallel()
	mk := func(n int64, id string) Report {
		r := newReport()
		r.Workers, r.FansRequested, r.Connected, r.Admitted, r.PeakConnections = 1, n, n, n, n
		r.ConnectErrors["refused"] = 2
		r.Messages["position"] = 10 * n
		r.PositionIncreases = 4
		for i := range 4 {
			r.PositionIncreaseExamples = append(r.PositionIncreaseExamples, Increase{QueueID: id, From: int64(i), To: int64(i + 1)})
		}
		for v := range n {
			r.AdmissionLatency.Add(v * 7)
		}
		r.StartedMs, r.EndedMs = 1000, 3000
		r.ErrorSamples = map[string]string{"connect/refused": id}
		return r
	}
	a, b := mk(100, "a"), mk(300, "b")
	var merged Report = newReport()
	for _, r := range []Report{a, b} {
		raw, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		merged.Merge(&back)
	}
	merged.finish()
	var all Hist
	for _, r := range []Report{a, b} {
		for v := range r.FansRequested {
			all.Add(v * 7)
		}
	}
	if merged.Workers != 2 || merged.Admitted != 400 || merged.ConnectErrors["refused"] != 4 ||
		merged.PositionIncreases != 8 || len(merged.PositionIncreaseExamples) != maxExamples ||
		merged.AdmissionLatency != all || merged.ErrorSamples["connect/refused"] != "a" ||
		merged.DurationSeconds != 2 || merged.MessagesPerSecond != 2000 {
		t.Errorf("merged: %+v", merged)
	}
}

func TestWSFlagsStayOnLoopbackAndWithinLimits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string // part of the error
	}{
		{[]string{"-targets", "http://10.0.0.1:8080"}, "loopback"},
		{[]string{"-targets", "http://example.com"}, "loopback"},
		{[]string{"-targets", "ftp://127.0.0.1"}, "want http"},
		{[]string{"-sources", "10.0.0.2"}, "127.0.0.0/8"},
		{[]string{"-sources", "300"}, "0..250"},
		{[]string{"-fans", "40000", "-workers", "2"}, "use -workers 3"},
		{[]string{"-fans", "30000", "-sources", "0"}, "add -sources"},
		{[]string{"-hold", "10m", "-duration", "10m"}, "-hold"},
		{[]string{"-settle", "-1s"}, "-settle"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-fans", "3", "-workers", "4"}, "-workers"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), append([]string{"ws"}, c.args...), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one about %q", c.args, err, c.want)
		}
	}
}

func TestParseSources(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"0":                   {""},
		"none":                {""},
		"3":                   {"127.0.0.2", "127.0.0.3", "127.0.0.4"},
		"127.0.0.9,127.1.2.3": {"127.0.0.9", "127.1.2.3"},
	} {
		got, err := parseSources(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseSources(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestFloor runs crowdload floor small, its reader re-executed from this
// test binary, and checks it wrote every round and priced the writes.
func TestFloor(t *testing.T) {
	t.Setenv("CROWDLOAD_TEST_WORKER", "1")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, []string{"floor", "-sockets", "40", "-rounds", "3", "-sources", "2"}, &stdout, &stderr); err != nil {
		t.Fatalf("floor: %v\n%s%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"40 loopback sockets open", "round 3: 40 writes", "for 120 writes:", "µs per write"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
