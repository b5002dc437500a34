package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/queue"
)

// adminGuard checks the admin bearer token in constant time and rate-limits
// wrong guesses per client address: after a burst of failures the address
// gets 429 without its token even being compared, so brute force gains
// nothing. A request without a bearer token may instead carry the
// dashboard's session cookie (see dashboard.go).
type adminGuard struct {
	sum      [32]byte
	now      func() time.Time
	failures *limiterSet
	key      [32]byte // the dashboard sessions' key, derived from the token
	// audit, when set, runs state-changing requests through the audit log.
	audit func(c echo.Context, actor string, next echo.HandlerFunc) error
}

// Wrong-token budget per address: 10 at once, then one every 6 s.
const (
	adminFailBurst = 10
	adminFailEvery = 6 * time.Second
)

func newAdminGuard(token string, now func() time.Time) *adminGuard {
	return &adminGuard{sum: sha256.Sum256([]byte(token)), now: now, failures: newLimiterSet(adminFailEvery, adminFailBurst), key: sessionKeyOf(token)}
}

func (g *adminGuard) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := bearer(c.Request()); !ok && hasSession(c.Request()) {
			return g.sessionAuth(c, next)
		}
		now := g.now()
		lim := g.failures.get(c.RealIP(), now)
		if lim.TokensAt(now) < 1 {
			return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many wrong admin tokens; wait", RetryAfter: int(adminFailEvery.Seconds())}
		}
		token, ok := bearer(c.Request())
		got := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(got[:], g.sum[:]) != 1 {
			lim.AllowN(now, 1)
			return unauthorized("a valid admin bearer token is required")
		}
		return g.audited(c, queue.ActorAPI, next)
	}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get(echo.HeaderAuthorization)
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// roomParam rejects room ids outside the contract's pattern before any
// handler sees them.
func (s *Server) roomParam(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !queue.ValidID(c.Param("room")) {
			return invalid("room id must match ^[a-z0-9][a-z0-9-]{0,63}$")
		}
		return next(c)
	}
}

// optTime is a timestamp field that may be absent, null (unset) or RFC 3339.
type optTime struct {
	set bool
	t   time.Time
}

func (o *optTime) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.t = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("times must be RFC 3339 strings")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return errors.New("times must be RFC 3339, e.g. 2026-12-01T10:00:00Z")
	}
	o.t = t.UTC()
	return nil
}

// roomBody is the organizer's room document in PUT and PATCH. Absent fields
// keep their value on PATCH and take the default on PUT.
type roomBody struct {
	AdmitPerMinute  *int    `json:"admit_per_minute"`
	MaxActive       *int64  `json:"max_active"`
	SessionSeconds  *int    `json:"session_seconds"`
	QueueOpensAt    optTime `json:"queue_opens_at"`
	SaleStartsAt    optTime `json:"sale_starts_at"`
	Mode            *string `json:"mode"`
	Paused          *bool   `json:"paused"`
	Passthrough     *bool   `json:"passthrough"`
	Closed          *bool   `json:"closed"`
	OnStoreFailure  *string `json:"on_store_failure"`
	Title           *string `json:"title"`
	Message         *string `json:"message"`
	PrimaryColor    *string `json:"primary_color"`
	BackgroundColor *string `json:"background_color"`
	Language        *string `json:"language"`
	// Adaptive admission (queue.Room.Adaptive).
	Adaptive             *bool  `json:"adaptive"`
	AdaptiveMaxCheckouts *int64 `json:"adaptive_max_checkouts"`
	AdaptiveP99Ms        *int   `json:"adaptive_p99_ms"`
}

// check refuses values apply cannot represent.
func (b roomBody) check() error {
	if b.OnStoreFailure != nil && *b.OnStoreFailure != "open" && *b.OnStoreFailure != "closed" {
		return invalidRoom(`on_store_failure must be "open" or "closed"`)
	}
	return nil
}

func (b roomBody) apply(r queue.Room) queue.Room {
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&r.AdmitPerMinute, b.AdmitPerMinute)
	set(&r.SessionSeconds, b.SessionSeconds)
	set(&r.AdaptiveP99Ms, b.AdaptiveP99Ms)
	if b.AdaptiveMaxCheckouts != nil {
		r.AdaptiveMaxCheckouts = *b.AdaptiveMaxCheckouts
	}
	if b.MaxActive != nil {
		r.MaxActive = *b.MaxActive
	}
	if b.QueueOpensAt.set {
		r.QueueOpensAt = b.QueueOpensAt.t
	}
	if b.SaleStartsAt.set {
		r.SaleStartsAt = b.SaleStartsAt.t
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&r.Mode, b.Mode}, {&r.Title, b.Title}, {&r.Message, b.Message}, {&r.PrimaryColor, b.PrimaryColor}, {&r.BackgroundColor, b.BackgroundColor}, {&r.Language, b.Language}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.OnStoreFailure != nil {
		r.FailOpen = *b.OnStoreFailure == "open"
	}
	for _, f := range []struct {
		dst *bool
		src *bool
	}{{&r.Paused, b.Paused}, {&r.Passthrough, b.Passthrough}, {&r.Closed, b.Closed}, {&r.Adaptive, b.Adaptive}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.Closed != nil {
		r.ClosedReason = "" // the organizer decides now, not the sold-out check
	}
	return r
}

// roomJSON is a room as organizers read it.
type roomJSON struct {
	Room                 string     `json:"room"`
	AdmitPerMinute       int        `json:"admit_per_minute"`
	MaxActive            int64      `json:"max_active"`
	SessionSeconds       int        `json:"session_seconds"`
	QueueOpensAt         *time.Time `json:"queue_opens_at"`
	SaleStartsAt         *time.Time `json:"sale_starts_at"`
	Mode                 string     `json:"mode"`
	Paused               bool       `json:"paused"`
	Passthrough          bool       `json:"passthrough"`
	Closed               bool       `json:"closed"`
	ClosedReason         string     `json:"closed_reason,omitempty"` // "sold_out" when it closed by itself
	ClosedAt             *time.Time `json:"closed_at,omitempty"`     // when it closed by itself
	OnStoreFailure       string     `json:"on_store_failure"`
	Title                string     `json:"title"`
	Message              string     `json:"message"`
	PrimaryColor         string     `json:"primary_color"`
	BackgroundColor      string     `json:"background_color"`
	Language             string     `json:"language"`
	Adaptive             bool       `json:"adaptive"`
	AdaptiveMaxCheckouts int64      `json:"adaptive_max_checkouts"`
	AdaptiveP99Ms        int        `json:"adaptive_p99_ms"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	Stats                *statsJSON `json:"stats,omitempty"`
}

type statsJSON struct {
	Waiting            int64 `json:"waiting"`
	Active             int64 `json:"active"`
	AdmittedTotal      int64 `json:"admitted_total"`
	AbandonedTotal     int64 `json:"abandoned_total"`
	AdmitRatePerMinute int64 `json:"admit_rate_per_minute"`
	// DrainETASeconds is how long the line takes to drain at the observed
	// rate (the configured one before anyone was admitted); -1 when it never
	// drains at that rate (paused, or a rate of 0).
	DrainETASeconds int64 `json:"drain_eta_seconds"`
}

func toRoomJSON(r queue.Room) roomJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return roomJSON{
		Room: r.Name, AdmitPerMinute: r.AdmitPerMinute, MaxActive: r.MaxActive, SessionSeconds: r.SessionSeconds,
		QueueOpensAt: opt(r.QueueOpensAt), SaleStartsAt: opt(r.SaleStartsAt), Mode: r.Mode,
		Paused: r.Paused, Passthrough: r.Passthrough, Closed: r.Closed, ClosedReason: r.ClosedReason, ClosedAt: opt(r.ClosedAt),
		OnStoreFailure: failureMode(r.FailOpen), Title: r.Title, Message: r.Message, PrimaryColor: r.PrimaryColor, BackgroundColor: r.BackgroundColor, Language: r.Language,
		Adaptive: r.Adaptive, AdaptiveMaxCheckouts: r.AdaptiveMaxCheckouts, AdaptiveP99Ms: r.AdaptiveP99Ms,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func failureMode(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

func toStatsJSON(r queue.Room, st queue.Stats) *statsJSON {
	out := &statsJSON{
		Waiting: st.Waiting, Active: st.Active, AdmittedTotal: st.AdmittedTotal,
		AbandonedTotal: st.AbandonedTotal, AdmitRatePerMinute: st.AdmittedLastMinute,
	}
	rate := float64(st.AdmittedLastMinute)
	if rate == 0 {
		rate = float64(r.AdmitPerMinute)
	}
	switch {
	case st.Waiting == 0:
		out.DrainETASeconds = 0
	case r.Passthrough:
		out.DrainETASeconds = 0
	case r.Paused || r.Closed || rate == 0: // not Room.Admitting: a pre-queue drains at its rate once the sale starts
		out.DrainETASeconds = -1
	default:
		out.DrainETASeconds = int64(math.Ceil(float64(st.Waiting) * 60 / rate))
	}
	return out
}

func (s *Server) putRoom(c echo.Context) error {
	var b roomBody
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	r := b.apply(queue.Room{Name: c.Param("room")}).WithDefaults()
	ctx := c.Request().Context()
	stored, created, err := s.ctl.PutRoom(ctx, r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, toRoomJSON(stored))
}

func (s *Server) patchRoom(c echo.Context) error {
	var b roomBody
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	next, err := s.ctl.UpdateRoom(ctx, c.Param("room"), b.apply)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRoomJSON(next))
}

func (s *Server) getRoom(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := s.cfg.Store.GetRoom(ctx, c.Param("room"))
	if err != nil {
		return err
	}
	st, err := s.ctl.Stats(ctx, r.Name)
	if err != nil {
		return err
	}
	out := toRoomJSON(r)
	out.Stats = toStatsJSON(r, st)
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listRooms(c echo.Context) error {
	ctx := c.Request().Context()
	rooms, err := s.cfg.Store.ListRooms(ctx)
	if err != nil {
		return err
	}
	out := make([]roomJSON, 0, len(rooms))
	for _, r := range rooms {
		st, err := s.ctl.Stats(ctx, r.Name)
		if errors.Is(err, queue.ErrRoomNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		j := toRoomJSON(r)
		j.Stats = toStatsJSON(r, st)
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"rooms": out})
}

func (s *Server) deleteRoom(c echo.Context) error {
	name := c.Param("room")
	if err := s.ctl.DeleteRoom(c.Request().Context(), name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) rotateKey(c echo.Context) error {
	kid, err := s.keys.Rotate(c.Request().Context())
	if err != nil {
		return err
	}
	s.log.Info("signing key rotated", "kid", kid)
	return c.JSON(http.StatusOK, map[string]string{"kid": kid})
}

// DecodeRoom parses a room document (the body of PUT
// /admin/v1/rooms/{room}) exactly as the admin API does, for configuration
// files that declare rooms.
func DecodeRoom(name string, doc []byte) (queue.Room, error) {
	if !queue.ValidID(name) {
		return queue.Room{}, invalidRoom(fmt.Sprintf("room id %q must match ^[a-z0-9][a-z0-9-]{0,63}$", name))
	}
	var b roomBody
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return queue.Room{}, invalidRoom(err.Error())
	}
	if err := b.check(); err != nil {
		return queue.Room{}, err
	}
	r := b.apply(queue.Room{Name: name}).WithDefaults()
	return r, r.Validate()
}
