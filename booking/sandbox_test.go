package booking_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/webhooksig"
)

// receiver is a webhook endpoint that verifies what it gets, as the
// booking core's would, and can be made to fail the next few deliveries.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	fail   int // answer 503 to this many more requests
	tries  int // requests seen, failed ones included
	events []booking.WebhookEvent
	bodies []string
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, webhooksig.MaxBody+1))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.t.Errorf("receiver: %s %v %v", r.Method, r.Header, err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries++
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := webhooksig.Verify(testSecret, r.Header.Get(webhooksig.Header), body, time.Now(), webhooksig.Tolerance); err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	ev, err := booking.ParseWebhookBody(body)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, ev)
	rc.bodies = append(rc.bodies, string(body))
}

func (rc *receiver) got() ([]booking.WebhookEvent, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]booking.WebhookEvent(nil), rc.events...), rc.tries
}

func (rc *receiver) failNext(n int) {
	rc.mu.Lock()
	rc.fail = n
	rc.mu.Unlock()
}

// lockedLog collects log lines from any goroutine.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type sandboxRig struct {
	sb   *booking.Sandbox
	rc   *receiver
	logs *lockedLog
}

func newSandbox(t testing.TB) sandboxRig {
	t.Helper()
	rdb := queuetest.Run(t).Client(t)
	rc := newReceiver(t)
	logs := &lockedLog{}
	sb, err := booking.NewSandbox(rdb, booking.SandboxConfig{
		Secret:     testSecret,
		PayURL:     func(id string) string { return "https://tickets.example/pay/sandbox/" + id },
		WebhookURL: rc.srv.URL + "/api/v1/payments/sandbox/webhook",
		Retries:    []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond},
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sandboxRig{sb: sb, rc: rc, logs: logs}
}

func mustStart(t testing.TB, sb *booking.Sandbox) booking.Payment {
	t.Helper()
	p, err := sb.Start(context.Background(), booking.PaymentRequest{
		Event: "launch", OrderID: "ord-1", AmountMinor: 300000, Currency: "INR",
		Description: "2 × General", ReturnURL: "/orders/ord-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var paymentIDPattern = regexp.MustCompile(`^pay-[a-z2-7]{20}$`)

func TestSandboxApprove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)
	pay := mustStart(t, r.sb)
	if !paymentIDPattern.MatchString(pay.ID) || pay.Provider != "sandbox" || pay.RedirectURL != "https://tickets.example/pay/sandbox/"+pay.ID {
		t.Fatalf("payment %+v", pay)
	}
	if other := mustStart(t, r.sb); other.ID == pay.ID {
		t.Fatal("two payments share an id")
	}
	p, err := r.sb.Get(ctx, pay.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := booking.SandboxPayment{ID: pay.ID, PaymentRequest: booking.PaymentRequest{Event: "launch", OrderID: "ord-1", AmountMinor: 300000, Currency: "INR",
		Description: "2 × General", ReturnURL: "/orders/ord-1"}, State: booking.PaymentPending, Created: p.Created}
	if p != want || time.Since(p.Created) > time.Minute {
		t.Fatalf("pending payment %+v, want %+v", p, want)
	}
	if st, err := r.sb.Lookup(ctx, pay.ID); st != booking.PaymentPending || err != nil {
		t.Fatalf("Lookup: %q %v", st, err)
	}

	p, err = r.sb.Decide(ctx, pay.ID, true)
	if err != nil || p.State != booking.PaymentSucceeded || !strings.HasPrefix(p.WebhookID, "evt_") {
		t.Fatalf("Decide: %+v %v", p, err)
	}
	evs, tries := r.rc.got()
	if tries != 1 || len(evs) != 1 {
		t.Fatalf("webhook: %d requests, %d events", tries, len(evs))
	}
	if (evs[0] != booking.WebhookEvent{ID: p.WebhookID, Type: booking.WebhookSucceeded, PaymentID: pay.ID}) {
		t.Errorf("webhook %+v, payment %+v", evs[0], p)
	}
	if st, err := r.sb.Lookup(ctx, pay.ID); st != booking.PaymentSucceeded || err != nil {
		t.Errorf("Lookup: %q %v", st, err)
	}
	if r.logs.String() != "" {
		t.Errorf("logged: %s", r.logs)
	}
}

func TestSandboxDecline(t *testing.T) {
	t.Parallel()
	r := newSandbox(t)
	pay := mustStart(t, r.sb)
	p, err := r.sb.Decide(context.Background(), pay.ID, false)
	if err != nil || p.State != booking.PaymentFailed {
		t.Fatalf("Decide: %+v %v", p, err)
	}
	evs, _ := r.rc.got()
	if len(evs) != 1 || evs[0].Type != booking.WebhookFailed || evs[0].ID != p.WebhookID {
		t.Fatalf("webhooks %+v", evs)
	}
}

// TestSandboxDecideOnce: the first decision stands. A second click, a
// decline after an approval, or a crowd of racing clicks change nothing
// and send no second webhook.
func TestSandboxDecideOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)
	pay := mustStart(t, r.sb)
	first, err := r.sb.Decide(ctx, pay.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, approve := range []bool{false, true, false} {
		p, err := r.sb.Decide(ctx, pay.ID, approve)
		if err != nil || p != first {
			t.Fatalf("Decide(%v) again: %+v %v; first %+v", approve, p, err, first)
		}
	}
	if evs, tries := r.rc.got(); tries != 1 || len(evs) != 1 {
		t.Errorf("%d webhook requests after four decisions", tries)
	}

	race := mustStart(t, r.sb)
	var wg sync.WaitGroup
	states := make([]booking.SandboxPayment, 16)
	for i := range states {
		wg.Go(func() {
			p, err := r.sb.Decide(ctx, race.ID, i%2 == 0)
			if err != nil {
				t.Error(err)
			}
			states[i] = p
		})
	}
	wg.Wait()
	for _, p := range states[1:] {
		if p.State != states[0].State || p.WebhookID != states[0].WebhookID {
			t.Fatalf("racing decisions disagree: %+v vs %+v", p, states[0])
		}
	}
	evs, _ := r.rc.got()
	if len(evs) != 2 || evs[1].ID != states[0].WebhookID {
		t.Errorf("webhooks %+v; the race's decision %+v", evs, states[0])
	}
}

// TestSandboxRedeliver: a redelivery is the same event, so a receiver that
// remembers event ids changes nothing the second time.
func TestSandboxRedeliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)
	pay := mustStart(t, r.sb)
	if err := r.sb.Redeliver(ctx, pay.ID); !errors.Is(err, booking.ErrPaymentPending) {
		t.Errorf("Redeliver of a pending payment: %v", err)
	}
	if _, err := r.sb.Decide(ctx, pay.ID, true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.sb.Redeliver(ctx, pay.ID); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := r.rc.got()
	if len(evs) != 3 || evs[1] != evs[0] || evs[2] != evs[0] {
		t.Fatalf("deliveries %+v", evs)
	}
	r.rc.mu.Lock()
	defer r.rc.mu.Unlock()
	if r.rc.bodies[1] != r.rc.bodies[0] {
		t.Errorf("redelivered body %s, first %s", r.rc.bodies[1], r.rc.bodies[0])
	}
}

// TestSandboxRetries: a receiver that is down for a moment gets the
// webhook once it is back; one that stays down costs the decision nothing
// (the reconciler's Lookup settles it) but a warning in the log.
func TestSandboxRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)

	r.rc.failNext(3) // the first three attempts fail, the fourth and last lands
	pay := mustStart(t, r.sb)
	p, err := r.sb.Decide(ctx, pay.ID, true)
	if err != nil || p.State != booking.PaymentSucceeded {
		t.Fatalf("Decide: %+v %v", p, err)
	}
	evs, tries := r.rc.got()
	if tries != 4 || len(evs) != 1 || evs[0].ID != p.WebhookID {
		t.Fatalf("%d attempts, events %+v", tries, evs)
	}

	r.rc.failNext(4)
	pay = mustStart(t, r.sb)
	p, err = r.sb.Decide(ctx, pay.ID, true)
	if err != nil || p.State != booking.PaymentSucceeded {
		t.Fatalf("Decide with the receiver down: %+v %v", p, err)
	}
	if _, tries := r.rc.got(); tries != 8 {
		t.Errorf("%d attempts in all, want 4 + 4", tries)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, pay.ID) || strings.Contains(logs, string(testSecret)) {
		t.Errorf("log: %s", logs)
	}
	if st, _ := r.sb.Lookup(ctx, pay.ID); st != booking.PaymentSucceeded {
		t.Errorf("Lookup after a lost webhook: %q", st)
	}
	// Back up: a redelivery lands, with the decision's event id.
	if err := r.sb.Redeliver(ctx, pay.ID); err != nil {
		t.Fatal(err)
	}
	if evs, _ := r.rc.got(); len(evs) != 2 || evs[1].ID != p.WebhookID {
		t.Errorf("events %+v", evs)
	}

	// Delivery is bounded by ctx: a cancelled one stops retrying at once.
	r.rc.failNext(100)
	pay = mustStart(t, r.sb)
	if _, err := r.sb.Decide(ctx, pay.ID, false); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.sb.Redeliver(cctx, pay.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Redeliver with a cancelled context: %v", err)
	}
}

// TestSandboxReceiverGone: a receiver that refuses connections is the same
// as one that answers 503.
func TestSandboxReceiverGone(t *testing.T) {
	t.Parallel()
	r := newSandbox(t)
	r.rc.srv.Close()
	pay := mustStart(t, r.sb)
	p, err := r.sb.Decide(context.Background(), pay.ID, true)
	if err != nil || p.State != booking.PaymentSucceeded {
		t.Fatalf("Decide: %+v %v", p, err)
	}
	if !strings.Contains(r.logs.String(), "4 delivery attempts failed") {
		t.Errorf("log: %s", r.logs)
	}
}

func TestSandboxRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)
	pay := mustStart(t, r.sb)
	if err := r.sb.Refund(ctx, pay.ID); !errors.Is(err, booking.ErrNotRefundable) {
		t.Errorf("Refund of a pending payment: %v", err)
	}
	if _, err := r.sb.Decide(ctx, pay.ID, true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.sb.Refund(ctx, pay.ID); err != nil {
			t.Fatalf("Refund: %v", err)
		}
	}
	p, _ := r.sb.Get(ctx, pay.ID)
	if !p.Refunded || p.State != booking.PaymentSucceeded {
		t.Errorf("after refunds: %+v", p)
	}

	declined := mustStart(t, r.sb)
	if _, err := r.sb.Decide(ctx, declined.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := r.sb.Refund(ctx, declined.ID); !errors.Is(err, booking.ErrNotRefundable) {
		t.Errorf("Refund of a failed payment: %v", err)
	}
	if p, _ := r.sb.Get(ctx, declined.ID); p.Refunded {
		t.Error("a failed payment is marked refunded")
	}
}

func TestSandboxUnknownPayment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSandbox(t)
	const id = "pay-nosuchpaymentatall"
	if _, err := r.sb.Get(ctx, id); !errors.Is(err, booking.ErrUnknownPayment) {
		t.Errorf("Get: %v", err)
	}
	if _, err := r.sb.Decide(ctx, id, true); !errors.Is(err, booking.ErrUnknownPayment) {
		t.Errorf("Decide: %v", err)
	}
	if _, err := r.sb.Lookup(ctx, id); !errors.Is(err, booking.ErrUnknownPayment) {
		t.Errorf("Lookup: %v", err)
	}
	if err := r.sb.Refund(ctx, id); !errors.Is(err, booking.ErrUnknownPayment) {
		t.Errorf("Refund: %v", err)
	}
	if err := r.sb.Redeliver(ctx, id); !errors.Is(err, booking.ErrUnknownPayment) {
		t.Errorf("Redeliver: %v", err)
	}
	if _, tries := r.rc.got(); tries != 0 {
		t.Errorf("%d webhooks for an unknown payment", tries)
	}
}

// TestSandboxKeepsPayments: a payment outlives any hold and reconciliation
// (30 days), and then goes, so the sandbox does not grow for ever.
func TestSandboxKeepsPayments(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	rdb := rs.Client(t)
	sb, err := booking.NewSandbox(rdb, booking.SandboxConfig{Secret: testSecret, PayURL: func(string) string { return "" }, WebhookURL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	pay := mustStart(t, sb)
	ttl, err := rdb.TTL(context.Background(), "cgb:sbx:"+pay.ID).Result()
	if err != nil || ttl < 29*24*time.Hour || ttl > 30*24*time.Hour {
		t.Errorf("TTL %v %v", ttl, err)
	}
}

func TestSandboxParseWebhook(t *testing.T) {
	t.Parallel()
	r := newSandbox(t)
	now := time.Now()
	h := http.Header{}
	h.Set(webhooksig.Header, webhooksig.Sign(testSecret, now, testBody))
	ev, err := r.sb.ParseWebhook(h, testBody, now)
	if err != nil || (ev != booking.WebhookEvent{ID: "evt_1", Type: booking.WebhookSucceeded, PaymentID: "pay-1"}) {
		t.Fatalf("ParseWebhook: %+v %v", ev, err)
	}
	if _, err := r.sb.ParseWebhook(h, testBody, now.Add(301*time.Second)); !errors.Is(err, booking.ErrBadSignature) {
		t.Errorf("301 s late: %v", err)
	}
	if _, err := r.sb.ParseWebhook(http.Header{}, testBody, now); !errors.Is(err, booking.ErrBadSignature) {
		t.Errorf("no header: %v", err)
	}
	two := h.Clone()
	two.Add(webhooksig.Header, "t=1,v1=00")
	if _, err := r.sb.ParseWebhook(two, testBody, now); !errors.Is(err, booking.ErrBadSignature) {
		t.Errorf("two headers: %v", err)
	}
	body := []byte(`{"id":"evt_1","type":"payment.refunded","payment_id":"pay-1"}`)
	h.Set(webhooksig.Header, webhooksig.Sign(testSecret, now, body))
	if _, err := r.sb.ParseWebhook(h, body, now); !errors.Is(err, booking.ErrBadWebhook) {
		t.Errorf("signed junk: %v", err)
	}
}

func TestNewSandboxConfig(t *testing.T) {
	t.Parallel()
	rdb := queuetest.Run(t).Client(t)
	ok := booking.SandboxConfig{Secret: testSecret, PayURL: func(string) string { return "" }, WebhookURL: "https://crowdgate.example/api/v1/payments/sandbox/webhook"}
	if _, err := booking.NewSandbox(rdb, ok); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*booking.SandboxConfig){
		"no secret":            func(c *booking.SandboxConfig) { c.Secret = nil },
		"empty secret":         func(c *booking.SandboxConfig) { c.Secret = []byte{} },
		"no pay URL":           func(c *booking.SandboxConfig) { c.PayURL = nil },
		"no webhook URL":       func(c *booking.SandboxConfig) { c.WebhookURL = "" },
		"relative webhook":     func(c *booking.SandboxConfig) { c.WebhookURL = "/api/v1/payments/sandbox/webhook" },
		"non-http webhook":     func(c *booking.SandboxConfig) { c.WebhookURL = "ftp://x/y" },
		"webhook without host": func(c *booking.SandboxConfig) { c.WebhookURL = "http:///x" },
	} {
		c := ok
		mutate(&c)
		if _, err := booking.NewSandbox(rdb, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := booking.NewSandbox(nil, ok); err == nil {
		t.Error("no Redis: accepted")
	}
	if _, err := booking.NewSandbox(rdb, booking.SandboxConfig{Secret: testSecret}); err == nil || strings.Contains(err.Error(), string(testSecret)) {
		t.Errorf("error %v", err)
	}
}
