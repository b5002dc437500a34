package booking

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate"
)

// Errors of payment providers and webhooks: *crowdgate.Error sentinels,
// whose Message is what the sender is told (the detail wrapped around them
// is for logs).
var (
	// ErrBadSignature: a webhook whose signature is missing, malformed,
	// wrong, or whose timestamp is outside the tolerance. Nothing changes.
	ErrBadSignature error = &crowdgate.Error{Kind: crowdgate.Invalid, Message: "webhook signature missing, wrong or outside the 300 s window", Err: errors.New("booking: webhook signature invalid")}
	// ErrBadWebhook: a correctly signed webhook whose body is not one.
	ErrBadWebhook error = &crowdgate.Error{Kind: crowdgate.Invalid, Message: "webhook body is not a payment event", Err: errors.New("booking: webhook body invalid")}
	// ErrUnknownProvider: no provider of that name is configured.
	ErrUnknownProvider error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such payment provider", Err: errors.New("booking: unknown payment provider")}
	// ErrUnknownPayment: the provider knows no such payment.
	ErrUnknownPayment error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such payment", Err: errors.New("booking: unknown payment")}
)

// PaymentRequest asks a provider to take money for one order.
type PaymentRequest struct {
	Event       string
	OrderID     string
	AmountMinor int64
	Currency    string
	Description string
	// ReturnURL is where the fan goes after paying (the order page).
	ReturnURL string
}

// Payment is a provider's answer to Start.
type Payment struct {
	ID          string `json:"id"`
	Provider    string `json:"provider"`
	RedirectURL string `json:"redirect_url"`
}

// PaymentState is what a provider says became of a payment.
type PaymentState string

// Payment states.
const (
	PaymentPending   PaymentState = "pending"
	PaymentSucceeded PaymentState = "succeeded"
	PaymentFailed    PaymentState = "failed"
)

// Webhook event types, as the contract spells them.
const (
	WebhookSucceeded = "payment.succeeded"
	WebhookFailed    = "payment.failed"
)

// WebhookEvent is one verified provider notification.
type WebhookEvent struct {
	ID        string // the provider's event id, remembered for 3 days
	Type      string // WebhookSucceeded or WebhookFailed
	PaymentID string
}

// Provider takes payments. Implementations are safe for concurrent use.
type Provider interface {
	// Name is the provider's path segment in webhook URLs ("sandbox").
	Name() string
	// Start creates a payment for an order. It is called once per
	// checkout; the order records the returned id.
	Start(ctx context.Context, req PaymentRequest) (Payment, error)
	// Lookup asks what became of a payment, for the reconciler.
	// ErrUnknownPayment when the provider never heard of it.
	Lookup(ctx context.Context, paymentID string) (PaymentState, error)
	// Refund gives the money of a succeeded payment back. Calling it again
	// for the same payment does nothing more.
	Refund(ctx context.Context, paymentID string) error
	// ParseWebhook verifies a webhook on its raw body and headers, with
	// now deciding the timestamp window. ErrBadSignature or ErrBadWebhook
	// when it is not a genuine, well-formed event.
	ParseWebhook(header http.Header, body []byte, now time.Time) (WebhookEvent, error)
}
