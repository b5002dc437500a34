package booking_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestAWebhookRefusedWhileRedisLoadsIsPaidInSeconds: the sandbox's webhook
// reaches Crowdgate while its Redis is still loading its dataset, and is
// refused as the gateway refuses it (503, try again) five times. The
// sandbox retries in the background, promptly, and the order is paid
// within seconds, not when the reconciler asks after two minutes.
func TestAWebhookRefusedWhileRedisLoadsIsPaidInSeconds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits on real redeliveries while Redis says it is loading")
	}
	rdb := queuetest.Run(t).Client(t)
	loading := queuetest.Failing(t, "-LOADING Redis is loading the dataset in memory\r\n")

	var (
		mu      sync.Mutex
		tries   int
		refused int
		handle  func(w http.ResponseWriter, r *http.Request)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handle(w, r) }))
	t.Cleanup(srv.Close)
	sb, err := booking.NewSandbox(rdb, booking.SandboxConfig{
		Secret:     testSecret,
		PayURL:     func(id string) string { return "/pay/sandbox/" + id },
		WebhookURL: srv.URL + "/api/v1/payments/sandbox/webhook",
	})
	if err != nil {
		t.Fatal(err)
	}
	core, err := booking.NewCore(rdb, booking.Config{Providers: []booking.Provider{sb}})
	if err != nil {
		t.Fatal(err)
	}
	// The same instance, while its Redis answers LOADING.
	down, err := booking.NewCore(loading, booking.Config{Providers: []booking.Provider{sb}})
	if err != nil {
		t.Fatal(err)
	}
	handle = func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		tries++
		c := core
		if tries <= 5 {
			c = down
		}
		mu.Unlock()
		_, err := c.Webhook(r.Context(), "sandbox", r.Header, body)
		switch {
		case queue.Unavailable(err): // what gateway/errors.go answers
			mu.Lock()
			refused++
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"code":"unavailable","message":"the store is not answering; try again"}}`, http.StatusServiceUnavailable)
		case err != nil:
			t.Errorf("webhook: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- core.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop, with its redeliveries, within 5 s of its context")
		}
	})

	if _, err := core.PutEvent(ctx, booking.Event{ID: "gig", Room: "launch", HoldSeconds: 600, TicketTypes: []booking.TicketType{
		{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
	}}); err != nil {
		t.Fatal(err)
	}
	h, _, err := core.PlaceHold(ctx, booking.HoldRequest{Event: "gig", Visitor: "fan", Room: "launch", TicketType: "ga", Quantity: 2,
		AdmissionExpires: time.Now().Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := core.Checkout(ctx, booking.CheckoutRequest{HoldID: h.ID, Visitor: "fan", Provider: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if _, err := sb.Decide(ctx, o.Payment.ID, true); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := core.Order(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == booking.StatusPaid {
			break
		}
		if time.Since(start) > 15*time.Second {
			mu.Lock()
			t.Fatalf("the order is %s %v after the fan approved; %d deliveries, %d refused", got.Status, time.Since(start).Round(time.Millisecond), tries, refused)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("paid %v after the approval, on delivery %d (%d refused while Redis loaded)", time.Since(start).Round(time.Millisecond), tries, refused)
	if refused != 5 || tries != 6 {
		t.Errorf("%d deliveries, %d refused; want 6 and 5", tries, refused)
	}
}
