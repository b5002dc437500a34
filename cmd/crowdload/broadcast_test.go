package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/ws"
)

// TestBroadcastAgainstAGateway runs crowdload broadcast against a real
// gateway and hub: three moves, each of which must reach every fan still
// waiting.
func TestBroadcastAgainstAGateway(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := queue.NewStore(queuetest.Run(t).Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// Moves 200 ms apart each reach the fans on their own: MaxRate under that.
	hub, err := ws.New(ctl, store, ws.Config{Tick: 20 * time.Millisecond, MaxRate: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{AdminToken: "tok", Ready: store.Ping, Store: store, Sockets: hub, Registry: reg}, ctl, keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	done := make(chan struct{})
	go func() { _ = hub.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"broadcast", "-target", srv.URL, "-admin-token", "tok", "-fans", "30",
		"-moves", "3", "-every", "200ms", "-window", "1s", "-sources", "2"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("broadcast: %v\n%s%s", err, &stdout, &stderr)
	}
	// Move k reaches the 30-k fans still waiting: 29 + 28 + 27.
	if out := stdout.String(); !strings.Contains(out, "3 broadcast(s) to 27..29 waiters: delivered 84 of 84") {
		t.Errorf("output:\n%s%s", out, &stderr)
	}
}
