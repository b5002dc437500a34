package booking_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestSandboxRedeliveryIsBounded: a receiver that stays down gets the
// background retries for RetryFor, then the payment is left to the
// reconciler with a warning; and Run, stopped with retries under way,
// returns at once, leaving no goroutine behind.
func TestSandboxRedeliveryIsBounded(t *testing.T) {
	t.Parallel()
	r := newSandbox(t)
	rdb := queuetest.Run(t).Client(t)
	sb, err := booking.NewSandbox(rdb, booking.SandboxConfig{
		Secret:       testSecret,
		PayURL:       func(id string) string { return "/pay/sandbox/" + id },
		WebhookURL:   r.rc.srv.URL + "/api/v1/payments/sandbox/webhook",
		Retries:      []time.Duration{},
		RetryBackoff: 10 * time.Millisecond,
		RetryFor:     300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(r.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (stop func() time.Duration) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			if err := sb.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
			close(done)
		}()
		for deadline := time.Now().Add(time.Second); !booking.SandboxRunning(sb) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return func() time.Duration {
			start := time.Now()
			cancel()
			<-done
			return time.Since(start)
		}
	}

	stop := run()
	r.rc.failNext(1000)
	pay := mustStart(t, sb)
	if _, err := sb.Decide(context.Background(), pay.ID, true); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(r.logs.String(), "the reconciler will settle"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no give-up within 5 s: %s", r.logs)
		}
	}
	_, tries := r.rc.got()
	// 10, 20, 40, 80, 160 ms: five retries fit in 300 ms, after the one
	// attempt Decide made itself.
	if tries < 4 || tries > 7 {
		t.Errorf("%d attempts within RetryFor 300ms", tries)
	}
	time.Sleep(200 * time.Millisecond)
	if _, again := r.rc.got(); again != tries {
		t.Errorf("%d attempts after giving up at %d", again, tries)
	}
	stop()

	// Stopped with a retry under way: Run returns within a moment.
	stop = run()
	slow := mustStart(t, sb)
	if _, err := sb.Decide(context.Background(), slow.ID, true); err != nil {
		t.Fatal(err)
	}
	if took := stop(); took > time.Second {
		t.Errorf("Run took %v to stop", took)
	}
}
