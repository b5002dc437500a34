package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/queue"
)

// The waiting-room page: one server-rendered HTML document per room, plus a
// stylesheet, a script and a string table per language, all embedded so the
// binary is the whole product. The script does the live part (join, WebSocket,
// polling, redirect); the server renders what organizers configured, escaped
// by html/template.

//go:embed pages
var pageFiles embed.FS

// assetPrefix is where the page's static files are served. It sits under
// /rooms/ so that a proxy forwarding /rooms/ to Crowdgate needs no extra rule,
// and "_assets" can never be a room id.
const assetPrefix = "/rooms/_assets/"

// pageTime is RFC 3339 with milliseconds, the precision Date.parse keeps:
// the script counts down to the schedule on the server's clock (data-now),
// and whole seconds would make every tab up to a second late.
const pageTime = "2006-01-02T15:04:05.000Z07:00"

// defaultLang is the page's language when nothing else decides.
const defaultLang = "en"

// Page defaults when the organizer set no colours: a blue with white text
// on it, on a light grey.
const (
	defaultPrimary    = "#1a56db"
	defaultBackground = "#f3f4f6"
)

// The page's files are embedded, so a broken one is a build bug, not a
// runtime condition: these panic at init, which any test of the package
// catches, rather than carry an error no caller could handle.
var (
	pageTemplates = template.Must(template.ParseFS(pageFiles, "pages/*.tmpl"))
	pageAssets    = mustLoadAssets(assetPrefix, "pages/room.css", "pages/room.js", "pages/pow.js")
	pageStrings   = mustLoadStrings("pages/i18n")
	hexColor      = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// asset is a static file served under a content-hashed name, so it can be
// cached for a year and still change with every release.
type asset struct {
	url   string // the set's prefix + name.hash.ext
	ctype string
	body  []byte
	gz    []byte // gzip of body, for the many phones on slow links
}

// pageAssetSet maps a file's base name (room.js) to its asset.
type pageAssetSet map[string]*asset

// mustLoadAssets loads embedded files as assets served under prefix.
func mustLoadAssets(prefix string, names ...string) pageAssetSet {
	set := pageAssetSet{}
	for _, name := range names {
		body, err := pageFiles.ReadFile(name)
		if err != nil {
			panic(err)
		}
		base := path.Base(name)
		ext := path.Ext(base)
		if ext == ".js" {
			body = leanScript(body)
		}
		sum := sha256.Sum256(body)
		var gz bytes.Buffer // writes to a bytes.Buffer cannot fail
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		ctype := "text/css; charset=utf-8"
		if ext == ".js" {
			ctype = "text/javascript; charset=utf-8"
		}
		set[base] = &asset{
			url:   prefix + strings.TrimSuffix(base, ext) + "." + hex.EncodeToString(sum[:5]) + ext,
			ctype: ctype,
			body:  body,
			gz:    gz.Bytes(),
		}
	}
	return set
}

// leanScript is a script as it is served: without its comment lines and
// indentation, a quarter of the scripts' bytes, which are for whoever
// reads the source, not for a phone on a slow link. The scripts are plain
// ES2017 with no template literals or continued strings, so no line
// starting with // is inside a string.
func leanScript(src []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(src) {
		line = bytes.TrimLeft(line, " \t")
		if bytes.HasPrefix(line, []byte("//")) || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
}

// mustLoadStrings reads one JSON string table per language from dir
// (en.json, hi.json, ...). Adding a language is adding a file here and in
// pages/shop/i18n, and its code to queue.Languages, which rooms are
// checked against (TestLanguagesMatchTables keeps the three the same).
// A key may have plural forms beside it, "key.one", "key.few" and so on,
// named by the language's CLDR plural categories; the scripts pick one
// with Intl.PluralRules, and "key" itself is the "other" form.
func mustLoadStrings(dir string) map[string]map[string]string {
	entries, err := fs.ReadDir(pageFiles, dir)
	if err != nil {
		panic(err)
	}
	tables := map[string]map[string]string{}
	for _, e := range entries {
		lang, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := pageFiles.ReadFile(dir + "/" + e.Name())
		if err != nil {
			panic(err)
		}
		var table map[string]string
		if err := json.Unmarshal(b, &table); err != nil {
			panic(dir + "/" + e.Name() + ": " + err.Error())
		}
		tables[lang] = table
	}
	return tables
}

// pageRoutes registers the fans' waiting-room page and its assets.
func (s *Server) pageRoutes(e *echo.Echo) {
	e.Match([]string{http.MethodGet, http.MethodHead}, roomPageRoute, s.page)
	e.POST(roomEnterRoute, s.enterFromFrame)
	e.Match([]string{http.MethodGet, http.MethodHead}, assetPrefix+":file", pageAssets.serve(assetPrefix))
}

// pageData is what the templates render. Everything organizer-supplied is
// a plain string, escaped by html/template; the colours are template.CSS
// only after hexColor has checked them again here.
type pageData struct {
	Lang    string
	Dir     string // "ltr", or "rtl" for a language written right to left
	T       map[string]string
	Nonce   string
	CSS, JS string // asset URLs
	PowJS   string // the proof-of-work solver (pow.js): a Web Worker, and the page's fallback

	Title, Message        string
	LogoURL, LogoAlt      string
	Primary, OnPrimary    template.CSS
	Background, OnBgColor template.CSS
	Languages             []langLink
	LangName              string // the page's language, named in itself

	// Read by the script, as data-* attributes.
	Room, ReturnTo       string
	OpensAt, SaleAt, Now string // RFC 3339, or empty
	Mode                 string
	Notify               bool // "notify me" is offered: a channel reaches people
	// HasPlace: the request carried a queue token for the room, so the
	// fan had a place before this page (a trouble note may say it is kept).
	HasPlace bool
	// SessionSeconds is how long an admission lasts, and HoldSeconds how
	// long the room's (first) event holds picked tickets (0: no event);
	// the page tells fans both before their turn.
	SessionSeconds, HoldSeconds int
	// Captcha is the room's CAPTCHA provider ("" for none) and
	// CaptchaScript its widget's script, which the page loads when a join
	// asks for it; the CSP allows that provider's origins, and only on
	// such a room's page.
	Captcha, CaptchaScript string
	// EmbedOrigins are the sites that may frame the page, space-separated
	// (the script tells them of the fan's progress); "" for none.
	EmbedOrigins string
	// Custom is the page as the room's own template lays it out
	// (look.go); "" for Crowdgate's page.
	Custom template.HTML
	// policy is the page's policy beyond pageCSP's own (framePolicy).
	policy map[string][]string

	// The message page (unknown room, or trouble).
	NotFound     bool
	ErrorText    string // what failed, on the message page
	ErrorID      string
	RetrySeconds int
}

// langLink is an entry of the page's language switch.
type langLink struct {
	Lang, Dir, Name, Href string
	Current               bool
}

func (s *Server) page(c echo.Context) error {
	r := c.Request()
	name := c.Param("room")
	if !queue.ValidID(name) {
		return s.pageFailed(c, queue.ErrRoomNotFound) // no room can have that name
	}
	room, err := s.ctl.Room(r.Context(), name)
	if err != nil {
		return s.pageFailed(c, err)
	}
	lang := pickLang(r, room.Language)
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	if r.URL.Query().Get("return_to") == "" {
		returnTo = s.destination(room)
	}
	d := s.basePageData(lang)
	d.Title = room.Title
	if d.Title == "" {
		d.Title = room.Name
	}
	d.Message = room.Message
	d.LogoURL, d.LogoAlt = room.LogoURL, room.LogoAlt
	if d.LogoAlt == "" {
		d.LogoAlt = d.Title
	}
	d.EmbedOrigins = strings.Join(room.EmbedOrigins(), " ")
	d.Primary, d.OnPrimary = colorPair(room.PrimaryColor, defaultPrimary)
	d.Background, d.OnBgColor = colorPair(room.BackgroundColor, defaultBackground)
	d.Room, d.ReturnTo, d.Mode, d.Notify = room.Name, returnTo, room.Mode, s.cfg.Notify
	d.Now = s.cfg.Now().UTC().Format(pageTime)
	d.HasPlace = queueToken(c, room.Name) != ""
	d.SessionSeconds, d.HoldSeconds = room.SessionSeconds, s.holdSeconds(room.Name)
	if p, ok := captcha.Providers[room.Captcha]; ok {
		d.Captcha, d.CaptchaScript = p.Name, p.Script+"&onload=cgCaptchaReady"
	}
	d.policy = framePolicy(room, captcha.Providers[room.Captcha].CSP)
	if !room.QueueOpensAt.IsZero() {
		d.OpensAt = room.QueueOpensAt.UTC().Format(pageTime)
	}
	if !room.SaleStartsAt.IsZero() {
		d.SaleAt = room.SaleStartsAt.UTC().Format(pageTime)
	}
	for _, l := range sortedLangs() {
		q := url.Values{"lang": {l}}
		if returnTo != "/" {
			q.Set("return_to", returnTo)
		}
		d.Languages = append(d.Languages, langLink{Lang: l, Dir: langDir(l), Name: pageStrings[l]["lang_name"], Href: "?" + q.Encode(), Current: l == lang})
	}
	d.LangName = pageStrings[lang]["lang_name"]
	// A language the fan chose here goes on with them to the shop's pages,
	// which otherwise follow the room's and the browser's as this one does.
	if l := chosenLang(r); l != "" && strings.HasPrefix(returnTo, eventPagePath("")) {
		d.ReturnTo = withLang(returnTo, l)
	}
	if room.PageTemplate != "" && s.customPage(r.Context(), room, &d) {
		return s.renderPage(c, http.StatusOK, "custom", d)
	}
	return s.renderPage(c, http.StatusOK, "room", d)
}

// holdSeconds is how long the (first) event selling through room holds
// picked tickets, as of the booking core's last sweep, or 0: no event (the
// page then says nothing of holds). A page load reads no event from the
// store: a rush loads the page as often as it joins.
func (s *Server) holdSeconds(room string) int {
	if s.cfg.Booking == nil {
		return 0
	}
	t, _ := s.cfg.Booking.Tickets(room)
	return t.HoldSeconds
}

// destination is where an admitted fan who came with no return_to goes:
// the room's destination, else the page of the (first) event selling
// through it, else the site's root.
func (s *Server) destination(r queue.Room) string {
	if r.Destination != "" {
		return r.Destination
	}
	if s.cfg.Booking != nil {
		if t, ok := s.cfg.Booking.Tickets(r.Name); ok && len(t.Events) > 0 {
			return eventPagePath(t.Events[0])
		}
	}
	return "/"
}

// pageFailed answers a page request that has no room to show: browsers get
// a small HTML page (not found, or try again shortly), anything else the
// contract's JSON error from the central mapper.
func (s *Server) pageFailed(c echo.Context, err error) error {
	r := c.Request()
	if !strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html") {
		return err
	}
	if errors.Is(err, queue.ErrRoomNotFound) {
		d := s.messagePageData(r)
		d.NotFound = true
		d.Title, d.ErrorText = d.T["not_found_title"], d.T["not_found_text"]
		return s.renderPage(c, http.StatusNotFound, "message", d)
	}
	// The status is the central mapper's; an unexpected error is logged
	// with the request id the visitor is shown, as handleError does.
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	ae := toAPIError(err)
	if ae == nil {
		s.log.Error("request failed", "request_id", id, "method", r.Method, "path", c.Path(), "err", err)
		ae = &apiError{Status: http.StatusInternalServerError}
	}
	return s.errorPage(c, ae)
}

// messagePageData is the data of the message page, in the visitor's
// language and the default colours.
func (s *Server) messagePageData(r *http.Request) pageData {
	d := s.basePageData(pickLang(r, ""))
	d.Primary, d.OnPrimary = colorPair("", defaultPrimary)
	d.Background, d.OnBgColor = colorPair("", defaultBackground)
	return d
}

// wantsPage reports whether r is a browser's page load of a path that is
// no API: its errors get a page, never the contract's JSON.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || !strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html") {
		return false
	}
	for _, api := range []string{fanAPI + "/", adminAPI + "/", "/auth/", "/ws/", "/metrics", "/healthz", "/readyz", "/debug/"} {
		if strings.HasPrefix(r.URL.Path, api) {
			return false
		}
	}
	return true
}

// errorPage answers a browser's page load that failed with ae: a page
// saying so, with ae's status (a 404 says there is nothing there; anything
// else offers to try again, and reloads itself).
func (s *Server) errorPage(c echo.Context, ae *apiError) error {
	d := s.messagePageData(c.Request())
	if ae.Status == http.StatusNotFound {
		d.NotFound = true
		d.Title, d.ErrorText = d.T["page_not_found_title"], d.T["page_not_found_text"]
		return s.renderPage(c, http.StatusNotFound, "message", d)
	}
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	d.Title, d.ErrorText = d.T["error_title"], d.T["error_text"]
	if ae.Code == "bad_gateway" { // the origin behind the reverse proxy, not Crowdgate
		d.ErrorText = d.T["origin_error_text"]
	}
	d.ErrorID = strings.ReplaceAll(d.T["error_id"], "{id}", id)
	d.RetrySeconds = max(ae.RetryAfter, 5) // the page reloads itself (meta refresh)
	c.Response().Header().Set("Retry-After", strconv.Itoa(d.RetrySeconds))
	return s.renderPage(c, ae.Status, "message", d)
}

func (s *Server) basePageData(lang string) pageData {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand.Read does not return errors (Go 1.24+)
	return pageData{
		Lang:  lang,
		Dir:   langDir(lang),
		T:     pageStrings[lang],
		Nonce: base64.RawURLEncoding.EncodeToString(nonce),
		CSS:   pageAssets["room.css"].url,
		JS:    pageAssets["room.js"].url,
		PowJS: pageAssets["pow.js"].url,
	}
}

// renderPage renders a fans' page (the waiting room's set).
func (s *Server) renderPage(c echo.Context, status int, name string, d pageData) error {
	return s.renderFans(c, status, pageTemplates, name, d, d.Nonce, "Accept, Accept-Language", d.policy)
}

// renderFans executes a fans' page template into a buffer first, so a
// template error is a clean 500 rather than half a page, and sends it with
// the fans' pages' security headers: the CSP of pageCSP, so their scripts
// may only talk to this site (and to a CAPTCHA provider's origins, widget,
// on the page of a room that uses one). The pages carry no secrets, but a cached copy
// would show a stale state (and a stale return_to), and proxies must not
// share it: nothing is cached.
func (s *Server) renderFans(c echo.Context, status int, t *template.Template, name string, data any, nonce, vary string, widget map[string][]string) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", s.pageCSP(c.Request(), nonce, widget))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", vary)
	return c.HTMLBlob(status, buf.Bytes())
}

// pageCSP allows only this site's script and stylesheet, the nonce'd
// <style> carrying the room's colours (and a page template's styles), and
// fetch/WebSocket connections back to this site. 'self' covers ws(s): in
// CSP 3, but older browsers need the host spelled out. widget adds, per
// directive, the sources of a CAPTCHA provider's widget
// (captcha.Provider.CSP) and of the room's logo, and the sites that may
// frame the page (framePolicy): nil for pages without any; no page may be
// framed by another site unless its room lists that site.
func (s *Server) pageCSP(r *http.Request, nonce string, widget map[string][]string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(s.publicBase(r), "https://"), "http://")
	more := func(directive string) string {
		if len(widget[directive]) == 0 {
			return ""
		}
		return " " + strings.Join(widget[directive], " ")
	}
	frames := ""
	if f := more("frame-src"); f != "" {
		frames = "frame-src" + f + "; "
	}
	ancestors := "'none'"
	if a := more("frame-ancestors"); a != "" {
		ancestors = "'self'" + a
	}
	return "default-src 'none'; script-src 'self'" + more("script-src") + "; style-src 'self' 'nonce-" + nonce + "'" + more("style-src") + "; " +
		"connect-src 'self' ws://" + host + " wss://" + host + more("connect-src") + "; img-src 'self' data:" + more("img-src") + "; worker-src 'self'; " + frames +
		"base-uri 'none'; form-action 'self'; frame-ancestors " + ancestors
}

// serve returns the handler of a set's hashed static files, found by the
// :file route parameter under prefix. The name carries the content hash,
// so the answer never changes and may be cached for a year.
func (set pageAssetSet) serve(prefix string) echo.HandlerFunc {
	byURL := map[string]*asset{}
	for _, a := range set {
		byURL[a.url] = a
	}
	return func(c echo.Context) error {
		a := byURL[prefix+c.Param("file")]
		if a == nil {
			return notFound("no such asset")
		}
		h := c.Response().Header()
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(c.Request().Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			return c.Blob(http.StatusOK, a.ctype, a.gz)
		}
		return c.Blob(http.StatusOK, a.ctype, a.body)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

// pickLang chooses the page's language: ?lang= when it names a shipped
// language, else the room's, else the browser's Accept-Language, else
// English.
func pickLang(r *http.Request, roomLang string) string {
	if l := chosenLang(r); l != "" {
		return l
	}
	if pageStrings[roomLang] != nil {
		return roomLang
	}
	if l := acceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	return defaultLang
}

// chosenLang is the shipped language ?lang= names ("ta" for "ta-IN"), or "".
func chosenLang(r *http.Request) string {
	if l := baseLang(r.URL.Query().Get("lang")); pageStrings[l] != nil {
		return l
	}
	return ""
}

// withLang returns the local path p with ?lang=l set, for links between
// the fans' pages that carry a language the fan chose.
func withLang(p, l string) string {
	u, err := url.Parse(p)
	if err != nil {
		return p
	}
	q := u.Query()
	q.Set("lang", l)
	u.RawQuery = q.Encode()
	return u.String()
}

// rtlLangs are the languages written right to left, of those shipped or
// likely next (Urdu, Persian, Hebrew).
var rtlLangs = map[string]bool{"ar": true, "fa": true, "he": true, "ur": true}

// langDir is the dir attribute of a page in lang.
func langDir(lang string) string {
	if rtlLangs[lang] {
		return "rtl"
	}
	return "ltr"
}

// acceptLanguage returns the shipped language the header likes best ("hi"
// for "hi-IN"), or "" when it names none with q > 0. Ties keep the header's
// order.
func acceptLanguage(h string) string {
	best, bestQ := "", 0.0
	for i, part := range strings.Split(h, ",") {
		if i == 32 { // a real header names a handful; do not parse a flood
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(q) {
				continue
			}
		}
		if l := baseLang(tag); pageStrings[l] != nil && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// baseLang is the primary subtag of a language tag, lower-cased: "hi-IN" is "hi".
func baseLang(tag string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
	return strings.ToLower(l)
}

// languageNames lists the shipped languages, each named in itself.
func languageNames() []langLink {
	var out []langLink
	for _, l := range sortedLangs() {
		out = append(out, langLink{Lang: l, Dir: langDir(l), Name: pageStrings[l]["lang_name"]})
	}
	return out
}

func sortedLangs() []string {
	langs := make([]string, 0, len(pageStrings))
	for l := range pageStrings {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	return langs
}

// maxReturnTo bounds return_to; real paths are far shorter.
const maxReturnTo = 2048

// safeReturnTo returns raw when it is a path on this site, else "/". It is
// where the fan is sent once admitted, so it must never lead off-site (an
// open redirect on a page fans trust): it refuses schemes, "//host", "/\host"
// (browsers read \ as /), and control characters (URL parsers drop tabs and
// newlines, so "/\t/host" is "//host"). It judges the percent-decoded forms
// too, in case something downstream decodes before redirecting. Paths back
// into a waiting room are refused as well: the page would send an admitted
// fan round in a loop. The script repeats these checks before it navigates.
func safeReturnTo(raw string) string {
	if raw == "" || len(raw) > maxReturnTo {
		return "/"
	}
	p := raw
	for range 4 { // each decoding round is judged; deeper nesting is absurd
		if !localPath(p) {
			return "/"
		}
		dec, err := url.PathUnescape(p)
		if err != nil || dec == p {
			break
		}
		p = dec
	}
	return raw
}

// localPath reports whether p, as a browser would resolve it against this
// page, stays on this site and is not a waiting-room page.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return false
	}
	return !strings.HasPrefix(path.Clean(u.Path), "/rooms/")
}

// colorPair returns the colour (or def when unset or malformed) and the
// text colour readable on it.
func colorPair(c, def string) (color, on template.CSS) {
	if !hexColor.MatchString(c) {
		c = def
	}
	return template.CSS(strings.ToLower(c)), template.CSS(readableOn(c))
}

// readableOn returns black or white, whichever contrasts more with the
// #rrggbb colour c by WCAG's relative luminance, so an organizer's colour
// never makes the text on it unreadable.
func readableOn(c string) string {
	v, _ := strconv.ParseUint(c[1:], 16, 32)
	lin := func(x uint64) float64 {
		f := float64(x) / 255
		if f <= 0.04045 {
			return f / 12.92
		}
		return math.Pow((f+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(v>>16&0xff) + 0.7152*lin(v>>8&0xff) + 0.0722*lin(v&0xff)
	if (l+0.05)/0.05 >= 1.05/(l+0.05) {
		return "#000000"
	}
	return "#ffffff"
}
