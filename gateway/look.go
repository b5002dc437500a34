package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// The organizer's own look (docs/organizer.md, "Your own look"): a page
// template per room, which lays out the page around Crowdgate's waiting
// room, and the enter step of a waiting room shown in another site's iframe.
//
// A template is Go html/template over TemplateData. Crowdgate keeps what
// makes the page's promises: the document's head (its stylesheet, its
// scripts, the policy that lets no other script run), the body's data, the
// language switch, and the waiting room itself, which the template places
// once, whole ({{.WaitingRoom}}). The template is checked when it is
// uploaded, by running it, and again each time a page is rendered; a page
// whose template fails is Crowdgate's own, never a broken one.

// TemplateData is what a room's page template is given. Every string is
// escaped by html/template where it lands; WaitingRoom is Crowdgate's
// markup.
type TemplateData struct {
	Lang  string // the page's language ("en", "ar", ...)
	Dir   string // "ltr", or "rtl" for a language written right to left
	Room  string // the room's id
	Title string // the room's title (its id when it has none)
	// Message is the organizer's note; LogoURL and LogoAlt the room's logo
	// ("" when none).
	Message, LogoURL, LogoAlt string
	// PrimaryColor and BackgroundColor are the room's colours, #rrggbb
	// (Crowdgate's defaults when unset).
	PrimaryColor, BackgroundColor string
	// Nonce lets the template's own <style> elements through the page's
	// policy: <style nonce="{{.Nonce}}">. It admits styles only; no script
	// but Crowdgate's runs on the page.
	Nonce string
	// T is the page's strings in its language, as Crowdgate's page uses
	// them ({{.T.position}}).
	T map[string]string
	// WaitingRoom is the live waiting room, to be placed once.
	WaitingRoom template.HTML
}

// templateOutputMax bounds what a template renders: a page, not a loop
// over the string table inside a loop over the string table.
const templateOutputMax = 512 << 10

var (
	errTemplateOutput = errors.New("the template renders more than 512 KiB")

	// What a template must not hold, each with what to do instead. The
	// page's policy would block most of it anyway (scripts, frames,
	// inline handlers and style attributes); refusing it at upload says
	// so, instead of a page that quietly lacks it.
	templateRules = []struct {
		re  *regexp.Regexp
		why string
	}{
		{regexp.MustCompile(`(?i)<script[\s>/]`), "a template may hold no <script>: only Crowdgate's script runs on the page (its policy blocks any other)"},
		{regexp.MustCompile(`(?i)<(iframe|frame|frameset|object|embed|applet|portal)[\s>/]`), "a template may not embed frames or objects: the page's policy blocks them"},
		{regexp.MustCompile(`(?i)<(base|meta|link)[\s>/]`), `a template may hold no <base>, <meta> or <link>: Crowdgate writes the page's head; put styles in <style nonce="{{.Nonce}}">`},
		{regexp.MustCompile(`(?i)<form[\s>/]`), "a template may hold no forms: the waiting room's own are the page's"},
		{regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`), "a template may hold no event handler attributes (onclick=...): the page's policy blocks inline scripts"},
		{regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`), `a template may hold no style attributes: the page's policy blocks them; put the styles in <style nonce="{{.Nonce}}">`},
		{regexp.MustCompile(`(?i)<style(\s[^>]*)?>`), ""}, // checked for a nonce below
		{regexp.MustCompile(`(?i)\sid\s*=\s*["']?cg-`), `ids starting "cg-" are the waiting room's own`},
	}
	styleNonce = regexp.MustCompile(`(?i)\snonce\s*=\s*["']?` + sampleNonce + `["'\s>]`)
)

// sampleNonce and sampleWaiting stand in for a page's nonce and waiting
// room when a template is checked.
const (
	sampleNonce   = "cgsamplenonce"
	sampleWaiting = "<!--cg-waiting-room-b1f0-->"
)

// compilePageTemplate parses a room's page template and checks it by
// rendering it as fans would see it (with and without a message and a
// logo, left to right and right to left). The error says what is wrong,
// for the organizer.
func compilePageTemplate(text string) (*template.Template, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("a page template is UTF-8 text")
	}
	t, err := template.New("page").Parse(text)
	if err != nil {
		return nil, err
	}
	for _, d := range sampleTemplateData() {
		out, err := renderTemplate(t, d)
		if err == nil {
			err = checkRendered(out)
		}
		if err != nil {
			with := "without a message or a logo"
			if d.Message != "" {
				with = "with a message and a logo"
			}
			return nil, fmt.Errorf("%w (rendered as a sample page in %s, %s)", err, d.Lang, with)
		}
	}
	return t, nil
}

// checkRendered checks a template's page, rendered with sampleWaiting for
// its waiting room, against the rules: the waiting room once, and nothing
// the page's promises forbid.
func checkRendered(out string) error {
	if n := strings.Count(out, sampleWaiting); n != 1 {
		return fmt.Errorf("the template must place the waiting room exactly once, as {{.WaitingRoom}} in the page's body; it placed it %d times", n)
	}
	for _, rule := range templateRules {
		for _, m := range rule.re.FindAllString(out, -1) {
			if rule.why != "" {
				return errors.New(rule.why)
			}
			if !styleNonce.MatchString(m) {
				return errors.New(`a <style> element needs the page's nonce, <style nonce="{{.Nonce}}">, or the page's policy blocks it`)
			}
		}
	}
	return nil
}

// sampleTemplateData are the pages a template is checked against.
func sampleTemplateData() []TemplateData {
	var out []TemplateData
	for _, lang := range []string{defaultLang, "ar"} {
		for _, full := range []bool{true, false} {
			d := TemplateData{
				Lang: lang, Dir: langDir(lang), Room: "sample", Title: "Sample sale",
				PrimaryColor: defaultPrimary, BackgroundColor: defaultBackground,
				Nonce: sampleNonce, T: pageStrings[lang], WaitingRoom: sampleWaiting,
			}
			if full {
				d.Message, d.LogoURL, d.LogoAlt = "A note", "/logo.png", "Logo"
			}
			out = append(out, d)
		}
	}
	return out
}

// renderTemplate runs t on d into a string of at most templateOutputMax.
func renderTemplate(t *template.Template, d TemplateData) (string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&capped{w: &buf, left: templateOutputMax}, d); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// capped is a writer that fails once more than left bytes are written.
type capped struct {
	w    io.Writer
	left int
}

func (c *capped) Write(p []byte) (int, error) {
	if len(p) > c.left {
		return 0, errTemplateOutput
	}
	c.left -= len(p)
	return c.w.Write(p)
}

// pageTemplateCache holds compiled page templates by room and digest, so a
// crowd loading one page reads and compiles its template once; a failed
// load is retried by the next page.
type pageTemplateCache struct {
	mu sync.Mutex
	m  map[string]*templateEntry
}

type templateEntry struct {
	done chan struct{}
	t    *template.Template
	err  error
}

// pageTemplateCacheMax bounds the cache; past it, it starts afresh.
const pageTemplateCacheMax = 512

// get returns room's template of digest sha, loading it with load once.
func (c *pageTemplateCache) get(ctx context.Context, room, sha string, load func() (string, error)) (*template.Template, error) {
	key := room + "@" + sha
	c.mu.Lock()
	e := c.m[key]
	if e == nil {
		if c.m == nil || len(c.m) >= pageTemplateCacheMax {
			c.m = map[string]*templateEntry{}
		}
		e = &templateEntry{done: make(chan struct{})}
		c.m[key] = e
		c.mu.Unlock()
		text, err := load()
		if err == nil {
			e.t, err = template.New("page").Parse(text)
		}
		e.err = err
		close(e.done)
		if err != nil {
			c.mu.Lock()
			if c.m[key] == e {
				delete(c.m, key)
			}
			c.mu.Unlock()
		}
		return e.t, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.t, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// customPage renders d's waiting room into room's page template as d.Custom.
// It reports false, and logs why, when the page should be Crowdgate's own:
// the template cannot be read or fails on this page.
func (s *Server) customPage(ctx context.Context, room queue.Room, d *pageData) bool {
	t, err := s.templates.get(ctx, room.Name, room.PageTemplate, func() (string, error) {
		// Read for every page waiting on it, not only this one's visitor,
		// who may leave meanwhile.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		return s.cfg.Store.PageTemplate(lctx, room.Name)
	})
	if err != nil {
		s.log.Warn("page template unavailable: showing Crowdgate's page", "room", room.Name, "err", err)
		return false
	}
	var waiting bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&waiting, "waiting", d); err != nil {
		s.log.Error("waiting room failed to render", "room", room.Name, "err", err)
		return false
	}
	// The template runs with the sample's stand-ins for the nonce and the
	// waiting room, so its page is checked as at upload; then they are
	// put in.
	out, err := renderTemplate(t, TemplateData{
		Lang: d.Lang, Dir: d.Dir, Room: d.Room, Title: d.Title, Message: d.Message,
		LogoURL: d.LogoURL, LogoAlt: d.LogoAlt,
		PrimaryColor: string(d.Primary), BackgroundColor: string(d.Background),
		Nonce: sampleNonce, T: d.T, WaitingRoom: sampleWaiting,
	})
	if err == nil {
		err = checkRendered(out)
	}
	if err != nil {
		s.log.Warn("page template failed: showing Crowdgate's page", "room", room.Name, "lang", d.Lang, "err", err)
		return false
	}
	out = strings.ReplaceAll(out, sampleNonce, d.Nonce)
	out = strings.Replace(out, sampleWaiting, `<section class="cg-card">`+waiting.String()+`</section>`, 1)
	d.Custom = template.HTML(out) // rendered by html/template from the organizer's template
	return true
}

// putPageTemplate is PUT /admin/v1/rooms/{room}/template: the body is the
// template's text, checked before it is stored.
func (s *Server) putPageTemplate(c echo.Context) error {
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, queue.MaxPageTemplateBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("a page template is at most %d bytes", queue.MaxPageTemplateBytes)}
	}
	if err != nil {
		return invalid("could not read the template: " + err.Error())
	}
	text := string(body)
	if strings.TrimSpace(text) == "" {
		return invalidRoom("the body is the page template's text; it is empty (DELETE removes a room's template)")
	}
	if _, err := compilePageTemplate(text); err != nil {
		return invalidRoom("page template: " + err.Error())
	}
	name := c.Param("room")
	sha, err := s.cfg.Store.PutPageTemplate(r.Context(), name, text)
	if err != nil {
		return err
	}
	s.ctl.Forget(name)
	return c.JSON(http.StatusOK, api.PageTemplate{Room: name, SHA256: sha, Bytes: len(body)})
}

// getPageTemplate is GET /admin/v1/rooms/{room}/template: the stored text,
// as plain text (it is no page of this site's to render).
func (s *Server) getPageTemplate(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("room")
	if _, err := s.cfg.Store.GetRoom(ctx, name); err != nil {
		return err
	}
	text, err := s.cfg.Store.PageTemplate(ctx, name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(text))
}

// deletePageTemplate is DELETE /admin/v1/rooms/{room}/template: the room
// shows Crowdgate's own page again.
func (s *Server) deletePageTemplate(c echo.Context) error {
	name := c.Param("room")
	if err := s.cfg.Store.DeletePageTemplate(c.Request().Context(), name); err != nil {
		return err
	}
	s.ctl.Forget(name)
	return c.NoContent(http.StatusNoContent)
}

// enterFromFrame is POST /rooms/{room}/enter, the last step of a waiting
// room shown in another site's iframe. A framed page cannot give the
// browser the admission cookie for the site (browsers keep a frame's
// cookies apart from the site's, or drop them), so, admitted, it shows a
// button that posts the admission token here in the browser's top window;
// the answer sets the cookie, now the site's own, and sends the fan on to
// return_to. A token that no longer admits sends the fan to the room's
// page, with their place (queue_token) when it is still theirs.
func (s *Server) enterFromFrame(c echo.Context) error {
	name := c.Param("room")
	if !queue.ValidID(name) {
		return s.pageFailed(c, queue.ErrRoomNotFound)
	}
	r := c.Request()
	// The form is the framed page's own, on this site: another site's
	// page has no business planting an admission in the fan's browser.
	if o := r.Header.Get("Origin"); o != "" && !s.sameSiteOrigin(r, o) {
		return crossSite()
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return invalid("a form of at most 16 KiB is expected")
	}
	room, err := s.ctl.Room(r.Context(), name)
	if err != nil {
		return s.pageFailed(c, err)
	}
	to := safeReturnTo(r.PostForm.Get("return_to"))
	if r.PostForm.Get("return_to") == "" {
		to = s.destination(room)
	}
	p, err := s.passes.Verify(r.PostForm.Get("admission_token"), name)
	if err == nil {
		err = s.ctl.Admits(r.Context(), p)
	}
	if err != nil {
		if q := r.PostForm.Get("queue_token"); q != "" {
			if _, qerr := s.keys.ParseQueueToken(name, q); qerr == nil {
				s.setCookie(c, queueCookie(name), q, queueCookieAge)
			}
		}
		back := RoomPagePath(name)
		if to != "/" {
			back += "?return_to=" + url.QueryEscape(to)
		}
		return c.Redirect(http.StatusSeeOther, back)
	}
	s.setCookie(c, admissionCookie(name), r.PostForm.Get("admission_token"), time.Until(p.Expires))
	return c.Redirect(http.StatusSeeOther, to)
}

// framePolicy is the page's policy beyond pageCSP's own, for room: images
// from its logo's site, and the sites that may frame it. nil: none.
func framePolicy(room queue.Room, widget map[string][]string) map[string][]string {
	logo, frames := room.LogoOrigin(), room.EmbedOrigins()
	if logo == "" && len(frames) == 0 {
		return widget
	}
	out := make(map[string][]string, len(widget)+2)
	for k, v := range widget {
		out[k] = v
	}
	if logo != "" {
		out["img-src"] = append(append([]string(nil), out["img-src"]...), logo)
	}
	if len(frames) > 0 {
		out["frame-ancestors"] = frames
	}
	return out
}
