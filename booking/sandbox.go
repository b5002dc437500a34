package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The sandbox is a payment provider that takes no money: its hosted pay page
// (served by gateway) has Approve and Decline buttons, and the decision
// reaches Crowdgate the way a real provider's would, as a signed webhook
// that may be late, repeated or lost. It lets organizers rehearse a sale
// and tests drive the whole booking flow, and it keeps the booking core
// honest about the parts of a real provider that hurt: asynchrony,
// redelivery and the reconciler's Lookup.

// Errors of the sandbox's own operations.
var (
	// ErrPaymentPending: the payment has no decision yet, so there is no
	// webhook to redeliver.
	ErrPaymentPending = errors.New("booking: payment not decided yet")
	// ErrNotRefundable: only a succeeded payment can be refunded.
	ErrNotRefundable = errors.New("booking: payment has not succeeded; nothing to refund")
)

// sandboxName is the sandbox's Provider name and webhook path segment.
const sandboxName = "sandbox"

// sandboxTTL is how long a sandbox payment is kept: longer than any hold,
// reconciliation or refund window.
const sandboxTTL = 30 * 24 * time.Hour

// sandboxKey is a payment's hash. Payment ids name no event, so the key
// has no hash tag: each script touches this one key.
func sandboxKey(id string) string { return "cgb:sbx:" + id }

// defaultRetries are the waits between the webhook delivery attempts made
// while the fan who clicked Approve waits: a blip is ridden out, and the
// fan lands on an order that is paid already. Anything longer is Run's, in
// the background, while the order page says the payment is being
// confirmed.
var defaultRetries = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// Background redelivery (Run): the first wait, its ceiling as it doubles,
// how long a webhook is retried before the reconciler is left to settle
// the payment, and how many may be on their way at once.
const (
	defaultRetryBackoff = 500 * time.Millisecond
	maxRetryBackoff     = 15 * time.Second
	defaultRetryFor     = time.Minute
	maxRedeliveries     = 1024
)

// SandboxConfig configures a Sandbox.
type SandboxConfig struct {
	// Secret signs the webhooks (SignWebhook); the receiver verifies with
	// the same one. Required; serve warns when it is under 16 bytes.
	Secret []byte
	// PayURL builds the hosted pay page's URL for a payment id, e.g.
	// base + "/pay/sandbox/" + id. Required.
	PayURL func(paymentID string) string
	// WebhookURL is where decisions are POSTed: Crowdgate's own
	// /api/v1/payments/sandbox/webhook. Required, absolute http(s).
	WebhookURL string
	// Client delivers webhooks. Default: a client with a 5 s timeout.
	Client *http.Client
	// Retries are the waits between the delivery attempts Decide makes
	// itself, one attempt more than waits. Default 100 ms, 400 ms.
	Retries []time.Duration
	// RetryFor is how long, after those, Run goes on redelivering a webhook
	// that has not landed (the receiver answered 503 while its Redis was
	// loading, say), before leaving the payment to the reconciler's
	// Lookup. Default 1 min.
	RetryFor time.Duration
	// RetryBackoff is Run's first wait; it doubles after each failed
	// attempt, up to 15 s. Default 500 ms.
	RetryBackoff time.Duration
	// Now is the clock (creation times, webhook timestamps). Default time.Now.
	Now func() time.Time
	// Logger receives failed deliveries. Default: discards.
	Logger *slog.Logger
}

// Validate reports what is missing from c.
func (c SandboxConfig) Validate() error {
	if len(c.Secret) == 0 {
		return errors.New("booking: the sandbox needs a webhook secret")
	}
	if c.PayURL == nil {
		return errors.New("booking: the sandbox needs a PayURL")
	}
	u, err := url.Parse(c.WebhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("booking: sandbox webhook URL %q must be an absolute http(s) URL", c.WebhookURL)
	}
	return nil
}

// Sandbox is the no-money payment provider. Its payments live in Redis, so
// every Crowdgate instance serves the same pay pages and answers Lookup
// alike. It is safe for concurrent use.
//
// Like a real provider it retries a webhook that did not land, promptly
// and for a while (Run), so a receiver that was briefly unable to record
// it does not leave the order pending until the reconciler asks. Those
// retries live in the memory of the instance where the payment was
// decided: if it stops, the reconciler settles the payment.
type Sandbox struct {
	rdb redis.UniversalClient
	cfg SandboxConfig
	log *slog.Logger

	later   chan SandboxPayment // decisions whose webhook Run retries
	running atomic.Int32        // Runs in progress
}

var _ Provider = (*Sandbox)(nil)

// NewSandbox returns a Sandbox storing its payments in rdb.
func NewSandbox(rdb redis.UniversalClient, cfg SandboxConfig) (*Sandbox, error) {
	if rdb == nil {
		return nil, errors.New("booking: the sandbox needs a Redis client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Retries == nil {
		cfg.Retries = defaultRetries
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = defaultRetryFor
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = defaultRetryBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Secret = bytes.Clone(cfg.Secret) // the caller may reuse its slice
	return &Sandbox{rdb: rdb, cfg: cfg, log: cfg.Logger, later: make(chan SandboxPayment, maxRedeliveries)}, nil
}

// Run redelivers, until ctx ends, the webhooks that Decide could not
// deliver: each in its own goroutine, waiting RetryBackoff, then twice
// as long after each failure (at most 15 s), for RetryFor, and at most
// maxRedeliveries at once. It returns nil once ctx has ended and every
// redelivery has stopped; those cut short are left to the reconciler.
// Core.Run runs it.
func (s *Sandbox) Run(ctx context.Context) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxRedeliveries)
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-s.later:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Go(func() {
				defer func() { <-slots }()
				s.redeliver(ctx, p)
			})
		}
	}
}

// redeliver retries one decision's webhook in the background.
func (s *Sandbox) redeliver(ctx context.Context, p SandboxPayment) {
	body, err := webhookOf(p)
	if err != nil {
		s.log.Error("sandbox webhook not encoded", "payment_id", p.ID, "err", err)
		return
	}
	start, wait := time.Now(), s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := s.post(ctx, body)
		if err == nil {
			s.log.Info("sandbox webhook delivered on a retry", "payment_id", p.ID, "webhook_id", p.WebhookID,
				"event", p.Event, "retries", attempt, "after", time.Since(start).Round(time.Millisecond))
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(start)+wait > s.cfg.RetryFor {
			s.log.Warn("sandbox webhook not delivered; the reconciler will settle the payment",
				"payment_id", p.ID, "webhook_id", p.WebhookID, "event", p.Event, "retries", attempt, "err", err)
			return
		}
		wait = min(2*wait, maxRetryBackoff)
	}
}

// SandboxPayment is a sandbox payment, for its pay page: the request it
// was started with, and what became of it.
type SandboxPayment struct {
	ID string
	PaymentRequest
	State    PaymentState
	Refunded bool
	Created  time.Time
	// WebhookID is the event id of the decision's webhook ("" while
	// pending): fixed once, so every redelivery is recognisably the same.
	WebhookID string
}

// Name implements Provider.
func (s *Sandbox) Name() string { return sandboxName }

// Start implements Provider: it records a pending payment and sends the
// fan to its pay page.
func (s *Sandbox) Start(ctx context.Context, req PaymentRequest) (Payment, error) {
	if req.AmountMinor < 0 || req.Currency == "" {
		return Payment{}, fmt.Errorf("booking: sandbox payment of %d %q is not an amount", req.AmountMinor, req.Currency)
	}
	id := newID("pay")
	key := sandboxKey(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key,
			"event", req.Event,
			"order", req.OrderID,
			"amount_minor", req.AmountMinor,
			"currency", req.Currency,
			"description", req.Description,
			"return_url", req.ReturnURL,
			"state", string(PaymentPending),
			"refunded", 0,
			"created", s.cfg.Now().UnixMilli(),
		)
		p.PExpire(ctx, key, sandboxTTL)
		return nil
	})
	if err != nil {
		return Payment{}, fmt.Errorf("booking: start sandbox payment: %w", err)
	}
	return Payment{ID: id, Provider: sandboxName, RedirectURL: s.cfg.PayURL(id)}, nil
}

// Get returns a payment, for its pay page. ErrUnknownPayment when there is
// no such payment (or it is older than 30 days).
func (s *Sandbox) Get(ctx context.Context, id string) (SandboxPayment, error) {
	m, err := s.rdb.HGetAll(ctx, sandboxKey(id)).Result()
	if err != nil {
		return SandboxPayment{}, fmt.Errorf("booking: read sandbox payment: %w", err)
	}
	if len(m) == 0 {
		return SandboxPayment{}, fmt.Errorf("%w: %s", ErrUnknownPayment, id)
	}
	amount, _ := strconv.ParseInt(m["amount_minor"], 10, 64)
	created, _ := strconv.ParseInt(m["created"], 10, 64)
	return SandboxPayment{
		ID: id,
		PaymentRequest: PaymentRequest{
			Event: m["event"], OrderID: m["order"], AmountMinor: amount,
			Currency: m["currency"], Description: m["description"], ReturnURL: m["return_url"],
		},
		State:     PaymentState(m["state"]),
		Refunded:  m["refunded"] == "1",
		Created:   time.UnixMilli(created),
		WebhookID: m["evt"],
	}, nil
}

// decideScript moves a pending payment to its decision, with the webhook
// event id that will announce it, in one step: of two clicks racing, one
// decides and the other finds it decided. It returns 1 when it decided,
// 0 when the payment was already decided, and nil for no such payment.
//
// KEYS[1] payment hash; ARGV[1] new state, ARGV[2] webhook event id.
var decideScript = redis.NewScript(`
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'evt', ARGV[2])
return 1
`)

// Decide settles a pending payment, as the pay page's Approve or Decline
// button does, and delivers the signed webhook announcing it. Deciding a
// decided payment changes nothing and sends nothing: a second click, or a
// decline after an approval, cannot flip it. Delivery is retried (see
// SandboxConfig.Retries) within ctx; if every attempt fails Decide still
// succeeds, because the decision stands, and hands the webhook to Run to
// retry in the background. Without a Run it logs a warning: the
// reconciler's Lookup will find the decision, as it would for a real
// provider's lost webhook. ErrUnknownPayment when there is no such
// payment.
func (s *Sandbox) Decide(ctx context.Context, id string, approve bool) (SandboxPayment, error) {
	state := PaymentFailed
	if approve {
		state = PaymentSucceeded
	}
	decided, err := decideScript.Run(ctx, s.rdb, []string{sandboxKey(id)}, string(state), "evt_"+newID("sbx")).Int()
	if errors.Is(err, redis.Nil) {
		return SandboxPayment{}, fmt.Errorf("%w: %s", ErrUnknownPayment, id)
	}
	if err != nil {
		return SandboxPayment{}, fmt.Errorf("booking: decide sandbox payment: %w", err)
	}
	p, err := s.Get(ctx, id)
	if err != nil {
		return SandboxPayment{}, err
	}
	if decided == 1 {
		if err := s.deliver(ctx, p); err != nil {
			s.retryLater(p, err)
		}
	}
	return p, nil
}

// retryLater hands a webhook that Decide could not deliver to Run. Without
// a Run, or with too many on their way already, it is left to the
// reconciler.
func (s *Sandbox) retryLater(p SandboxPayment, err error) {
	if s.running.Load() > 0 {
		select {
		case s.later <- p:
			s.log.Info("sandbox webhook not delivered yet; retrying in the background",
				"payment_id", p.ID, "webhook_id", p.WebhookID, "event", p.Event, "err", err)
			return
		default:
		}
	}
	s.log.Warn("sandbox webhook not delivered; the reconciler will settle the payment",
		"payment_id", p.ID, "webhook_id", p.WebhookID, "event", p.Event, "err", err)
}

// Redeliver sends a decided payment's webhook again, with the same event
// id, as a real provider does when it is unsure the first one arrived.
// Unlike Decide it returns the delivery error. ErrUnknownPayment, or
// ErrPaymentPending when there is nothing to announce yet.
func (s *Sandbox) Redeliver(ctx context.Context, id string) error {
	p, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if p.State == PaymentPending || p.WebhookID == "" {
		return fmt.Errorf("%w: %s", ErrPaymentPending, id)
	}
	return s.deliver(ctx, p)
}

// deliver POSTs the payment's decision to the webhook URL until one attempt
// is answered 2xx, the retries run out, or ctx ends. Each attempt is signed
// afresh, so a late retry is still within the receiver's tolerance.
func (s *Sandbox) deliver(ctx context.Context, p SandboxPayment) error {
	body, err := webhookOf(p)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err = s.post(ctx, body)
		if err == nil {
			return nil
		}
		if attempt == len(s.cfg.Retries) {
			return fmt.Errorf("booking: %d delivery attempts failed, last: %w", attempt+1, err)
		}
		t := time.NewTimer(s.cfg.Retries[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("booking: delivery given up (%w), last attempt: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// webhookOf is the body of a decided payment's webhook.
func webhookOf(p SandboxPayment) ([]byte, error) {
	typ := WebhookFailed
	if p.State == PaymentSucceeded {
		typ = WebhookSucceeded
	}
	return json.Marshal(webhookBody{ID: p.WebhookID, Type: typ, PaymentID: p.ID})
}

// post makes one delivery attempt.
func (s *Sandbox) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Crowdgate-Sandbox/1")
	req.Header.Set(SignatureHeader, SignWebhook(s.cfg.Secret, s.cfg.Now(), body))
	res, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection can be reused; the answer's body
	// is of no interest beyond that.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook receiver answered %s", res.Status)
	}
	return nil
}

// Lookup implements Provider.
func (s *Sandbox) Lookup(ctx context.Context, paymentID string) (PaymentState, error) {
	p, err := s.Get(ctx, paymentID)
	if err != nil {
		return "", err
	}
	return p.State, nil
}

// refundScript marks a succeeded payment refunded. It returns the
// payment's state, or nil for no such payment; only 'succeeded' is marked.
//
// KEYS[1] payment hash.
var refundScript = redis.NewScript(`
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'succeeded' then redis.call('HSET', KEYS[1], 'refunded', 1) end
return state
`)

// Refund implements Provider: it marks a succeeded payment refunded, once
// however often it is called. ErrNotRefundable for a pending or failed
// payment, ErrUnknownPayment for none.
func (s *Sandbox) Refund(ctx context.Context, paymentID string) error {
	state, err := refundScript.Run(ctx, s.rdb, []string{sandboxKey(paymentID)}).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("%w: %s", ErrUnknownPayment, paymentID)
	case err != nil:
		return fmt.Errorf("booking: refund sandbox payment: %w", err)
	case PaymentState(state) != PaymentSucceeded:
		return fmt.Errorf("%w: %s is %s", ErrNotRefundable, paymentID, state)
	}
	return nil
}

// ParseWebhook implements Provider: the SignatureHeader must sign body
// within WebhookTolerance of now, and the body must be a webhook event.
// A request carrying the header twice is refused rather than guessed at.
func (s *Sandbox) ParseWebhook(header http.Header, body []byte, now time.Time) (WebhookEvent, error) {
	sig := header.Values(SignatureHeader)
	if len(sig) != 1 {
		return WebhookEvent{}, fmt.Errorf("%w: want one %s header, have %d", ErrBadSignature, SignatureHeader, len(sig))
	}
	if err := VerifyWebhook(s.cfg.Secret, sig[0], body, now, WebhookTolerance); err != nil {
		return WebhookEvent{}, err
	}
	return ParseWebhookBody(body)
}
