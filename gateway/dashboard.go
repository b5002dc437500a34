package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
)

// The organizers' control room: GET /admin is a login form, then the
// dashboard page, whose script reads GET /admin/v1/dashboard every second
// and changes rooms with the admin API's PATCH.
//
// The browser never holds the admin token. Logging in trades it for a
// session cookie that is stateless and signed: its value is an expiry and
// a random nonce, MACed with a key derived from the admin token, so every
// instance accepts it without shared state, and rotating the admin token
// logs everyone out. Writes made with the cookie must carry the session's
// CSRF token (HMAC of the nonce, rendered into the page) in X-CSRF-Token;
// the login form has its own CSRF token, bound to a pre-session cookie.
// Every state-changing admin request, by cookie or bearer token, leaves an
// entry in the audit log (queue.AppendAudit).

const (
	sessionCookie = "cg_admin"       // the dashboard session
	loginCookie   = "cg_admin_login" // the login form's pre-session
	sessionTTL    = 8 * time.Hour
	loginTTL      = time.Hour
	csrfHeader    = "X-CSRF-Token"
	adminPath     = "/admin" // the cookies' Path, and the page

	// adminAssetPrefix is where the dashboard's script and stylesheet are
	// served; "_assets" is no admin route.
	adminAssetPrefix = "/admin/_assets/"
	// maxLoginForm bounds the login and logout forms.
	maxLoginForm = 4 << 10
	// auditSummaryMax bounds an audit entry's copy of the request body.
	auditSummaryMax = 512
	// dashboardAudit is how many audit entries the dashboard shows.
	dashboardAudit = 50
	// dashboardDecisions is how many adaptive-rate changes a room shows.
	dashboardDecisions = 10
)

// The dashboard's files are embedded with the fans' pages (pageFiles), in
// their own folder and template names, and are budgeted separately
// (TestDashboardPageSize): organizers are not on a phone in a crowd.
var (
	adminTemplates = template.Must(template.ParseFS(pageFiles, "pages/admin/*.tmpl"))
	adminAssets    = mustLoadAssets(adminAssetPrefix, "pages/admin/admin.css", "pages/admin/admin.js")
)

// dashboardRoutes registers the login, the page, its assets and the
// dashboard's API, and puts the audit log behind the admin group.
func (s *Server) dashboardRoutes(e *echo.Echo, admin *echo.Group) {
	get := []string{http.MethodGet, http.MethodHead}
	e.Match(get, adminPath, s.dashboardPage)
	e.Match(get, adminPath+"/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, adminPath) })
	e.POST(adminPath+"/login", s.login)
	e.POST(adminPath+"/logout", s.logout)
	e.Match(get, adminAssetPrefix+":file", adminAssets.serve(adminAssetPrefix))
	admin.GET("/dashboard", s.dashboard)
	admin.GET("/audit", s.auditLog)
	s.admin.audit = s.audited
}

// sessionKeyOf derives the session key from the admin token: the cookie
// and CSRF MACs never use the token itself, and a new token is a new key.
func sessionKeyOf(adminToken string) [32]byte {
	m := hmac.New(sha256.New, []byte(adminToken))
	m.Write([]byte("crowdgate-session-v1"))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

// mac is HMAC-SHA256 under the session key of a purpose and its data;
// the purpose keeps the cookie's, the CSRF tokens' and the login form's
// MACs apart.
func (g *adminGuard) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, g.key[:])
	m.Write([]byte(purpose))
	m.Write(data)
	return m.Sum(nil)
}

// A session cookie is base64url(expiry as 8 bytes big-endian ‖ 16-byte
// nonce) "." base64url(MAC).
const sessionPayload = 8 + 16

func (g *adminGuard) newSession(now time.Time) (cookie string, nonce []byte) {
	p := make([]byte, sessionPayload)
	binary.BigEndian.PutUint64(p, uint64(now.Add(sessionTTL).Unix()))
	_, _ = rand.Read(p[8:]) // crypto/rand.Read does not return errors (Go 1.24+)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(p) + "." + enc.EncodeToString(g.mac("session:", p)), p[8:]
}

// session verifies a session cookie's value and returns its nonce.
func (g *adminGuard) session(value string, now time.Time) (nonce []byte, ok bool) {
	p64, m64, found := strings.Cut(value, ".")
	if !found || len(p64) != 32 || len(m64) != 43 {
		return nil, false
	}
	enc := base64.RawURLEncoding.Strict()
	p, err1 := enc.DecodeString(p64)
	m, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || len(p) != sessionPayload || !hmac.Equal(m, g.mac("session:", p)) {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(p))
	if now.Unix() >= exp || exp > now.Add(sessionTTL+time.Minute).Unix() {
		return nil, false
	}
	return p[8:], true
}

// csrfToken is the CSRF token of the session with nonce.
func (g *adminGuard) csrfToken(nonce []byte) string {
	return base64.RawURLEncoding.EncodeToString(g.mac("csrf:", nonce))
}

// loginToken is the login form's CSRF token for a pre-session cookie.
func (g *adminGuard) loginToken(pre string) string {
	return base64.RawURLEncoding.EncodeToString(g.mac("login:", []byte(pre)))
}

// tokenOK compares an admin token with the configured one in constant time.
func (g *adminGuard) tokenOK(token string) bool {
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], g.sum[:]) == 1
}

// hasSession reports whether a request carries a session cookie at all.
func hasSession(r *http.Request) bool {
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// cookieSession returns the nonce of the request's valid session.
func (g *adminGuard) cookieSession(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	return g.session(c.Value, g.now())
}

// sessionAuth authenticates an admin API request by its session cookie:
// 401 without a valid one, 403 for a write without the session's CSRF
// token. It is adminGuard.middleware's path for browsers; a wrong cookie is
// no guess at the admin token, so it does not count against the address.
func (g *adminGuard) sessionAuth(c echo.Context, next echo.HandlerFunc) error {
	r := c.Request()
	nonce, ok := g.cookieSession(r)
	if !ok {
		clearAdminCookie(c, sessionCookie)
		return unauthorized("the dashboard session expired or is not valid; log in again at /admin")
	}
	if !safeMethod(r.Method) {
		want := g.csrfToken(nonce)
		if got := r.Header.Get(csrfHeader); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return forbidden("a change made with the dashboard session needs the page's " + csrfHeader + " header")
		}
	}
	return g.audited(c, queue.ActorDashboard, next)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// audited runs next, through the audit log when the request changes state.
func (g *adminGuard) audited(c echo.Context, actor string, next echo.HandlerFunc) error {
	if g.audit == nil || safeMethod(c.Request().Method) {
		return next(c)
	}
	return g.audit(c, actor, next)
}

// audited runs an authenticated state-changing admin request and then
// appends its audit entry, with the final status: the error is rendered
// here rather than by observe, so the entry sees it. The entry is written
// even when the client has gone, and its loss is logged, not the request's
// failure.
func (s *Server) audited(c echo.Context, actor string, next echo.HandlerFunc) error {
	r := c.Request()
	body, err := peekBody(r)
	if err != nil {
		return err
	}
	if err := next(c); err != nil {
		c.Error(err)
	}
	e := queue.AuditEntry{
		At: s.cfg.Now(), Actor: actor, IP: c.RealIP(), Method: r.Method, Path: r.URL.Path,
		Summary: s.auditSummary(body), Status: c.Response().Status,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.AppendAudit(ctx, e); err != nil {
		s.log.Warn("audit entry lost", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "method", e.Method, "path", e.Path, "err", err)
	}
	return nil
}

// peekBody reads up to maxBody+1 bytes of the request body and puts them
// back in front of the rest, so the handler reads (and limits) the body as
// if untouched.
func peekBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, invalid("the body could not be read")
	}
	r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	return b, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// secretFields are body fields an audit entry never copies.
var secretFields = []string{"token", "secret", "password", "authorization", "signature", "key", "codes"}

// auditSummary is an audit entry's copy of a request body: compact JSON,
// secret-looking fields and the admin token blanked, at most
// auditSummaryMax bytes.
func (s *Server) auditSummary(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if len(body) > maxBody {
		return "(a body over 64 KiB)"
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "(" + strconv.Itoa(len(body)) + " bytes, not JSON)"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(redact(v)) // a decoded value always encodes
	out := strings.TrimSpace(buf.String())
	tok := s.cfg.AdminToken
	quoted, _ := json.Marshal(tok)
	out = strings.ReplaceAll(out, tok, "[redacted]")
	out = strings.ReplaceAll(out, strings.Trim(string(quoted), `"`), "[redacted]")
	if len(out) > auditSummaryMax {
		cut := auditSummaryMax - len("…")
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			lk := strings.ToLower(k)
			secret := false
			for _, f := range secretFields {
				secret = secret || strings.Contains(lk, f)
			}
			if secret {
				x[k] = "[redacted]"
			} else {
				x[k] = redact(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = redact(e)
		}
	}
	return v
}

// adminData is what the dashboard templates render.
type adminData struct {
	Title     string
	CSS, JS   string
	CSRF      string // the session's, for the dashboard's writes and logout
	LoginCSRF string // the login form's
	Message   string // on the login page
	Error     bool
	Languages []langLink // the fans' pages' languages, for a room's setting
}

// dashboardPage is the dashboard for a valid session, else the login form.
func (s *Server) dashboardPage(c echo.Context) error {
	if nonce, ok := s.admin.cookieSession(c.Request()); ok {
		return s.renderAdmin(c, http.StatusOK, "admin-dash", adminData{Title: "Control room", CSRF: s.admin.csrfToken(nonce), Languages: languageNames()})
	}
	msg := ""
	if hasSession(c.Request()) {
		clearAdminCookie(c, sessionCookie)
		msg = "Your session ended. Log in again."
	}
	return s.loginPage(c, http.StatusOK, msg, false)
}

// loginPage renders the login form with a CSRF token bound to the
// pre-session cookie, which it sets when the browser has no valid one (so
// two tabs' forms stay valid together).
func (s *Server) loginPage(c echo.Context, status int, msg string, isErr bool) error {
	pre := ""
	if ck, err := c.Request().Cookie(loginCookie); err == nil && validPre(ck.Value) {
		pre = ck.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		pre = base64.RawURLEncoding.EncodeToString(b)
		s.setAdminCookie(c, loginCookie, pre, loginTTL)
	}
	return s.renderAdmin(c, status, "admin-login", adminData{Title: "Log in", LoginCSRF: s.admin.loginToken(pre), Message: msg, Error: isErr})
}

func validPre(v string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == 16
}

// loginFailed answers a refused login: browsers get the login form again
// with why, other clients the contract's error.
func (s *Server) loginFailed(c echo.Context, ae *apiError, page string) error {
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if !strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/html") {
		return ae
	}
	return s.loginPage(c, ae.Status, page, true)
}

// login trades the admin token for a session. Wrong tokens spend the same
// per-address budget as wrong bearer tokens, and once it is spent even the
// right token is not looked at.
func (s *Server) login(c echo.Context) error {
	r := c.Request()
	now := s.cfg.Now()
	lim := s.admin.failures.get(c.RealIP(), now)
	if lim.TokensAt(now) < 1 {
		return s.loginFailed(c, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many wrong admin tokens; wait", RetryAfter: int(adminFailEvery.Seconds())},
			"Too many wrong tokens from your address. Wait a minute, then try again.")
	}
	forged := &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "log in from this site's own login form"}
	const formExpired = "The login form had expired. Enter the token again."
	if err := sameSiteForms.Check(r); err != nil {
		return s.loginFailed(c, forged, formExpired)
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		return s.loginFailed(c, &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "the body must be the login form"}, "That was not the login form.")
	}
	pre, err := r.Cookie(loginCookie)
	if err != nil || !validPre(pre.Value) ||
		subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.admin.loginToken(pre.Value))) != 1 {
		return s.loginFailed(c, forged, formExpired)
	}
	if !s.admin.tokenOK(r.PostForm.Get("token")) {
		lim.AllowN(now, 1)
		return s.loginFailed(c, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "wrong admin token"}, "That is not the admin token.")
	}
	value, _ := s.admin.newSession(now)
	s.setAdminCookie(c, sessionCookie, value, sessionTTL)
	clearAdminCookie(c, loginCookie)
	s.auditLogin(c, "/admin/login", "logged in")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, adminPath)
}

// logout ends the browser's session (the cookie; a stateless session
// cannot be revoked elsewhere, only expire or die with the admin token).
// With a valid session it needs the session's CSRF token, as form field
// csrf or the header.
func (s *Server) logout(c echo.Context) error {
	r := c.Request()
	if err := sameSiteForms.Check(r); err != nil {
		return forbidden("log out from this site's own page")
	}
	if nonce, ok := s.admin.cookieSession(r); ok {
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLoginForm)
		_ = r.ParseForm() // a bad form is a missing token
		got := r.Header.Get(csrfHeader)
		if got == "" {
			got = r.PostForm.Get("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.admin.csrfToken(nonce))) != 1 {
			return forbidden("logging out needs the page's CSRF token")
		}
		s.auditLogin(c, "/admin/logout", "logged out")
	}
	clearAdminCookie(c, sessionCookie)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, adminPath)
}

// auditLogin records a session beginning or ending. Failed logins are
// not recorded: the per-address limit bounds them, and an attacker must
// not be able to flush the log with them.
func (s *Server) auditLogin(c echo.Context, path, what string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 2*time.Second)
	defer cancel()
	err := s.cfg.Store.AppendAudit(ctx, queue.AuditEntry{
		At: s.cfg.Now(), Actor: queue.ActorDashboard, IP: c.RealIP(), Method: http.MethodPost, Path: path,
		Summary: what, Status: http.StatusSeeOther,
	})
	if err != nil {
		s.log.Warn("audit entry lost", "path", path, "err", err)
	}
}

// setAdminCookie sets an HttpOnly, SameSite=Strict cookie for /admin only.
func (s *Server) setAdminCookie(c echo.Context, name, value string, age time.Duration) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: adminPath, MaxAge: int(age.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(c.Request()),
	})
}

func clearAdminCookie(c echo.Context, name string) {
	c.SetCookie(&http.Cookie{Name: name, Path: adminPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// adminCSP is the pages' policy: this site's script, stylesheet and API
// only; nothing inline at all (the chart is drawn with DOM calls).
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) renderAdmin(c echo.Context, status int, name string, d adminData) error {
	d.CSS, d.JS = adminAssets["admin.css"].url, adminAssets["admin.js"].url
	var buf bytes.Buffer
	if err := adminTemplates.ExecuteTemplate(&buf, name, d); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", adminCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// dashboardJSON is GET /admin/v1/dashboard.
type dashboardJSON struct {
	Now   time.Time          `json:"now"`
	Rooms []dashRoomJSON     `json:"rooms"`
	Audit []queue.AuditEntry `json:"audit,omitempty"`
	// Problems are routes and events that name a room that does not
	// exist, and rooms created after their schedule (problems.go).
	Problems []problem `json:"problems"`
}

// dashRoomJSON is a room's configuration and live figures, its events,
// and its recent history.
type dashRoomJSON struct {
	api.Room
	Stats   *dashStatsJSON        `json:"stats"` // hides api.Room's
	Events  []dashEventJSON       `json:"events"`
	History []queue.HistorySample `json:"history,omitempty"`
	// AdaptiveState is where adaptive admission stands, in rooms that use
	// it (api.Room's adaptive is the switch).
	AdaptiveState *dashAdaptiveJSON `json:"adaptive_state,omitempty"`
	// Pressure is what the room's gate refused and who takes the most
	// places; left out with brief=1, like the history.
	Pressure *dashPressureJSON `json:"pressure,omitempty"`
}

// dashPressureJSON is the pressure on a room's gate (queue/gate.go).
type dashPressureJSON struct {
	// JoinsRefused counts refused joins by reason, deployment-wide.
	JoinsRefused map[string]int64 `json:"joins_refused"`
	// BusiestPrefixes are the dashboardPrefixes IPv4 /24s and IPv6 /48s
	// with the most new places over the last minute.
	BusiestPrefixes []dashPrefixJSON `json:"busiest_prefixes"`
	// AccessCodes counts the room's access codes, when it has or had any.
	AccessCodes *api.Codes `json:"access_codes,omitempty"`
}

type dashPrefixJSON struct {
	Prefix    string `json:"prefix"`
	PerMinute int64  `json:"per_minute"`
}

// dashboardPrefixes is how many busiest prefixes a room card lists.
const dashboardPrefixes = 5

// dashAdaptiveJSON is an adaptive room's controller: its rate, its last
// reading and its latest changes.
type dashAdaptiveJSON struct {
	// RatePerMinute is the controller's rate; the room admits at the lower
	// of it and admit_per_minute.
	RatePerMinute float64                  `json:"rate_per_minute"`
	StepAt        *time.Time               `json:"step_at"` // the last step; null before the first
	Reason        string                   `json:"reason"`  // what the last step read, e.g. "p99 412 ms > 250 ms"
	Decisions     []queue.AdaptiveDecision `json:"decisions"`
}

func toDashAdaptive(st queue.AdaptiveState, log []queue.AdaptiveDecision) *dashAdaptiveJSON {
	out := &dashAdaptiveJSON{RatePerMinute: st.Rate, Reason: st.Reason, Decisions: append([]queue.AdaptiveDecision{}, log...)}
	if !st.At.IsZero() {
		out.StepAt = &st.At
	}
	return out
}

type dashStatsJSON struct {
	api.Stats
	// TargetRatePerMinute is the rate the room admits at now: its
	// admit_per_minute (with adaptive admission, the lower of it and the
	// adaptive rate), 0 while paused or closed.
	TargetRatePerMinute int64 `json:"target_rate_per_minute"`
	// AsOf is when the figures were read from the store.
	AsOf time.Time `json:"as_of"`
}

// dashEventJSON is an event's sale so far.
type dashEventJSON struct {
	Event       string           `json:"event"`
	Capacity    int64            `json:"capacity"`
	Available   int64            `json:"available"`
	Held        int64            `json:"held"`
	Sold        int64            `json:"sold"`
	Checkouts   int64            `json:"checkouts"`
	Paid        int64            `json:"paid"`
	Conversion  *float64         `json:"conversion"` // paid / checkouts; null before any checkout
	Failures    int64            `json:"payment_failures"`
	SoldOut     int64            `json:"sold_out_refusals"`
	TicketTypes []api.TicketType `json:"ticket_types"`
}

// targetRate is what the room is set to admit per minute at this moment,
// given its adaptive state (the zero state: none). Not Room.Admitting on
// purpose: in the pre-queue it shows the rate the sale will open at.
func targetRate(r queue.Room, a queue.AdaptiveState) int64 {
	if r.Paused || r.Closed {
		return 0
	}
	if r.Adaptive && !a.At.IsZero() {
		return int64(math.Round(math.Min(float64(r.AdmitPerMinute), a.Rate)))
	}
	return int64(r.AdmitPerMinute)
}

// dashboard is the dashboard's one read: every room's configuration and
// figures read from the store now (as_of), its events, its last 30 minutes
// and the latest audit entries. ?brief=1 leaves out the history and the
// audit log, which change every 10 s at most, for the page's 1-s refresh.
func (s *Server) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	brief := c.QueryParam("brief") == "1"
	now := s.cfg.Now()
	store := s.cfg.Store
	rooms, err := store.ListRooms(ctx)
	if err != nil {
		return err
	}
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].Name < rooms[j].Name })
	events := map[string][]dashEventJSON{}
	var vs []booking.EventView
	if s.cfg.Booking != nil {
		if vs, err = s.cfg.Booking.Events(ctx); err != nil {
			return err
		}
		for _, v := range vs {
			capacity, inv := v.Totals()
			e := dashEventJSON{
				Event: v.ID, Capacity: capacity, Available: inv.Available, Held: inv.Held, Sold: inv.Sold,
				Checkouts: v.Stats["checkouts"], Paid: v.Stats["paid"], Failures: v.Stats["failed"], SoldOut: v.Stats["sold_out"],
				TicketTypes: toEvent(v, true).TicketTypes,
			}
			if e.Checkouts > 0 {
				conv := float64(e.Paid) / float64(e.Checkouts)
				e.Conversion = &conv
			}
			events[v.Room] = append(events[v.Room], e)
		}
	}
	out := dashboardJSON{Now: now.UTC(), Rooms: []dashRoomJSON{}, Problems: s.problems(rooms, vs)}
	for _, r := range rooms {
		asOf := s.cfg.Now()
		st, err := s.ctl.Stats(ctx, r.Name)
		if errors.Is(err, queue.ErrRoomNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		var adapt queue.AdaptiveState
		var decisions []queue.AdaptiveDecision
		if r.Adaptive {
			if adapt, decisions, err = store.Adaptive(ctx, r.Name, dashboardDecisions); err != nil {
				return err
			}
		}
		j := dashRoomJSON{
			Room:   toRoom(r),
			Stats:  &dashStatsJSON{Stats: *toStats(r, st), TargetRatePerMinute: targetRate(r, adapt), AsOf: asOf.UTC()},
			Events: events[r.Name],
		}
		if r.Adaptive {
			j.AdaptiveState = toDashAdaptive(adapt, decisions)
		}
		if j.Events == nil {
			j.Events = []dashEventJSON{}
		}
		if !brief {
			if j.History, err = store.History(ctx, r.Name, now.Add(-queue.HistoryWindow)); err != nil {
				return err
			}
			if j.Pressure, err = s.pressure(ctx, r.Name); err != nil {
				return err
			}
		}
		out.Rooms = append(out.Rooms, j)
	}
	if !brief {
		if out.Audit, err = store.Audit(ctx, dashboardAudit); err != nil {
			return err
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// auditLog is GET /admin/v1/audit?limit=1..1000 (default 50): the latest
// organizer changes, newest first.
func (s *Server) auditLog(c echo.Context) error {
	limit, err := limitParam(c, dashboardAudit)
	if err != nil {
		return err
	}
	entries, err := s.cfg.Store.Audit(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": append([]queue.AuditEntry{}, entries...)})
}

// RunHistory samples every room's figures into its history (see
// SampleHistory) just after each queue.HistoryStep boundary of the clock,
// until ctx ends; it returns nil then. Every instance may run it: the
// store keeps the first sample of each step.
func (s *Server) RunHistory(ctx context.Context) error {
	for {
		now := s.cfg.Now()
		wait := now.Truncate(queue.HistoryStep).Add(queue.HistoryStep).Sub(now)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		switch err := s.SampleHistory(ctx); {
		case ctx.Err() != nil:
		case err != nil:
			s.history.Fail("history sample", err)
		default:
			s.history.OK()
		}
	}
}

// SampleHistory records every room's figures now as its history sample of
// the current queue.HistoryStep, unless another instance did already. It
// goes on past a room that fails and returns the first error.
func (s *Server) SampleHistory(ctx context.Context) error {
	store := s.cfg.Store
	rooms, err := store.ListRooms(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, r := range rooms {
		now := s.cfg.Now()
		st, err := s.ctl.Stats(ctx, r.Name)
		var adapt queue.AdaptiveState
		if err == nil && r.Adaptive {
			adapt, _, err = store.Adaptive(ctx, r.Name, 0)
		}
		if err == nil {
			err = store.RecordHistory(ctx, r.Name, queue.HistorySample{
				At: now, Waiting: st.Waiting, Active: st.Active, AdmittedTotal: st.AdmittedTotal, AbandonedTotal: st.AbandonedTotal,
				AdmitRatePerMinute: st.AdmittedLastMinute, TargetRate: targetRate(r, adapt),
			})
		}
		if err != nil && !errors.Is(err, queue.ErrRoomNotFound) && first == nil {
			first = err
		}
	}
	return first
}

// pressure reads a room's refused joins, busiest prefixes and access codes.
func (s *Server) pressure(ctx context.Context, room string) (*dashPressureJSON, error) {
	refused, err := s.cfg.Store.Refusals(ctx, room)
	if err != nil {
		return nil, err
	}
	busy, err := s.cfg.Store.BusiestPrefixes(ctx, room, dashboardPrefixes)
	if err != nil {
		return nil, err
	}
	codes, err := s.cfg.Store.Codes(ctx, room)
	if err != nil {
		return nil, err
	}
	out := &dashPressureJSON{JoinsRefused: refused, BusiestPrefixes: make([]dashPrefixJSON, len(busy))}
	if codes != (queue.CodeCounts{}) {
		c := toCodes(codes)
		out.AccessCodes = &c
	}
	for i, b := range busy {
		out.BusiestPrefixes[i] = dashPrefixJSON{Prefix: b.Prefix, PerMinute: b.PerMinute}
	}
	return out, nil
}
