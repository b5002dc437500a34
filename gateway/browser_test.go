package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// findChromium returns the browser to test the page with, or "".
func findChromium() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// watchProblems is run by the browser before any of the page's own code,
// and records what would otherwise only reach the console: script errors
// and Content-Security-Policy violations (a blocked asset, style or socket).
const watchProblems = `window.__problems = [];
addEventListener('error', function (e) { __problems.push('error: ' + e.message); });
addEventListener('unhandledrejection', function (e) { __problems.push('rejection: ' + e.reason); });
addEventListener('securitypolicyviolation', function (e) { __problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI); });`

// TestBrowserWaitingRoom walks a fan through the waiting-room page in a real
// Chromium against the whole stack in-process: they see their place, see it
// fall, keep it over a reload and in a second tab, and once admitted land on
// the protected page carrying a valid admission cookie. It runs once with
// live updates over the WebSocket, and once on a server without the socket
// route, where the page must fall back to polling on its own. Admissions are
// made by hand (no controller loop), so the test decides who gets in.
func TestBrowserWaitingRoom(t *testing.T) {
	browser := startBrowser(t)
	t.Run("websocket", func(t *testing.T) { walkFan(t, browser, newStackWith(t, stackOptions{sockets: true}), "ws") })
	t.Run("polling", func(t *testing.T) { walkFan(t, browser, newStack(t), "poll") })
}

// startBrowser starts a headless Chromium for one test (skipping the test
// without one, unless in CI, which must run it) and returns its first tab.
// One deadline covers the whole browser, so a hung step fails the test
// instead of hanging it; the browser's own output is logged if it fails.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run the browser tests: install chromium")
		}
		t.Skip("no chromium binary found; apt-get install chromium to run this test")
	}
	var browserLog lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.CombinedOutput(&browserLog),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
	tab, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
		if t.Failed() {
			t.Logf("browser output:\n%s", browserLog.String())
		}
	})
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v\n%s", chromium, err, browserLog.String())
	}
	return tab
}

// tabSteps runs a test's steps in one tab; a step that fails ends the test
// with where the tab was and what it showed.
type tabSteps struct {
	t   *testing.T
	tab context.Context
}

// run does actions, described by what.
func (b tabSteps) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.tab, actions...); err != nil {
		b.t.Fatalf("%s: %v (%s)", what, err, b.state())
	}
}

// until waits up to 10 s for a JavaScript condition, across navigations
// (which abort an evaluation under way).
func (b tabSteps) until(what, cond string) {
	b.t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, err = chromedp.Run(b.tab, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
	}
	b.t.Fatalf("%s: not within 10 s (%v; %s)", what, err, b.state())
}

// text is what the element of id shows: its text, or "" while hidden.
func (b tabSteps) text(id string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[string](`(function (el) { return el.hidden ? '' : el.textContent; })(document.getElementById('`+id+`'))`))
	if err != nil {
		b.t.Fatalf("read %s: %v", id, err)
	}
	return v
}

// state is where the tab is and what it shows (the fans' status line when
// there is one).
func (b tabSteps) state() string {
	where, _ := chromedp.Run(b.tab, chromedp.Location())
	shown, _ := chromedp.Run(b.tab, chromedp.Evaluate[string](`(document.getElementById('cg-status') || document.body).innerText`))
	return fmt.Sprintf("at %s, showing %q", where, shown)
}

// walkFan is the fan's walk through the page on stack s, in a fresh browser
// context (its own cookies) of browser; transport is how the page must be
// getting its updates ("ws" or "poll").
func walkFan(t *testing.T, browser context.Context, s *stack, transport string) {
	// A rate for the admission script to spend, but nobody runs the
	// controller's loop: only this test's Admit calls let anyone in, and
	// each says how many.
	s.putRoom("launch", `{"admit_per_minute": 60000, "title": "Launch day"}`)
	for range 2 {
		if r := s.do("POST", "/api/v1/rooms/launch/join", ""); r.status != 200 {
			t.Fatalf("join ahead: %d %s", r.status, r.body)
		}
	}
	admit := func(n int) {
		t.Helper()
		a, err := s.store.Admit(context.Background(), "launch", n)
		if err != nil || len(a.IDs) != n {
			t.Fatalf("admit %d: %v %v", n, a.IDs, err)
		}
	}

	// The site behind the waiting room: /target is the protected page and
	// reports the admission cookie it receives; the rest is Crowdgate.
	arrived := make(chan string, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		v := ""
		if c, err := r.Cookie("cg_a_launch"); err == nil {
			v = c.Value
		}
		select {
		case arrived <- v:
		default:
		}
		fmt.Fprint(w, "<!doctype html><title>Checkout</title><p>Welcome in.")
	})
	mux.Handle("/", s.srv.Config.Handler)
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	pageURL := site.URL + "/rooms/launch?return_to=%2Ftarget"

	tab, cancelTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelTab()
	start := time.Now()

	open := func(ctx context.Context) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(pageURL)); err != nil {
			t.Fatalf("open the page: %v", err)
		}
	}
	// place waits until the tab shows the fan waiting at position want,
	// and returns the queue id it shows.
	place := func(ctx context.Context, want int, within time.Duration) string {
		t.Helper()
		var (
			id       string
			err      error
			deadline = time.Now().Add(within)
		)
		for {
			id, err = chromedp.Run(ctx, chromedp.Poll[string](
				`document.body.dataset.status === 'waiting' && document.getElementById('cg-position').textContent === '`+strconv.Itoa(want)+`' && document.body.dataset.queueId`,
				chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
			// A reload destroys the document the poll ran in; on a loaded
			// box the poll can start before chromedp knows the new one.
			if err == nil || !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.status + ' ' + document.getElementById('cg-position').textContent + ' ' + (document.body.dataset.transport || '')`))
			t.Fatalf("after %v: waiting for position %d, the page shows %q: %v", time.Since(start).Round(time.Millisecond), want, shown, err)
		}
		t.Logf("%v: position %d shown", time.Since(start).Round(time.Millisecond), want)
		return id
	}
	noProblems := func(ctx context.Context, where string) {
		t.Helper()
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__problems`))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: %q %v", where, problems, err)
		}
	}

	open(tab)
	id := place(tab, 3, 10*time.Second)
	shown, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`['cg-ahead', 'cg-eta', 'cg-live'].map(function (id) {
		var el = document.getElementById(id);
		return id === 'cg-live' ? el.getAttribute('aria-live') : el.textContent;
	})`))
	if err != nil || len(shown) != 3 || shown[0] != "2" || shown[1] == "" || shown[1] == "–" || shown[2] != "polite" {
		t.Errorf("people ahead, ETA, live region: %q %v", shown, err)
	}

	// The head of the line is admitted: the place falls, pushed over the
	// socket or found by polling (within a poll period, ~5 s).
	admit(1)
	place(tab, 2, 15*time.Second)
	if got, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.transport || ''`)); got != transport {
		t.Errorf("the page gets its updates by %q, want %q", got, transport)
	}

	// A reload is the same place.
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if again := place(tab, 2, 5*time.Second); again != id {
		t.Fatalf("reload: queue id %s, was %s", again, id)
	}
	noProblems(tab, "first tab")

	// So is a second tab of the same browser (context: the same cookies).
	tab2, cancelTab2 := chromedp.NewContext(tab)
	open(tab2)
	if other := place(tab2, 2, 5*time.Second); other != id {
		t.Fatalf("second tab: queue id %s, was %s", other, id)
	}
	noProblems(tab2, "second tab")
	cancelTab2()

	// The fan's turn: the page stores the admission cookie and goes on to
	// return_to, where the origin receives the cookie.
	admit(2)
	var token string
	select {
	case token = <-arrived:
	case <-time.After(15 * time.Second):
		where, _ := chromedp.Run(tab, chromedp.Location())
		t.Fatalf("after admission the browser is still at %s", where)
	}
	// The origin has answered; the browser commits the navigation a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		where, err := chromedp.Run(tab, chromedp.Location())
		if err == nil && where == site.URL+"/target" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("landed on %q (%v), want /target", where, err)
		}
	}
	p, err := s.keys.Verify(token, "launch")
	if err != nil || p.Subject != id {
		t.Fatalf("the cookie the origin got (%.20q...) does not admit queue id %s: %+v %v", token, id, p, err)
	}
	t.Logf("over %s: fan admitted and redirected %v after the page opened", transport, time.Since(start).Round(time.Millisecond))
}

// lockedBuffer collects the browser's output, written from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// screenshotDir is where a browser test writes its screenshots: a folder
// under the test's temp dir, or $CROWDGATE_SCREENSHOTS to keep them. The
// path is logged.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CROWDGATE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// screenSizes are the window sizes browser tests run at: a desktop's and
// a phone's.
var screenSizes = []struct {
	name          string
	width, height int64
	phone         bool
}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}
