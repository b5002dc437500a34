package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
)

// The fans' shop pages: an event's tickets (hold, then pay), the sandbox
// provider's hosted pay page, and an order's page that follows it to paid.
// They speak the waiting room's languages, picked as its page picks them,
// with the room of the event they are about (shopLang); a language chosen
// with ?lang= rides on the links between them (keepLang).
// Like the waiting room, the server renders a shell and the script does the
// live part against the JSON API, so the pages show exactly what the API
// decides; the pay page needs no script at all, only two forms. They reuse
// the room's stylesheet and security headers, and their own files live in
// pages/shop/ so the room's template set is untouched.

// shopAssetPrefix is where the shop's script and stylesheet are served. It
// sits under /events/ with the ticket page, and "_assets" can never be an
// event id.
const shopAssetPrefix = "/events/_assets/"

// decideTimeout bounds a pay-page decision and its webhook's retries. It
// is detached from the fan's connection: a closed tab must not cut the
// delivery short, though the reconciler would settle it in the end.
const decideTimeout = 10 * time.Second

// The shop's files are embedded with the room's (pageFiles), and broken
// ones are a build bug, caught by any test of the package (see page.go).
var (
	shopTemplates = template.Must(template.ParseFS(pageFiles, "pages/shop/*.tmpl"))
	shopAssets    = mustLoadAssets(shopAssetPrefix, "pages/shop/shop.css", "pages/shop/shop.js")
	// shopStrings are the shop pages' words, per language: their own
	// tables, in the waiting room's languages, so the room's page (which
	// carries its whole table) stays small.
	shopStrings = mustLoadStrings("pages/shop/i18n")
	// sameSiteForms refuses a decision posted from another site's page
	// (Sec-Fetch-Site, else Origin against Host): a fake "Decline" button
	// elsewhere must not settle a fan's payment.
	sameSiteForms = http.NewCrossOriginProtection()
)

// shopRoutes registers the shop pages and their assets: the ticket and
// order pages when this server has the booking API they talk to (without
// it, in embedding mode, those paths stay the origin's), the pay page when
// it has the sandbox provider.
func (s *Server) shopRoutes(e *echo.Echo) {
	get := []string{http.MethodGet, http.MethodHead}
	if s.cfg.Booking != nil {
		e.Match(get, eventPageRoute, s.eventPage)
		e.Match(get, orderPageRoute, s.orderPage)
	}
	if s.cfg.Booking != nil || s.cfg.Sandbox != nil {
		e.Match(get, shopAssetPrefix+":file", shopAssets.serve(shopAssetPrefix))
	}
	if s.cfg.Sandbox != nil {
		e.Match(get, sandboxPayRoute, s.sandboxPage)
		e.POST(sandboxPayRoute, s.sandboxDecide)
	}
}

// shopData is what the shop templates render. Everything in it is escaped
// by html/template; the ids in it passed queue.ValidID.
type shopData struct {
	Title        string
	Lang, Dir    string // the page's language, and "rtl" when it is written so
	Nonce        string
	RoomCSS, CSS string // asset URLs
	JS           string
	Primary      template.CSS
	OnPrimary    template.CSS
	Background   template.CSS
	OnBgColor    template.CSS

	// Read by the script, as data-* attributes. Onward is where the order
	// page sends the fan once paid (see onward), as data-paid-link: an
	// attribute named data-on... would be a script to html/template.
	Event, Order string
	Onward       string
	Now          string // RFC 3339: the script corrects countdowns by it
	// The page's words: T for the template, I18n (JSON) for the script,
	// OrderLabel the order's number in them.
	T          map[string]string
	I18n       string
	OrderLabel string

	Pay *payView

	// The message page.
	Message      string
	ErrorID      string
	RetrySeconds int
}

// payView is a sandbox payment as its page shows it.
type payView struct {
	ID      string
	Heading string // "Pay <amount>", in the page's language
	// The amount, for the script to format as the other pages do
	// (Intl.NumberFormat in the page's language); Heading is the same
	// without a script.
	AmountMinor int64
	Currency    string
	Label       string // "Payment <id>", likewise
	Outcome     string // what was decided, once it was
	Description string
	Pending     bool
	Approved    bool
	Refunded    bool
	Action      string // the forms' target
	ReturnTo    string // the order page
}

// shopData is a shop page's data in lang, titled with its table's words
// under the key title.
func (s *Server) shopData(lang, title string) shopData {
	t := shopStrings[lang]
	if t == nil {
		lang, t = defaultLang, shopStrings[defaultLang]
	}
	words, _ := json.Marshal(t) // a map of strings always encodes
	d := shopData{
		Title:   t[title],
		Lang:    lang,
		Dir:     langDir(lang),
		T:       t,
		I18n:    string(words),
		Nonce:   s.basePageData(lang).Nonce,
		RoomCSS: pageAssets["room.css"].url,
		CSS:     shopAssets["shop.css"].url,
		JS:      shopAssets["shop.js"].url,
		Now:     s.cfg.Now().UTC().Format(time.RFC3339),
	}
	d.Primary, d.OnPrimary = colorPair("", defaultPrimary)
	d.Background, d.OnBgColor = colorPair("", defaultBackground)
	return d
}

// eventPage is the ticket page's shell; its script reads the event from
// the API, so an unknown event is the script's to report.
func (s *Server) eventPage(c echo.Context) error {
	return s.shell(c, "event", "event_title", func(_ context.Context, id string) string { return id },
		func(d *shopData, id string) { d.Event = id })
}

// orderPage is the order's shell; its script polls the order until it
// settles.
func (s *Server) orderPage(c echo.Context) error {
	r := c.Request()
	return s.shell(c, "order", "order_title", s.orderEvent, func(d *shopData, id string) {
		d.Order = id
		d.OrderLabel = strings.ReplaceAll(d.T["order_number"], "{id}", id)
		d.Onward = keepLang(r, s.onward(r.Context(), s.orderEvent(r.Context(), id)))
	})
}

// onward is where a paid order's page leads: the destination of the room
// the event sells through, when the organizer set one (their own site),
// else the event's ticket page; "" when the event is not known.
func (s *Server) onward(ctx context.Context, event string) string {
	if !queue.ValidID(event) {
		return ""
	}
	if name, err := s.cfg.Booking.EventRoom(ctx, event); err == nil {
		if room, err := s.ctl.Room(ctx, name); err == nil && room.Destination != "" && queue.ValidDestination(room.Destination) {
			return room.Destination
		}
	}
	return "/events/" + event
}

// shell renders the page shop-<kind> for the id in the path parameter
// <kind>, after checking it is an id at all, in the language of the event
// event(id) names (see shopLang).
func (s *Server) shell(c echo.Context, kind, title string, event func(context.Context, string) string, set func(*shopData, string)) error {
	id := c.Param(kind)
	if !queue.ValidID(id) {
		return s.shopFailed(c, notFound("no such "+kind))
	}
	r := c.Request()
	d := s.shopData(s.shopLang(r, func() string { return event(r.Context(), id) }), title)
	set(&d, id)
	return s.renderShop(c, http.StatusOK, "shop-"+kind, d)
}

// orderEvent is the event an order is for, or "" when it cannot be read
// (the page's script reports why).
func (s *Server) orderEvent(ctx context.Context, id string) string {
	o, err := s.cfg.Booking.Order(ctx, id)
	if err != nil {
		return ""
	}
	return o.Event
}

// shopLang is a shop page's language, picked as the waiting room's page
// picks it (pickLang), with the language of the room the event event()
// names sells through; the event is looked up only when no ?lang= decides.
// An event or room that cannot be read leaves it to the browser's.
func (s *Server) shopLang(r *http.Request, event func() string) string {
	if l := chosenLang(r); l != "" {
		return l
	}
	roomLang := ""
	if id := event(); id != "" && s.cfg.Booking != nil {
		if name, err := s.cfg.Booking.EventRoom(r.Context(), id); err == nil {
			if room, err := s.ctl.Room(r.Context(), name); err == nil {
				roomLang = room.Language
			}
		}
	}
	return pickLang(r, roomLang)
}

// keepLang returns the local path p with the ?lang= the fan chose on r, if
// any, so the next page speaks it too.
func keepLang(r *http.Request, p string) string {
	if l := chosenLang(r); l != "" && p != "/" {
		return withLang(p, l)
	}
	return p
}

// sandboxPage is the sandbox's hosted pay page: what is being paid for,
// and Approve and Decline, or the decision once made.
func (s *Server) sandboxPage(c echo.Context) error {
	id := c.Param("payment")
	if !queue.ValidID(id) {
		return s.shopFailed(c, errNoPayment)
	}
	p, err := s.cfg.Sandbox.Get(c.Request().Context(), id)
	if errors.Is(err, booking.ErrUnknownPayment) {
		return s.shopFailed(c, errNoPayment)
	}
	if err != nil {
		return s.shopFailed(c, err)
	}
	r := c.Request()
	d := s.shopData(s.shopLang(r, func() string { return p.Event }), "pay_page_title")
	amount := formatMinor(p.AmountMinor, p.Currency)
	d.Pay = &payView{
		ID:          p.ID,
		Heading:     strings.ReplaceAll(d.T["pay_title"], "{amount}", amount),
		AmountMinor: p.AmountMinor,
		Currency:    p.Currency,
		Label:       strings.ReplaceAll(d.T["pay_id"], "{id}", p.ID),
		Description: p.Description,
		Pending:     p.State == booking.PaymentPending,
		Approved:    p.State == booking.PaymentSucceeded,
		Refunded:    p.Refunded,
		Action:      keepLang(r, SandboxPayPath(p.ID)),
		ReturnTo:    keepLang(r, returnWith(s.returnTarget(r, p.ReturnURL), p.State)),
	}
	switch {
	case d.Pay.Approved && p.Refunded:
		d.Pay.Outcome = d.T["pay_refunded"]
	case d.Pay.Approved:
		d.Pay.Outcome = d.T["pay_approved"]
	default:
		d.Pay.Outcome = d.T["pay_declined"]
	}
	return s.renderShop(c, http.StatusOK, "shop-pay", d)
}

var errNoPayment = notFound("no such payment")

// maxDecisionForm bounds the pay page's form body; "decision=decline" is 16
// bytes.
const maxDecisionForm = 1 << 10

// sandboxDecide takes the pay page's Approve or Decline, and sends the fan
// to the order page (303, so a reload does not post again). Deciding twice
// is harmless: the first decision stands.
func (s *Server) sandboxDecide(c echo.Context) error {
	id := c.Param("payment")
	if !queue.ValidID(id) {
		return errNoPayment
	}
	r := c.Request()
	if err := sameSiteForms.Check(r); err != nil {
		return forbidden("payments are decided on this site's own pay page only")
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxDecisionForm)
	if err := r.ParseForm(); err != nil {
		return invalid("the body must be a form: decision=approve or decision=decline")
	}
	var approve bool
	switch r.PostForm.Get("decision") {
	case "approve":
		approve = true
	case "decline":
	default:
		return invalid("decision must be approve or decline")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), decideTimeout)
	defer cancel()
	p, err := s.cfg.Sandbox.Decide(ctx, id, approve)
	if errors.Is(err, booking.ErrUnknownPayment) {
		return errNoPayment
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, keepLang(r, returnWith(s.returnTarget(r, p.ReturnURL), p.State)))
}

// returnWith adds what the provider decided to the path the fan returns
// to, as redirect_status=succeeded|failed, the way Stripe's redirects do:
// the order page can then say the payment is being confirmed while its
// webhook is on the way, rather than look as if it waited for the fan.
// It is a hint for the page's words only; the order's status is the API's.
// The fallback "/" is no return URL, and gets nothing.
func returnWith(path string, st booking.PaymentState) string {
	if path == "/" || (st != booking.PaymentSucceeded && st != booking.PaymentFailed) {
		return path
	}
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	q := u.Query()
	q.Set("redirect_status", string(st))
	u.RawQuery = q.Encode()
	return u.String()
}

// returnTarget is where the pay page sends the fan: the payment's return
// URL as a local path when it is on this site (checkout makes it absolute,
// with this site's public base), else "/". The return URL is the server's
// own, but a redirect is checked where it is made (see safeReturnTo).
func (s *Server) returnTarget(r *http.Request, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "/"
	}
	if u.IsAbs() || u.Host != "" {
		base, err := url.Parse(s.publicBase(r))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || !strings.EqualFold(u.Host, base.Host) {
			return "/"
		}
		raw = u.RequestURI()
	}
	return safeReturnTo(raw)
}

// shopFailed answers a shop page that cannot be shown: browsers get a small
// HTML page (not found, or try again shortly, with the request id), API
// clients the contract's JSON error from the central mapper.
func (s *Server) shopFailed(c echo.Context, err error) error {
	r := c.Request()
	if !strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html") {
		return err
	}
	ae := toAPIError(err)
	if ae == nil {
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.Error("request failed", "request_id", id, "method", r.Method, "path", c.Path(), "err", err)
		ae = &apiError{Status: http.StatusInternalServerError}
	}
	d := s.shopData(pickLang(r, ""), "not_found_title")
	switch {
	case ae.Status == http.StatusNotFound:
		d.Message = d.T["not_found_text"]
	case ae.Status < 500:
		d.Title, d.Message = d.T["refused_title"], ae.Message // the API's words: English
	default:
		d.Title, d.Message = d.T["error_title"], d.T["error_text"]
		d.ErrorID = strings.ReplaceAll(d.T["error_id"], "{id}", c.Response().Header().Get(echo.HeaderXRequestID))
		d.RetrySeconds = max(ae.RetryAfter, 5)
		c.Response().Header().Set("Retry-After", strconv.Itoa(d.RetrySeconds))
	}
	return s.renderShop(c, ae.Status, "shop-message", d)
}

// renderShop renders a shop page as the room's pages are rendered.
func (s *Server) renderShop(c echo.Context, status int, name string, d shopData) error {
	return s.renderFans(c, status, shopTemplates, name, d, d.Nonce, "Accept, Accept-Language", nil)
}

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency has two decimals.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// formatMinor writes an amount in minor units for people: "INR 1,500.00".
// It is the pay page's words without a script: shop.js replaces them with
// the browser's Intl.NumberFormat in the page's language, the format of
// the ticket and order pages, which knows local conventions.
func formatMinor(minor int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // -MinInt64 wraps to itself, which as uint64 is right
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	whole, frac := s[:len(s)-digits], s[len(s)-digits:]
	var b strings.Builder
	for i, ch := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := currency + " " + sign + b.String()
	if digits > 0 {
		out += "." + frac
	}
	return out
}
