package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
)

// The booking API: organizers define events, admitted fans hold tickets and
// pay, payment providers call back. Everything it decides, booking.Core
// decides; this file is JSON and HTTP.

func (s *Server) bookingRoutes(e *echo.Echo, admin *echo.Group) {
	if s.cfg.Booking == nil {
		return
	}
	admin.GET(adminEventsRoute, s.listEvents)
	ev := admin.Group(adminEventRoute, idParam("event"))
	ev.PUT("", s.putEvent)
	ev.GET("", s.getEvent)
	ev.DELETE("", s.deleteEvent)
	ev.GET(eventLogRoute, s.eventLog)
	ev.GET(eventAuditRoute, s.auditEvent)
	ev.GET("/notifications/dead", s.deadLetters)
	admin.DELETE("/holds/:hold", s.adminRelease, idParam("hold"))

	// The body first, then a slot: a client trickling its body must not
	// hold one of the slots every other visitor's request needs.
	fan := e.Group(fanAPI, bodyFirst(bodyTimeout), s.shed)
	fan.GET("/events/:event", s.publicEvent, idParam("event"))
	fan.POST("/events/:event/holds", s.placeHold, idParam("event"))
	fan.GET("/holds/:hold", s.getHold, idParam("hold"))
	fan.DELETE("/holds/:hold", s.releaseHold, idParam("hold"))
	fan.POST("/holds/:hold/checkout", s.checkout, idParam("hold"))
	fan.GET("/orders/:order", s.getOrder, idParam("order"))
	// Providers are not fans: no shedding in front of a payment.
	e.POST(paymentWebhookRoute, s.paymentWebhook, idParam("provider"))
}

// idParam refuses a path id outside the contract's pattern before any
// handler or store sees it.
func idParam(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !queue.ValidID(c.Param(name)) {
				return notFound(name + " id must match ^[a-z0-9][a-z0-9-]{0,63}$")
			}
			return next(c)
		}
	}
}

// toEvent renders an event; the organizer's view adds capacity, held,
// sold and counters to what fans see.
func toEvent(v booking.EventView, organizer bool) api.Event {
	out := api.Event{Event: v.ID, Name: v.Name, Room: v.Room, HoldSeconds: v.HoldSeconds, PerAdmissionLimit: v.PerAdmissionLimit,
		TicketTypes: []api.TicketType{}}
	for _, t := range v.TicketTypes {
		j := api.TicketType{ID: t.ID, Name: t.Name, PriceMinor: t.PriceMinor, Currency: t.Currency,
			PerOrderLimit: t.PerOrderLimit, Available: t.Available}
		if organizer {
			j.Capacity, j.Held, j.Sold = &t.Capacity, &t.Held, &t.Sold
		}
		out.TicketTypes = append(out.TicketTypes, j)
	}
	if organizer {
		capacity, inv := v.Totals()
		out.Totals = &api.Inventory{Capacity: capacity, Available: inv.Available, Held: inv.Held, Sold: inv.Sold}
		out.Stats = v.Stats
		created, updated := v.CreatedAt, v.UpdatedAt
		out.CreatedAt, out.UpdatedAt = &created, &updated
	}
	return out
}

// toBookingEvent is the event b defines under id.
func toBookingEvent(id string, b api.EventRequest) booking.Event {
	e := booking.Event{ID: id, Name: b.Name, Room: b.Room, HoldSeconds: b.HoldSeconds, PerAdmissionLimit: b.PerAdmissionLimit}
	for _, t := range b.TicketTypes {
		e.TicketTypes = append(e.TicketTypes, booking.TicketType{ID: t.ID, Name: t.Name, Capacity: t.Capacity,
			PriceMinor: t.PriceMinor, Currency: t.Currency, PerOrderLimit: t.PerOrderLimit})
	}
	return e
}

// DecodeEvent reads an event definition as PUT /admin/v1/events/{event}
// takes it, for configuration files.
func DecodeEvent(id string, doc []byte) (booking.Event, error) {
	var b api.EventRequest
	if err := decodeStrict(doc, &b); err != nil {
		return booking.Event{}, err
	}
	e := toBookingEvent(id, b).WithDefaults()
	return e, e.Validate()
}

func (s *Server) putEvent(c echo.Context) error {
	var b api.EventRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("event")
	created, err := s.cfg.Booking.PutEvent(ctx, toBookingEvent(id, b))
	if err != nil {
		return err
	}
	v, err := s.cfg.Booking.Event(ctx, id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	out := toEvent(v, true)
	out.Warnings = s.eventWarnings(ctx, v)
	return c.JSON(status, out)
}

func (s *Server) getEvent(c echo.Context) error {
	v, err := s.cfg.Booking.Event(c.Request().Context(), c.Param("event"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toEvent(v, true))
}

// deleteEventTimeout bounds a deletion's removal of the event's keys, which
// goes on when the client gives up: left half done, the next DELETE
// finishes it (booking.Core.DeleteEvent).
const deleteEventTimeout = time.Minute

// deleteEvent deletes an event that owes nothing (204). An event with paid
// orders, live holds, payments that may still land or refunds owed is
// refused with 409 and a code of its own, event_has_orders, so a script
// can tell it from other conflicts; the message says what keeps it.
func (s *Server) deleteEvent(c echo.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), deleteEventTimeout)
	defer cancel()
	err := s.cfg.Booking.DeleteEvent(ctx, c.Param("event"))
	var inUse *booking.EventInUseError
	if errors.As(err, &inUse) {
		return &apiError{Status: http.StatusConflict, Code: "event_has_orders", Message: inUse.Message()}
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listEvents(c echo.Context) error {
	vs, err := s.cfg.Booking.Events(c.Request().Context())
	if err != nil {
		return err
	}
	out := api.EventList{Events: []api.Event{}}
	for _, v := range vs {
		out.Events = append(out.Events, toEvent(v, true))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) publicEvent(c echo.Context) error {
	ctx := c.Request().Context()
	v, err := s.cfg.Booking.Event(ctx, c.Param("event"))
	if err != nil {
		return err
	}
	out := toEvent(v, false)
	// A fan admitted to the event's room learns what the per-admission
	// limit leaves them, so the ticket page offers no more. Without an
	// admission (or with another room's) the event is as everyone sees it.
	if p, err := s.admissionOf(c.Request(), v.Room); err == nil {
		n, err := s.cfg.Booking.Bought(ctx, v.ID, visitor(p), p.UserID)
		if err != nil {
			return err
		}
		limit := int64(v.PerAdmissionLimit)
		out.Limit = &api.PurchaseLimit{PerAdmission: limit, Left: max(0, limit-n)}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// eventLog pages through an event's log: ?after=<id of the last entry
// read>&limit=<1..1000>, oldest first; "next" is the after of the next page.
func (s *Server) eventLog(c echo.Context) error {
	limit, err := limitParam(c, 100)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.cfg.Booking.Event(ctx, c.Param("event")); err != nil {
		return err
	}
	after := c.QueryParam("after")
	entries, err := s.cfg.Booking.Log(ctx, c.Param("event"), after, limit)
	if err != nil {
		return err
	}
	out := api.LogPage{Entries: []api.LogEntry{}, Next: after}
	for _, e := range entries {
		out.Entries = append(out.Entries, api.LogEntry(e))
		out.Next = e.ID
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) auditEvent(c echo.Context) error {
	a, err := s.cfg.Booking.Audit(c.Request().Context(), c.Param("event"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.Audit{
		Event: a.Event, Balanced: len(a.Problems) == 0, Problems: append([]string{}, a.Problems...),
		Holds: a.Holds, Orders: a.Orders,
	})
}

// deadLetters lists the notifications given up on (?limit=1..1000), newest
// first, so an organizer can reach those fans another way.
func (s *Server) deadLetters(c echo.Context) error {
	limit, err := limitParam(c, 100)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.cfg.Booking.EventRoom(ctx, c.Param("event")); err != nil {
		return err
	}
	dead, err := s.cfg.Booking.DeadLetters(ctx, c.Param("event"), limit)
	if err != nil {
		return err
	}
	out := api.DeadLetterList{Dead: []api.DeadLetter{}}
	for _, d := range dead {
		out.Dead = append(out.Dead, api.DeadLetter{ID: d.ID, Kind: d.Kind, Order: d.Order, Hold: d.Hold, At: d.At,
			Error: d.Error, Attempts: d.Attempts, Channels: d.Channels})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) adminRelease(c echo.Context) error {
	if err := s.cfg.Booking.Release(c.Request().Context(), c.Param("hold"), ""); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// visitor is who an admission token speaks for: queue ids are per room, so
// the room is part of the name.
func visitor(p admission.Pass) string { return p.Room + "/" + p.Subject }

// bookingPass returns the caller's admission for room (bearer, else the
// room's cookie): 401 without a valid one, 403 with one for another room.
func (s *Server) bookingPass(c echo.Context, room string) (admission.Pass, error) {
	p, err := s.admissionOf(c.Request(), room)
	if err != nil {
		s.missingRoom(c.Request().Context(), room, "event")
		return admission.Pass{}, admissionError(room, err)
	}
	if !s.visitors.allow(visitor(p), s.cfg.Now()) {
		return admission.Pass{}, rateLimited("too many booking requests; slow down")
	}
	return p, nil
}

func toHold(h booking.Hold) api.Hold {
	return api.Hold{
		HoldID: h.ID, Event: h.Event, Status: h.State, ExpiresAt: h.ExpiresAt, OrderID: h.OrderID,
		Items:       []api.Item{{TicketType: h.TicketType, Quantity: h.Quantity, PriceMinor: h.PriceMinor}},
		AmountMinor: h.AmountMinor, Currency: h.Currency,
	}
}

func (s *Server) placeHold(c echo.Context) error {
	var b api.HoldRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	event := c.Param("event")
	room, err := s.cfg.Booking.EventRoom(ctx, event)
	if err != nil {
		return err
	}
	p, err := s.bookingPass(c, room)
	if err != nil {
		return err
	}
	h, replay, err := s.cfg.Booking.PlaceHold(ctx, booking.HoldRequest{
		Event: event, Visitor: visitor(p), Room: p.Room, TicketType: b.TicketType, Quantity: b.Quantity,
		AdmissionExpires: p.Expires, IdempotencyKey: c.Request().Header.Get("Idempotency-Key"),
		Email: b.Email, Phone: b.Phone,
		// The site vouched for this user id (an enqueue token): the event's
		// per-user limit spans every device and admission of theirs.
		UserID: p.UserID,
	})
	if err != nil {
		return err
	}
	if replay {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	// The first answer is the hold as it was made; a replay answers the same.
	out := toHold(h)
	out.Status, out.OrderID = "active", ""
	return c.JSON(http.StatusCreated, out)
}

// fanHold reads a hold, then checks the caller's admission for its room
// and that the hold is theirs (another's is not found, so ids cannot be
// probed).
func (s *Server) fanHold(c echo.Context) (booking.Hold, admission.Pass, error) {
	h, err := s.cfg.Booking.Hold(c.Request().Context(), c.Param("hold"), "")
	if err != nil {
		return booking.Hold{}, admission.Pass{}, err
	}
	p, err := s.bookingPass(c, h.Room)
	if err != nil {
		return booking.Hold{}, admission.Pass{}, err
	}
	if h.Visitor != visitor(p) {
		return booking.Hold{}, admission.Pass{}, booking.ErrNotFound
	}
	return h, p, nil
}

func (s *Server) getHold(c echo.Context) error {
	h, _, err := s.fanHold(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toHold(h))
}

func (s *Server) releaseHold(c echo.Context) error {
	h, p, err := s.fanHold(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Booking.Release(c.Request().Context(), h.ID, visitor(p)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) checkout(c echo.Context) error {
	var b api.CheckoutRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if b.Provider == "" {
		return invalid("provider is required, e.g. \"sandbox\"")
	}
	h, p, err := s.fanHold(c)
	if err != nil {
		return err
	}
	o, err := s.cfg.Booking.Checkout(c.Request().Context(), booking.CheckoutRequest{
		HoldID: h.ID, Visitor: visitor(p), Provider: b.Provider, Email: b.Email, Phone: b.Phone,
		ReturnURL: func(id string) string { return s.publicBase(c.Request()) + orderPagePath(id) },
	})
	if errors.Is(err, booking.ErrUnknownProvider) {
		return invalid("unknown payment provider " + strconv.Quote(b.Provider))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toOrder(o))
}

func toOrder(o booking.Order) api.Order {
	out := api.Order{
		OrderID: o.ID, Event: o.Event, HoldID: o.HoldID, Status: o.Status, Items: []api.Item{},
		AmountMinor: o.AmountMinor, Currency: o.Currency, Payment: api.Payment(o.Payment),
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Late: o.Late, Refund: o.Refund,
	}
	for _, it := range o.Items {
		out.Items = append(out.Items, api.Item(it))
	}
	if !o.PaidAt.IsZero() {
		paid := o.PaidAt
		out.PaidAt = &paid
	}
	return out
}

// getOrder needs no token: the order id is unguessable (100 random bits)
// and the answer holds no personal data, so the order page works from any
// device the fan opens the link on.
func (s *Server) getOrder(c echo.Context) error {
	o, err := s.cfg.Booking.Order(c.Request().Context(), c.Param("order"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, toOrder(o))
}

// paymentWebhook verifies and applies a provider's webhook on its raw body.
func (s *Server) paymentWebhook(c echo.Context) error {
	r := c.Request()
	body, err := readBody(c)
	if err != nil {
		return err
	}
	what, err := s.cfg.Booking.Webhook(r.Context(), c.Param("provider"), r.Header, body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.WebhookResult{Result: what})
}
