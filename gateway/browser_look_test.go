package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// TestBrowserOwnLook shows a room in its organizer's own look, at a
// desktop's and a phone's size: a logo from the organizer's site, and a page
// template with a header, a footer and styles of its own, around a waiting
// room that works as ever (a place, live), under the page's policy (no
// violation reported). Screenshots go to a folder under the test's temp dir.
func TestBrowserOwnLook(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)
	s := newStackWith(t, stackOptions{sockets: true})
	site := organizerSite(t, "")

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)
			room := "look-" + size.name
			s.putRoom(room, `{"admit_per_minute": 1, "title": "The Final", "logo_url": "`+site.URL+`/logo.png", "logo_alt": "Example Live"}`)
			s.do("POST", "/api/v1/rooms/"+room+"/join", "") // one ahead

			// Crowdgate's page, with the logo.
			b.run("open the page", chromedp.Navigate(s.srv.URL+"/rooms/"+room))
			b.until("waiting, with the logo loaded", `document.body.dataset.status === 'waiting' && document.querySelector('main .logo').naturalWidth === 64`)
			shot(t, tab, dir, "look-"+size.name+"-logo")

			// The organizer's template.
			if r := s.do("PUT", "/admin/v1/rooms/"+room+"/template", ownTemplate, "Authorization", "Bearer "+adminToken, "Content-Type", "text/html"); r.status != http.StatusOK {
				t.Fatalf("template: %d %s", r.status, r.body)
			}
			b.run("reload", chromedp.Reload())
			b.until("waiting in the template, live", `document.body.dataset.status === 'waiting' && document.getElementById('cg-position').textContent === '2' && document.body.dataset.transport === 'ws'`)
			got, err := chromedp.Run(tab, chromedp.Evaluate[string](`[
				getComputedStyle(document.querySelector('.site-head')).color,
				document.querySelector('.site-head img').naturalWidth,
				document.querySelector('.site-head img').alt,
				document.querySelector('footer').textContent,
				!!document.querySelector('main > section.cg-card #cg-state')
			].join('|')`))
			if want := "rgb(200, 0, 0)|64|Example Live|Your place · Example Live " + room + "|true"; err != nil || got != want {
				t.Errorf("the template's page: %q, want %q (%v)", got, want, err)
			}
			shot(t, tab, dir, "look-"+size.name+"-template")
			if problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems`)); err != nil || len(problems) > 0 {
				t.Errorf("script errors or CSP violations: %q %v", problems, err)
			}
		})
	}
}

// TestBrowserEmbedded shows the waiting room in an iframe on the organizer's
// own site (another site: localhost against Crowdgate's 127.0.0.1), with
// third-party cookies blocked as browsers are moving to: the framed page
// keeps its place across a reload of the organizer's page, tells that page
// of the fan's progress, and, once admitted, the fan's click takes the top
// window through /rooms/{room}/enter to the destination with the admission
// cookie. A site the room does not list cannot frame it.
func TestBrowserEmbedded(t *testing.T) {
	browser := startBrowser(t, chromedp.Flag("test-third-party-cookie-phaseout", true))
	dir := screenshotDir(t)
	s := newStackWith(t, stackOptions{sockets: true})
	en := table(t, "pages/i18n", "en")

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			room := "embed-" + size.name
			site := organizerSite(t, s.srv.URL+"/rooms/"+room)
			shop := strings.Replace(site.URL, "127.0.0.1", "localhost", 1) // another site than Crowdgate's
			s.putRoom(room, `{"admit_per_minute": 60000, "title": "The Final", "destination": "/auth/v1/check?room=`+room+`", "embed_origins": ["`+shop+`"]}`)
			s.do("POST", "/api/v1/rooms/"+room+"/join", "") // one ahead

			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)
			b.run("open the organizer's page", chromedp.Navigate(shop+"/"))
			b.until("told: waiting at place 2", `(window.__msgs || []).some(function (m) { return m.status === 'waiting' && m.position === 2; })`)
			frame := frameOf(t, tab, s.srv.URL+"/rooms/"+room)
			inFrame := func(expr string) string {
				t.Helper()
				v, err := chromedp.Run(frame, chromedp.Evaluate[string](expr))
				if err != nil {
					t.Fatalf("in the frame, %s: %v", expr, err)
				}
				return v
			}
			qid := inFrame(`document.body.dataset.queueId`)
			if kept := inFrame(`localStorage.getItem('cg_q_` + room + `') || ''`); kept == "" || qid == "" {
				t.Fatalf("the framed page keeps no place (queue id %q, token %q)", qid, kept)
			}
			if help := inFrame(`document.getElementById('cg-help').textContent`); help != en["help_waiting_framed"] {
				t.Errorf("the framed page promises %q, want %q", help, en["help_waiting_framed"])
			}
			cookies, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{s.srv.URL + "/"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("cookies the frame got: %d (third-party cookies blocked: %v)", len(cookies.Cookies), len(cookies.Cookies) == 0)
			shot(t, tab, dir, "embed-"+size.name+"-waiting")

			// The organizer's page reloads: the same place.
			b.run("reload the organizer's page", chromedp.Reload())
			b.until("told again", `(window.__msgs || []).some(function (m) { return m.status === 'waiting'; })`)
			frame = frameOf(t, tab, s.srv.URL+"/rooms/"+room)
			if again := inFrame(`document.body.dataset.queueId`); again != qid {
				t.Fatalf("after a reload the frame holds place %q, not %q", again, qid)
			}

			// Admitted: the button takes the top window in, with the cookie.
			time.Sleep(5 * time.Millisecond) // the room's bucket fills (60000/min = 1/ms)
			s.admit(room)
			b.until("told: admitted", `(window.__msgs || []).some(function (m) { return m.status === 'admitted'; })`)
			if shown := inFrame(`document.getElementById('cg-enter').hidden + '|' + document.activeElement.textContent + '|' + document.getElementById('cg-help').textContent`); shown != "false|"+en["continue"]+"|"+en["help_admitted_framed"] {
				t.Fatalf("the framed page's way on: %q", shown)
			}
			shot(t, tab, dir, "embed-"+size.name+"-admitted")
			var x, y float64
			box := inFrame(`(function (r) { return r.left + r.width / 2 + ',' + (r.top + r.height / 2); })(document.querySelector('#cg-enter button').getBoundingClientRect())`)
			off, err := chromedp.Run(tab, chromedp.Evaluate[string](`(function (r) { return r.left + ',' + r.top; })(document.querySelector('iframe').getBoundingClientRect())`))
			var fx, fy float64
			if _, err2 := fmt.Sscanf(box+","+off, "%g,%g,%g,%g", &x, &y, &fx, &fy); err != nil || err2 != nil {
				t.Fatalf("button at %q, frame at %q: %v %v", box, off, err, err2)
			}
			b.run("click Continue", chromedp.MouseClickXY(fx+x, fy+y))
			b.until("at the destination, admitted", `location.href === '`+s.srv.URL+`/auth/v1/check?room=`+room+`' && performance.getEntriesByType('navigation')[0].responseStatus === 200`)
			cookies, err = chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{s.srv.URL + "/"}})
			if err != nil {
				t.Fatal(err)
			}
			admitted := false
			for _, c := range cookies.Cookies {
				admitted = admitted || c.Name == "cg_a_"+room && c.HTTPOnly
			}
			if !admitted {
				t.Errorf("no admission cookie on Crowdgate's site after the enter step: %v", cookies.Cookies)
			}
		})
	}

	// A site the room does not list gets no frame: the policy blocks it.
	other := organizerSite(t, s.srv.URL+"/rooms/embed-desktop")
	tab, b := sizedTab(t, browser, 1280, 800, false)
	b.run("open another site's page", chromedp.Navigate(strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/"))
	framed := frameOf(t, tab, s.srv.URL+"/rooms/embed-desktop")
	b.until("the organizer's page loaded", `document.readyState === 'complete'`)
	// Chrome shows its error page in a frame the policy refused.
	if got, err := chromedp.Run(framed, chromedp.Evaluate[string](`location.href + '|' + (document.body && document.body.dataset.room || '')`)); err != nil || !strings.HasPrefix(got, "chrome-error://") {
		t.Errorf("a site the room does not list framed it: %q %v", got, err)
	}
}

// organizerSite serves an organizer's own site on loopback: /logo.png, a
// 64×64 image, and, when frameSrc is set, a page at / that frames it and
// records what the frame tells it in window.__msgs.
func organizerSite(t *testing.T, frameSrc string) *httptest.Server {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 0xc8
	}
	img.Set(0, 0, color.Black)
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(logo.Bytes())
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		crowdgate := frameSrc[:strings.Index(frameSrc, "/rooms/")]
		_, _ = fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Example shop</title></head>
<body><h1>Example shop</h1><p>The Final goes on sale here.</p>
<script>window.__msgs = []; addEventListener('message', function (e) { if (e.origin === %q) window.__msgs.push(e.data); });</script>
<iframe src=%q title="Waiting room" width="360" height="640" style="border:1px solid #ccc"></iframe></body></html>`, crowdgate, frameSrc)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// sizedTab opens a tab of its own (its own cookies) at a screen size, which
// records script errors and policy violations in window.__problems.
func sizedTab(t *testing.T, browser context.Context, width, height int64, phone bool) (context.Context, tabSteps) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	view := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if phone {
		view = append(view, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	b := tabSteps{t, tab}
	b.run("size the tab", chromedp.Navigate("about:blank"), chromedp.EmulateViewport(width, height, view...))
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
		t.Fatal(err)
	}
	return tab, b
}

// frameTargets are the cross-site iframes of tab's browser.
func frameTargets(t *testing.T, tab context.Context) []*target.Info {
	t.Helper()
	infos, err := chromedp.Targets(tab)
	if err != nil {
		t.Fatal(err)
	}
	var out []*target.Info
	for _, info := range infos {
		if info.Type == "iframe" {
			out = append(out, info)
		}
	}
	return out
}

// frameOf is a context running in tab's cross-site iframe at url: Chrome
// runs it in a process of its own, out of the page's reach (WithTargetID).
func frameOf(t *testing.T, tab context.Context, url string) context.Context {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, info := range frameTargets(t, tab) {
			if info.URL == url {
				return frameContext(t, tab, info.TargetID)
			}
		}
	}
	t.Fatalf("no iframe at %s", url)
	return nil
}

func frameContext(t *testing.T, tab context.Context, id target.ID) context.Context {
	ctx, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	return ctx
}

// shot writes a screenshot of tab as name.png under dir.
func shot(t *testing.T, tab context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
