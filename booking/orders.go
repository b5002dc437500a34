package booking

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Order statuses. The state machine is in doc.go.
const (
	StatusPending  = "pending_payment"
	StatusPaid     = "paid"
	StatusFailed   = "failed"
	StatusExpired  = "expired"
	StatusCanceled = "canceled"
	StatusRefunded = "refunded"
)

// Item is one line of an order.
type Item struct {
	TicketType string
	Quantity   int64
	PriceMinor int64
}

// Order is a hold being paid for, or paid.
type Order struct {
	ID          string
	Event       string
	HoldID      string
	Visitor     string
	Status      string
	Items       []Item
	AmountMinor int64
	Currency    string
	Payment     Payment
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PaidAt      time.Time // zero unless paid
	// Late is true for an order whose payment arrived after its hold
	// ended and whose tickets were taken again.
	Late bool
	// Refund is "" or, for a refunded order, "requested" until the
	// provider confirmed it, then "done".
	Refund string
}

// Release gives a visitor's hold back; a pending order on it is canceled.
// Releasing a hold that already ended is not an error. Errors: ErrNotFound
// (also for another visitor's hold), ErrConflict for a paid hold.
// visitor "" is the organizer, who may release any hold.
func (c *Core) Release(ctx context.Context, holdID, visitor string) error {
	ev, err := c.locate(ctx, "hold", holdID)
	if err != nil {
		return err
	}
	res, err := c.scripts.release.Run(ctx, c.rdb, []string{keysFor(ev).cfg}, c.now(), holdID, visitor).StringSlice()
	if err != nil {
		return fmt.Errorf("booking: release: %w", err)
	}
	switch {
	case res[0] == "ok":
		return nil
	case res[1] == "not_found":
		return ErrNotFound
	case res[1] == "gone" && res[2] == "paid":
		return conflictf("the hold is paid for")
	}
	return nil // released or expired already
}

// CheckoutRequest turns a hold into an order.
type CheckoutRequest struct {
	HoldID, Visitor string
	Provider        string
	Email, Phone    string // optional; replace the hold's contact
	// ReturnURL builds where the fan lands after paying, from the order id.
	ReturnURL func(orderID string) string
}

// Checkout starts paying for a live hold: the provider creates a payment,
// and the order waits for it (pending_payment). Asking again while that
// order is pending returns it. Errors: ErrNotFound, ErrHoldExpired,
// ErrConflict (the hold ended otherwise), ErrUnknownProvider, ErrInvalid.
func (c *Core) Checkout(ctx context.Context, r CheckoutRequest) (Order, error) {
	start := time.Now()
	defer func() { c.latency.Add(c.cfg.Now(), time.Since(start), false) }()
	p, ok := c.providers[r.Provider]
	if !ok {
		return Order{}, fmt.Errorf("%w %q", ErrUnknownProvider, r.Provider)
	}
	if err := validContact(r.Email, r.Phone); err != nil {
		return Order{}, err
	}
	h, err := c.Hold(ctx, r.HoldID, r.Visitor)
	if err != nil {
		return Order{}, err
	}
	if h.State == "checkout" {
		if o, err := c.order(ctx, h.Event, h.OrderID); err == nil && o.Status == StatusPending {
			return o, nil
		}
	}
	switch {
	case h.State == "expired" || (h.State == "active" || h.State == "checkout") && !h.ExpiresAt.After(c.cfg.Now()):
		return Order{}, ErrHoldExpired
	case h.State != "active" && h.State != "checkout":
		return Order{}, conflictf("the hold is %s", h.State)
	}
	oid := newID("ord")
	ret := ""
	if r.ReturnURL != nil {
		ret = r.ReturnURL(oid)
	}
	pay, err := p.Start(ctx, PaymentRequest{
		Event: h.Event, OrderID: oid, AmountMinor: h.AmountMinor, Currency: h.Currency,
		Description: c.describe(ctx, h), ReturnURL: ret,
	})
	if err != nil {
		return Order{}, fmt.Errorf("booking: start payment: %w", err)
	}
	// The ids resolve before the order exists, so a webhook can never
	// arrive for an order that cannot be found.
	_, err = c.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Set(ctx, indexKey("order", oid), h.Event, indexTTL)
		pl.Set(ctx, indexKey("pay", pay.ID), h.Event+" "+oid, indexTTL)
		return nil
	})
	if err != nil {
		return Order{}, fmt.Errorf("booking: index order: %w", err)
	}
	res, err := c.scripts.checkout.Run(ctx, c.rdb, []string{keysFor(h.Event).cfg},
		c.now(), h.ID, r.Visitor, oid, p.Name(), pay.ID, pay.RedirectURL, r.Email, r.Phone).StringSlice()
	if err != nil {
		return Order{}, fmt.Errorf("booking: checkout: %w", err)
	}
	switch {
	case res[0] == "exists":
		oid = res[1] // a concurrent checkout won; its payment is the one
	case res[0] == "err" && res[1] == "hold_expired":
		return Order{}, ErrHoldExpired
	case res[0] == "err" && res[1] == "not_found":
		return Order{}, ErrNotFound
	case res[0] == "err":
		return Order{}, conflictf("the hold is %s", res[2])
	}
	return c.order(ctx, h.Event, oid)
}

// Order returns an order by id.
func (c *Core) Order(ctx context.Context, id string) (Order, error) {
	ev, err := c.locate(ctx, "order", id)
	if err != nil {
		return Order{}, err
	}
	return c.order(ctx, ev, id)
}

func (c *Core) order(ctx context.Context, event, id string) (Order, error) {
	m, err := c.rdb.HGetAll(ctx, keysFor(event).order(id)).Result()
	if err != nil {
		return Order{}, fmt.Errorf("booking: read order: %w", err)
	}
	if len(m) == 0 {
		return Order{}, ErrNotFound
	}
	return Order{
		ID: m["id"], Event: m["event"], HoldID: m["hold"], Visitor: m["visitor"], Status: m["status"],
		Items:       []Item{{TicketType: m["type"], Quantity: atoi64(m["qty"]), PriceMinor: atoi64(m["price"])}},
		AmountMinor: atoi64(m["amount"]), Currency: m["cur"],
		Payment:   Payment{ID: m["payment"], Provider: m["provider"], RedirectURL: m["redirect"]},
		CreatedAt: msTime(m["created"]), UpdatedAt: msTime(m["updated"]), PaidAt: msTime(m["paid"]),
		Late: m["late"] == "1", Refund: m["refund"],
	}, nil
}

// Webhook applies a provider's webhook, verified on its raw body. It
// returns what it did: paid, paid_late, refunded, failed, ignored (an
// outcome for an order already settled) or duplicate. Errors:
// ErrUnknownProvider, ErrBadSignature, ErrBadWebhook, ErrUnknownPayment;
// none of them changes anything.
func (c *Core) Webhook(ctx context.Context, provider string, header http.Header, body []byte) (string, error) {
	p, ok := c.providers[provider]
	if !ok {
		return "", ErrUnknownProvider
	}
	ev, err := p.ParseWebhook(header, body, c.cfg.Now())
	if err != nil {
		c.m.webhooks.WithLabelValues("rejected").Inc()
		return "", err
	}
	outcome := PaymentSucceeded
	if ev.Type == WebhookFailed {
		outcome = PaymentFailed
	}
	what, err := c.settle(ctx, p, ev.ID, ev.PaymentID, outcome)
	if err == nil {
		c.m.webhooks.WithLabelValues(what).Inc()
	}
	return what, err
}

// settle applies one payment outcome exactly once per provider event id.
func (c *Core) settle(ctx context.Context, p Provider, eventID, paymentID string, outcome PaymentState) (string, error) {
	ref, err := c.locate(ctx, "pay", paymentID)
	if errors.Is(err, ErrNotFound) {
		return "", ErrUnknownPayment
	}
	if err != nil {
		return "", err
	}
	var ev, oid string
	if _, err := fmt.Sscan(ref, &ev, &oid); err != nil {
		return "", fmt.Errorf("booking: payment index %q: %w", ref, err)
	}
	res, err := c.scripts.payment.Run(ctx, c.rdb, []string{keysFor(ev).cfg}, c.now(), p.Name(), eventID,
		string(outcome), paymentID, oid, int64(c.cfg.WebhookMemory/time.Second)).StringSlice()
	if err != nil {
		return "", fmt.Errorf("booking: apply payment: %w", err)
	}
	if res[0] == "err" {
		return "", ErrUnknownPayment
	}
	if res[1] == "refunded" {
		// Refund at once; the reconciler retries if the provider fails now.
		c.refund(ctx, p, ev, oid, paymentID)
	}
	return res[1], nil
}

func (c *Core) refund(ctx context.Context, p Provider, event, orderID, paymentID string) {
	if err := p.Refund(ctx, paymentID); err != nil {
		c.log.Warn("refund failed; will retry", "event", event, "order", orderID, "err", err)
		return
	}
	if err := c.scripts.refunded.Run(ctx, c.rdb, []string{keysFor(event).cfg}, c.now(), orderID).Err(); err != nil {
		c.log.Warn("refund not recorded; will retry", "event", event, "order", orderID, "err", err)
	}
}

// describe is what a hold's payment is for, as the pay page and the
// provider show it: "2 × General, Sunburn 2026", the ticket type's and the
// event's names (the ids when there are none, or the event cannot be read).
func (c *Core) describe(ctx context.Context, h Hold) string {
	typ, event := h.TicketType, h.Event
	if v, err := c.Event(ctx, h.Event); err == nil {
		if v.Name != "" {
			event = v.Name
		}
		for _, t := range v.TicketTypes {
			if t.ID == h.TicketType && t.Name != "" {
				typ = t.Name
			}
		}
	}
	return fmt.Sprintf("%d × %s, %s", h.Quantity, typ, event)
}
