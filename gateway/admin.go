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

	"github.com/crowdgate/crowdgate/api"
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

// checkRoom refuses values applyRoom cannot represent.
func checkRoom(b api.RoomRequest) error {
	if err := checkBypass(b.Bypass); err != nil {
		return err
	}
	if b.EmbedOrigins != nil {
		for _, o := range *b.EmbedOrigins {
			if n, ok := queue.ParseEmbedOrigin(o); !ok || n != o {
				return invalidRoom(fmt.Sprintf("embed_origins: %q is not an origin: scheme://host[:port], lower-case, https (http only to a loopback host), nothing after the host", o))
			}
		}
	}
	if b.OnStoreFailure != nil && *b.OnStoreFailure != "open" && *b.OnStoreFailure != "closed" {
		return invalidRoom(`on_store_failure must be "open" or "closed"`)
	}
	if e := b.EnqueueToken; e != nil && e.HS256PreviousSecretSeconds != nil {
		if n := *e.HS256PreviousSecretSeconds; n < 0 || n > int(queue.MaxEnqueueSecretOverlap/time.Second) {
			return invalidRoom(fmt.Sprintf("enqueue_token.hs256_previous_secret_seconds must be between 0 and %d", int(queue.MaxEnqueueSecretOverlap/time.Second)))
		}
	}
	return nil
}

// rotateSecret returns next, the room cur becomes by b at now, with the
// previous enqueue secret the change leaves: a replaced HS256 secret keeps
// verifying for hs256_previous_secret_seconds (default
// queue.DefaultEnqueueSecretOverlap), and that field alone resets the time
// left of the last rotation's overlap.
func rotateSecret(b api.RoomRequest, cur, next queue.Room, now time.Time) queue.Room {
	overlap := queue.DefaultEnqueueSecretOverlap
	var given *int
	if b.EnqueueToken != nil {
		given = b.EnqueueToken.HS256PreviousSecretSeconds
	}
	if given != nil {
		overlap = time.Duration(*given) * time.Second
	}
	next = queue.RotateEnqueueSecret(cur, next, overlap, now)
	if given != nil && next.EnqueueSecret == cur.EnqueueSecret {
		next = queue.SetEnqueueSecretOverlap(next, overlap, now)
	}
	return next
}

// applyRoom returns r with the fields b gives.
func applyRoom(b api.RoomRequest, r queue.Room) queue.Room {
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&r.AdmitPerMinute, b.AdmitPerMinute)
	set(&r.SessionSeconds, b.SessionSeconds)
	set(&r.AdaptiveP99Ms, b.AdaptiveP99Ms)
	set(&r.AdaptiveOriginP99Ms, b.AdaptiveOriginP99Ms)
	set(&r.AdaptiveOriginErrorPercent, b.AdaptiveOriginErrorPercent)
	set(&r.ChallengeBits, b.ChallengeBits)
	set(&r.AddressJoinsPerMinute, b.AddressJoinsPerMinute)
	set(&r.AddressLivePlaces, b.AddressLivePlaces)
	set(&r.SessionMaxSeconds, b.SessionMaxSeconds)
	if t := b.Trigger; t != nil {
		if t.ActiveUsers != nil {
			r.TriggerActiveUsers = *t.ActiveUsers
		}
		set(&r.TriggerNewPerMinute, t.NewPerMinute)
		set(&r.TriggerLowPercent, t.LowWatermarkPercent)
	}
	if b.AdaptiveMaxCheckouts != nil {
		r.AdaptiveMaxCheckouts = *b.AdaptiveMaxCheckouts
	}
	if b.MaxActive != nil {
		r.MaxActive = *b.MaxActive
	}
	if b.QueueOpensAt.Set {
		r.QueueOpensAt = b.QueueOpensAt.Time
	}
	if b.SaleStartsAt.Set {
		r.SaleStartsAt = b.SaleStartsAt.Time
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&r.Mode, b.Mode}, {&r.Title, b.Title}, {&r.Message, b.Message}, {&r.PrimaryColor, b.PrimaryColor}, {&r.BackgroundColor, b.BackgroundColor}, {&r.Language, b.Language}, {&r.Challenge, b.Challenge},
		{&r.Captcha, b.Captcha}, {&r.CaptchaSiteKey, b.CaptchaSiteKey}, {&r.CaptchaAction, b.CaptchaAction}, {&r.CaptchaFallback, b.CaptchaFallback},
		{&r.Destination, b.Destination}, {&r.LogoURL, b.LogoURL}, {&r.LogoAlt, b.LogoAlt}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.Bypass != nil {
		r.Bypass = applyBypass(*b.Bypass, r.Bypass)
	}
	if b.EmbedOrigins != nil {
		r.SetEmbedOrigins(*b.EmbedOrigins)
	}
	if b.OnStoreFailure != nil {
		r.FailOpen = *b.OnStoreFailure == "open"
	}
	if e := b.EnqueueToken; e != nil {
		if e.Required != nil {
			r.EnqueueTokenRequired = *e.Required
		}
		if e.HS256Secret != nil {
			r.EnqueueSecret = *e.HS256Secret
		} else if e.HS256SecretSet != nil && !*e.HS256SecretSet {
			r.EnqueueSecret = ""
		}
		if e.JWKSURL != nil {
			r.EnqueueJWKSURL = *e.JWKSURL
		}
	}
	for _, f := range []struct {
		dst *bool
		src *bool
	}{{&r.Paused, b.Paused}, {&r.Passthrough, b.Passthrough}, {&r.Closed, b.Closed}, {&r.Adaptive, b.Adaptive}, {&r.AccessCodeRequired, b.AccessCodeRequired}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.Closed != nil {
		r.ClosedReason = "" // the organizer decides now, not the sold-out check
	}
	return r
}

// toRoom is a room as organizers read it.
func toRoom(r queue.Room) api.Room {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return api.Room{
		Room: r.Name, AdmitPerMinute: r.AdmitPerMinute, MaxActive: r.MaxActive, SessionSeconds: r.SessionSeconds,
		EnqueueToken: toEnqueueToken(r),
		QueueOpensAt: opt(r.QueueOpensAt), SaleStartsAt: opt(r.SaleStartsAt), Mode: r.Mode,
		Paused: r.Paused, Passthrough: r.Passthrough, Closed: r.Closed, ClosedReason: r.ClosedReason, ClosedAt: opt(r.ClosedAt),
		OnStoreFailure: failureMode(r.FailOpen), Title: r.Title, Message: r.Message, PrimaryColor: r.PrimaryColor, BackgroundColor: r.BackgroundColor, Language: r.Language,
		Adaptive: r.Adaptive, AdaptiveMaxCheckouts: r.AdaptiveMaxCheckouts, AdaptiveP99Ms: r.AdaptiveP99Ms,
		AdaptiveOriginP99Ms: r.AdaptiveOriginP99Ms, AdaptiveOriginErrorPercent: r.AdaptiveOriginErrorPercent,
		Challenge: r.Challenge, ChallengeBits: r.ChallengeBits, AddressJoinsPerMinute: r.AddressJoinsPerMinute, AddressLivePlaces: r.AddressLivePlaces,
		Captcha: r.Captcha, CaptchaSiteKey: r.CaptchaSiteKey, CaptchaAction: r.CaptchaAction, CaptchaFallback: r.CaptchaFallback,
		AccessCodeRequired: r.AccessCodeRequired,
		Trigger:            api.Trigger{ActiveUsers: r.TriggerActiveUsers, NewPerMinute: r.TriggerNewPerMinute, LowWatermarkPercent: r.TriggerLowPercent},
		SessionMaxSeconds:  r.SessionMaxSeconds,
		Destination:        r.Destination,
		Bypass:             toBypass(r.Bypass),
		LogoURL:            r.LogoURL, LogoAlt: r.LogoAlt, EmbedOrigins: r.EmbedOrigins(), PageTemplateSHA256: r.PageTemplate,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func failureMode(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

func toStats(r queue.Room, st queue.Stats) *api.Stats {
	out := &api.Stats{
		Waiting: st.Waiting, Active: st.Active, AdmittedTotal: st.AdmittedTotal,
		AbandonedTotal: st.AbandonedTotal, AdmitRatePerMinute: st.AdmittedLastMinute,
	}
	if r.Triggered() {
		out.TriggerState = st.Trigger.State
		if !st.Trigger.Since.IsZero() {
			out.TriggerStateSince = &st.Trigger.Since
		}
	}
	out.Bypassed = toBypassCounts(r.Bypass, st.Bypassed)
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
	var b api.RoomRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if err := checkRoom(b); err != nil {
		return err
	}
	r := applyRoom(b, queue.Room{Name: c.Param("room")}).WithDefaults()
	ctx := c.Request().Context()
	if err := s.createOnly(c, r.Name); err != nil {
		return err
	}
	if r.EnqueueSecret != "" || keepsSecret(b) {
		cur, err := s.cfg.Store.GetRoom(ctx, r.Name)
		if err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
			return err
		}
		if keepsSecret(b) {
			// The document was read back from GET, which never shows
			// the secret: keep the stored one.
			if r.EnqueueSecret = cur.EnqueueSecret; r.EnqueueSecret == "" {
				return invalidRoom("enqueue_token.hs256_secret_set is true but no secret is stored: give hs256_secret")
			}
		}
		r = rotateSecret(b, cur, r, s.cfg.Now())
	}
	prev, _ := s.cfg.Store.GetRoom(ctx, r.Name) // for the warnings only; none: a new room
	if err := s.keepBypassSecret(ctx, b, &r); err != nil {
		return err
	}
	stored, created, err := s.ctl.PutRoom(ctx, r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	out := toRoom(stored)
	out.Warnings = append(ScheduleWarnings(prev, stored, s.cfg.Now()), s.originWarnings(stored)...)
	return c.JSON(status, out)
}

// createOnly honours "If-None-Match: *" on a PUT (RFC 9110, 13.1.2): create
// the room, never replace one, so `crowdgate room create` cannot overwrite
// a room by mistake. An existing room is 412 precondition_failed. Rooms have
// no entity tags, so any other value is refused rather than ignored. The
// check is a read just before the write: two creates at the same instant
// can both pass it, and the second then replaces the first, answered 200
// (replaced), not 201, so the client can tell.
func (s *Server) createOnly(c echo.Context, room string) error {
	h := c.Request().Header.Values("If-None-Match")
	if len(h) == 0 {
		return nil
	}
	if len(h) > 1 || strings.TrimSpace(h[0]) != "*" {
		return invalid(`If-None-Match: rooms have no entity tags; only "*" (create, never replace) is understood`)
	}
	_, err := s.cfg.Store.GetRoom(c.Request().Context(), room)
	switch {
	case err == nil:
		return &apiError{Status: http.StatusPreconditionFailed, Code: "precondition_failed",
			Message: fmt.Sprintf("room %s already exists; a PUT without If-None-Match replaces it", room)}
	case errors.Is(err, queue.ErrRoomNotFound):
		return nil
	}
	return err
}

func (s *Server) patchRoom(c echo.Context) error {
	var b api.RoomRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if err := checkRoom(b); err != nil {
		return err
	}
	ctx := c.Request().Context()
	prev, _ := s.cfg.Store.GetRoom(ctx, c.Param("room")) // for the warnings only
	next, err := s.ctl.UpdateRoom(ctx, c.Param("room"), func(r queue.Room) queue.Room { return rotateSecret(b, r, applyRoom(b, r), s.cfg.Now()) })
	if err != nil {
		return err
	}
	out := toRoom(next)
	out.Warnings = append(ScheduleWarnings(prev, next, s.cfg.Now()), s.originWarnings(next)...)
	return c.JSON(http.StatusOK, out)
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
	out := toRoom(r)
	out.Stats = toStats(r, st)
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listRooms(c echo.Context) error {
	ctx := c.Request().Context()
	rooms, err := s.cfg.Store.ListRooms(ctx)
	if err != nil {
		return err
	}
	out := api.RoomList{Rooms: make([]api.Room, 0, len(rooms))}
	for _, r := range rooms {
		st, err := s.ctl.Stats(ctx, r.Name)
		if errors.Is(err, queue.ErrRoomNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		j := toRoom(r)
		j.Stats = toStats(r, st)
		out.Rooms = append(out.Rooms, j)
	}
	return c.JSON(http.StatusOK, out)
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
	return c.JSON(http.StatusOK, api.KeyRotation{Kid: kid})
}

// DecodeRoom parses a room document (the body of PUT
// /admin/v1/rooms/{room}) exactly as the admin API does, for configuration
// files that declare rooms.
func DecodeRoom(name string, doc []byte) (queue.Room, error) {
	if !queue.ValidID(name) {
		return queue.Room{}, invalidRoom(fmt.Sprintf("room id %q must match ^[a-z0-9][a-z0-9-]{0,63}$", name))
	}
	var b api.RoomRequest
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return queue.Room{}, invalidRoom(err.Error())
	}
	if err := checkRoom(b); err != nil {
		return queue.Room{}, err
	}
	if keepsBypassSecret(b) {
		return queue.Room{}, invalidRoom("bypass.header: a configuration file gives secret itself, not secret_set")
	}
	if keepsSecret(b) {
		return queue.Room{}, invalidRoom("enqueue_token: a configuration file gives hs256_secret itself, not hs256_secret_set")
	}
	r := applyRoom(b, queue.Room{Name: name}).WithDefaults()
	return r, r.Validate()
}

// keepsSecret reports whether b asks to keep the room's stored HS256
// secret (hs256_secret_set true, no hs256_secret): a document read back
// from GET, which shows only that a secret is set.
func keepsSecret(b api.RoomRequest) bool {
	e := b.EnqueueToken
	return e != nil && e.HS256Secret == nil && e.HS256SecretSet != nil && *e.HS256SecretSet
}

func toEnqueueToken(r queue.Room) api.EnqueueToken {
	out := api.EnqueueToken{Required: r.EnqueueTokenRequired, HS256SecretSet: r.EnqueueSecret != "", JWKSURL: r.EnqueueJWKSURL}
	if r.EnqueuePreviousSecret != "" {
		until := r.EnqueuePreviousSecretUntil
		out.HS256PreviousSecretUntil = &until
	}
	return out
}
