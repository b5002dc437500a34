package api

import "time"

// HoldRequest is the body of POST /api/v1/events/{event}/holds. Email and
// phone are an extension: where to send this order's notifications.
type HoldRequest struct {
	TicketType string `json:"ticket_type"`
	Quantity   int64  `json:"quantity"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
}

// Hold is a fan's hold on tickets: POST /api/v1/events/{event}/holds and
// GET /api/v1/holds/{hold}.
type Hold struct {
	HoldID      string    `json:"hold_id"`
	Event       string    `json:"event"`
	Status      string    `json:"status"`
	ExpiresAt   time.Time `json:"expires_at"`
	Items       []Item    `json:"items"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	OrderID     string    `json:"order_id,omitempty"`
}

// Item is a line of a Hold or an Order.
type Item struct {
	TicketType string `json:"ticket_type"`
	Quantity   int64  `json:"quantity"`
	PriceMinor int64  `json:"price_minor"`
}

// CheckoutRequest is the body of POST /api/v1/holds/{hold}/checkout.
type CheckoutRequest struct {
	Provider string `json:"provider"` // e.g. "sandbox"
	Email    string `json:"email"`
	Phone    string `json:"phone"`
}

// Order is a hold being paid for, or paid: POST
// /api/v1/holds/{hold}/checkout and GET /api/v1/orders/{order}.
type Order struct {
	OrderID     string     `json:"order_id"`
	Event       string     `json:"event"`
	HoldID      string     `json:"hold_id"`
	Status      string     `json:"status"`
	Items       []Item     `json:"items"`
	AmountMinor int64      `json:"amount_minor"`
	Currency    string     `json:"currency"`
	Payment     Payment    `json:"payment"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	PaidAt      *time.Time `json:"paid_at,omitempty"`
	Late        bool       `json:"late_payment,omitempty"`
	Refund      string     `json:"refund,omitempty"`
}

// Payment is an Order's payment at its provider: where the fan pays.
type Payment struct {
	ID          string `json:"id"`
	Provider    string `json:"provider"`
	RedirectURL string `json:"redirect_url"`
}

// WebhookResult is POST /api/v1/payments/{provider}/webhook: what the
// provider's message did.
type WebhookResult struct {
	Result string `json:"result"`
}
