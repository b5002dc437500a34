package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDrainRunningOutCutsRequestsAndExitsZero: SIGTERM with a request still
// in flight when --drain runs out. The process cuts it, says at WARN how
// many it cut, and exits 0 as the contract says SIGTERM does: the
// orchestrator asked it to stop, and a stop it asked for is no crash (an
// exit 1 would count as a failure in a rollout or a Job). With nothing in
// flight it exits 0 and says nothing of the kind.
func TestDrainRunningOutCutsRequestsAndExitsZero(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select { // an origin slower than the drain
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); origin.Close() })

	t.Run("nothing in flight", func(t *testing.T) {
		p := startProcess(t, nil, "--upstream", origin.URL, "--drain", "300ms")
		if code := p.terminate(10 * time.Second); code != 0 {
			t.Fatalf("exit status %d, want 0\n%s", code, p.log.String())
		}
		if lines := p.logLines("drain time ran out: requests cut"); len(lines) != 0 {
			t.Fatalf("a clean stop reported cut requests: %v", lines)
		}
	})

	t.Run("a request outlives the drain", func(t *testing.T) {
		p := startProcess(t, nil, "--upstream", origin.URL, "--drain", "300ms")
		answered := make(chan error, 1)
		go func() {
			res, err := http.Get(p.base + "/slow")
			if err == nil {
				res.Body.Close()
				err = fmt.Errorf("answered %d", res.StatusCode)
			}
			answered <- err
		}()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the request never reached the origin")
		}
		stopping := time.Now()
		if code := p.terminate(10 * time.Second); code != 0 {
			t.Fatalf("exit status %d, want 0\n%s", code, p.log.String())
		}
		if took := time.Since(stopping); took > 5*time.Second {
			t.Errorf("stopping took %v with a 300 ms drain", took)
		}
		lines := p.logLines("drain time ran out: requests cut")
		if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["cut"] != 1.0 {
			t.Fatalf("want one WARN line with cut=1, got %v\n%s", lines, p.log.String())
		}
		select {
		case err := <-answered:
			t.Logf("the cut request got: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the request in flight was neither answered nor cut")
		}
	})
}
