package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// form posts a pay-page decision as a browser's form would.
func (s *stack) form(path, body string, header ...string) response {
	s.t.Helper()
	return s.do("POST", path, body, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

// checkPageHeaders holds a shop page to the room page's security headers.
func checkPageHeaders(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if nonce := attr(t, r.body, "nonce"); !strings.Contains(csp, "'nonce-"+nonce+"'") {
		t.Errorf("nonce %q not in CSP %q", nonce, csp)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(r.body, -1) {
		if !bytes.Contains(tag, []byte(` src="`)) {
			t.Errorf("inline script %s", tag)
		}
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", r.header)
	}
}

func TestShopPages(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ev := s.getPage("/events/gig")
	if ev.status != 200 || attr(t, ev.body, "data-event") != "gig" || attr(t, ev.body, "data-page") != "event" {
		t.Fatalf("event page: %d %s", ev.status, ev.body)
	}
	checkPageHeaders(t, ev)
	if _, err := time.Parse(time.RFC3339, attr(t, ev.body, "data-now")); err != nil {
		t.Errorf("data-now: %v", err)
	}
	for _, want := range []string{`aria-live="polite"`, `<label for="cg-email">`, `type="email"`, `lang="en"`, `name="viewport"`} {
		if !bytes.Contains(ev.body, []byte(want)) {
			t.Errorf("event page lacks %s", want)
		}
	}
	or := s.getPage("/orders/ord-anything")
	if or.status != 200 || attr(t, or.body, "data-order") != "ord-anything" || !bytes.Contains(or.body, []byte(`role="status"`)) {
		t.Fatalf("order page: %d %s", or.status, or.body)
	}
	checkPageHeaders(t, or)
	if r := s.do("HEAD", "/events/gig", ""); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}

	// The script and stylesheets: the room's CSS and the shop's own files,
	// long-cached under their content hash, gzipped on request.
	links := regexp.MustCompile(`(?:src|href)="(/(?:rooms|events)/_assets/[^"]+)"`).FindAllSubmatch(ev.body, -1)
	if len(links) != 3 {
		t.Fatalf("asset links %q", links)
	}
	for _, m := range links {
		link := string(m[1])
		plain := s.do("GET", link, "", "Accept-Encoding", "identity")
		if plain.status != 200 || len(plain.body) == 0 || !strings.Contains(plain.header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %v", link, plain.status, plain.header)
		}
		gz := s.do("GET", link, "", "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(bytes.NewReader(gz.body))
		if err != nil {
			t.Fatalf("%s: %v", link, err)
		}
		if unz, _ := io.ReadAll(zr); !bytes.Equal(unz, plain.body) {
			t.Errorf("%s: gzip body differs", link)
		}
	}

	// Ids outside the pattern name nothing: 404, as a page for browsers
	// and as the contract's error for API clients.
	for _, p := range []string{"/events/BAD", "/events/-x", "/orders/a_b", "/orders/" + strings.Repeat("a", 65)} {
		if r := s.getPage(p); r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "Not found") {
			t.Errorf("%s as a browser: %d %s", p, r.status, r.body)
		}
		if r := s.do("GET", p, "", "Accept", "application/json"); r.status != 404 || r.errorCode(t) != "not_found" {
			t.Errorf("%s as an API client: %d %s", p, r.status, r.body)
		}
	}
	for _, p := range []string{"/events/_assets/shop.js", "/events/_assets/shop.0000000000.js", "/events/_assets/shop.tmpl"} {
		if r := s.do("GET", p, ""); r.status != 404 || r.errorCode(t) != "not_found" {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

// TestShopPayFlow walks a fan from a hold through the sandbox's pay page
// to a paid order, with the webhook coming back over HTTP.
func TestShopPayFlow(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")
	r := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`)
	if r.status != 201 {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	holdID := r.json(t)["hold_id"].(string)
	order := s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
	orderID := order["order_id"].(string)
	payURL := order["payment"].(map[string]any)["redirect_url"].(string)
	payID := strings.TrimPrefix(payURL, "/pay/sandbox/")

	page := s.getPage(payURL)
	body := string(page.body)
	if page.status != 200 || !strings.Contains(body, "Sandbox payment — no real money") || !strings.Contains(body, "INR 3,000.00") {
		t.Fatalf("pay page: %d %s", page.status, body)
	}
	checkPageHeaders(t, page)
	for _, want := range []string{`action="/pay/sandbox/` + payID + `"`, `name="decision" value="approve"`, `name="decision" value="decline"`} {
		if !strings.Contains(body, want) {
			t.Errorf("pay page lacks %s", want)
		}
	}

	r = s.form(payURL, "decision=approve", "Sec-Fetch-Site", "same-origin", "Origin", s.srv.URL)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/orders/"+orderID+"?redirect_status=succeeded" {
		t.Fatalf("approve: %d %v %s", r.status, r.header, r.body)
	}
	if p, err := s.sandbox.Get(context.Background(), payID); err != nil || p.State != booking.PaymentSucceeded {
		t.Fatalf("sandbox: %+v %v", p, err)
	}
	if got := s.do("GET", "/api/v1/orders/"+orderID, "").json(t); got["status"] != "paid" {
		t.Fatalf("order after approval: %v", got)
	}

	// Decided: the page says so and links to the order; a late decline
	// (another tab, the back button) changes nothing.
	body = string(s.getPage(payURL).body)
	if strings.Contains(body, "<form") || !strings.Contains(body, "This payment was approved.") || !strings.Contains(body, `href="/orders/`+orderID+`?redirect_status=succeeded"`) {
		t.Errorf("decided pay page: %s", body)
	}
	if r := s.form(payURL, "decision=decline"); r.status != http.StatusSeeOther {
		t.Errorf("decline after approve: %d %s", r.status, r.body)
	}
	if p, _ := s.sandbox.Get(context.Background(), payID); p.State != booking.PaymentSucceeded {
		t.Errorf("a decline flipped an approved payment: %s", p.State)
	}
	if got := s.do("GET", "/api/v1/orders/"+orderID, "").json(t); got["status"] != "paid" {
		t.Errorf("order after a late decline: %v", got)
	}
	if _, _, sold := s.inventory(); sold != 2 {
		t.Errorf("sold %d", sold)
	}
}

func TestShopPayDecline(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	fan := s.fan("launch")
	holdID := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`).json(t)["hold_id"].(string)
	order := s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
	payURL := order["payment"].(map[string]any)["redirect_url"].(string)
	r := s.form(payURL, "decision=decline")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/orders/"+order["order_id"].(string)+"?redirect_status=failed" {
		t.Fatalf("decline: %d %v", r.status, r.header)
	}
	if got := s.do("GET", "/api/v1/orders/"+order["order_id"].(string), "").json(t); got["status"] != "failed" {
		t.Errorf("order after a decline: %v", got)
	}
	if body := string(s.getPage(payURL).body); !strings.Contains(body, "This payment was declined.") {
		t.Errorf("declined pay page: %s", body)
	}
}

// payStack is a gateway with only the sandbox provider, whose webhooks go
// to a receiver that takes anything: the pay page on its own, without the
// booking core's answers in the way.
type payStack struct {
	*stack
	sb *booking.Sandbox
}

func newPayStack(t *testing.T) payStack {
	t.Helper()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(ok.Close)
	sb, err := booking.NewSandbox(queuetest.Run(t).Client(t), booking.SandboxConfig{
		Secret:     []byte(sandboxSecret),
		PayURL:     func(id string) string { return "/pay/sandbox/" + id },
		WebhookURL: ok.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{AdminToken: adminToken, Ready: func(context.Context) error { return nil }, Sandbox: sb}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return payStack{stack: &stack{t: t, srv: srv}, sb: sb}
}

func (s payStack) start(amount int64, currency, returnURL string) string {
	s.t.Helper()
	p, err := s.sb.Start(context.Background(), booking.PaymentRequest{Event: "gig", OrderID: "ord-1", AmountMinor: amount,
		Currency: currency, Description: `2 × General <b>"VIP"</b>`, ReturnURL: returnURL})
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ID
}

func TestSandboxPayPage(t *testing.T) {
	t.Parallel()
	s := newPayStack(t)
	for _, tc := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{300000, "INR", "INR 3,000.00"},
		{5, "USD", "USD 0.05"},
		{0, "EUR", "EUR 0.00"},
		{1500, "JPY", "JPY 1,500"},
		{1234567, "KWD", "KWD 1,234.567"},
		{123456789012, "INR", "INR 1,234,567,890.12"},
	} {
		body := string(s.getPage("/pay/sandbox/" + s.start(tc.amount, tc.currency, "/orders/ord-1")).body)
		if !strings.Contains(body, ">Pay "+tc.want+"</h1>") {
			t.Errorf("%d %s: want %q in %s", tc.amount, tc.currency, tc.want, body)
		}
		if !strings.Contains(body, "2 × General &lt;b&gt;&#34;VIP&#34;&lt;/b&gt;") {
			t.Errorf("description not escaped: %s", body)
		}
	}

	// Bad decisions, unknown and invalid payments: the contract's errors,
	// and the payment stays pending.
	id := s.start(100, "INR", "/orders/ord-1")
	for _, tc := range []struct {
		name, path, body string
		header           []string
		status           int
		code             string
	}{
		{"bad decision", "/pay/sandbox/" + id, "decision=maybe", nil, 400, "invalid_request"},
		{"no decision", "/pay/sandbox/" + id, "", nil, 400, "invalid_request"},
		{"decision in the query only", "/pay/sandbox/" + id + "?decision=approve", "x=1", nil, 400, "invalid_request"},
		{"huge form", "/pay/sandbox/" + id, "decision=approve&x=" + strings.Repeat("a", 2000), nil, 400, "invalid_request"},
		{"cross-site", "/pay/sandbox/" + id, "decision=approve", []string{"Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
		{"other origin", "/pay/sandbox/" + id, "decision=approve", []string{"Origin", "https://evil.example"}, 403, "forbidden"},
		{"unknown payment", "/pay/sandbox/pay-nosuchpayment", "decision=approve", nil, 404, "not_found"},
		{"invalid id", "/pay/sandbox/PAY_1", "decision=approve", nil, 404, "not_found"},
		{"invalid id, dash", "/pay/sandbox/-pay", "decision=approve", nil, 404, "not_found"},
	} {
		r := s.form(tc.path, tc.body, tc.header...)
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	if r := s.do("POST", "/pay/sandbox/"+id, `{"decision":"approve"}`, "Content-Type", "application/json"); r.status != 400 {
		t.Errorf("JSON body: %d %s", r.status, r.body)
	}
	if p, _ := s.sb.Get(context.Background(), id); p.State != booking.PaymentPending {
		t.Errorf("refused decisions changed the payment: %s", p.State)
	}
	for _, p := range []string{"/pay/sandbox/pay-nosuchpayment", "/pay/sandbox/PAY_1"} {
		if r := s.getPage(p); r.status != 404 || !strings.Contains(string(r.body), "There is nothing at this address.") {
			t.Errorf("GET %s as a browser: %d %s", p, r.status, r.body)
		}
		if r := s.do("GET", p, ""); r.status != 404 || r.errorCode(t) != "not_found" {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	// Same-site posts pass, as do clients that send neither header.
	if r := s.form("/pay/sandbox/"+id, "decision=approve", "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Errorf("same-origin approve: %d %s", r.status, r.body)
	}
	// Without the booking core, the ticket and order pages are not served.
	if r := s.getPage("/events/gig"); r.status != 404 {
		t.Errorf("event page without booking: %d", r.status)
	}
}

// TestSandboxReturnTarget: after deciding, the fan goes to the order page
// on this site, and never anywhere else, whatever the return URL says.
func TestSandboxReturnTarget(t *testing.T) {
	t.Parallel()
	s := newPayStack(t)
	host := strings.TrimPrefix(s.srv.URL, "http://")
	// A return URL on this site carries the decision (redirect_status).
	for _, tc := range []struct{ returnURL, want string }{
		{"/orders/ord-1", "/orders/ord-1?redirect_status=failed"},
		{s.srv.URL + "/orders/ord-1", "/orders/ord-1?redirect_status=failed"},
		{"https://" + host + "/orders/ord-1?x=1#f", "/orders/ord-1?redirect_status=failed&x=1"},
		{"https://evil.example/orders/ord-1", "/"},
		{"//evil.example/orders/ord-1", "/"},
		{"/\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"http://user@" + host + "/orders/ord-1", "/"},
		{"/rooms/launch", "/"},
		{"", "/"},
	} {
		id := s.start(100, "INR", tc.returnURL)
		r := s.form("/pay/sandbox/"+id, "decision=decline")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != tc.want {
			t.Errorf("return URL %q: %d, Location %q, want %q", tc.returnURL, r.status, r.header.Get("Location"), tc.want)
		}
		body := s.getPage("/pay/sandbox/" + id).body
		if got := attr(t, body, "class=\"button\" href"); got != tc.want {
			t.Errorf("return URL %q: page links %q, want %q", tc.returnURL, got, tc.want)
		}
	}
}

// TestBrowserShop walks a fan through the shop in a real Chromium: turned
// away from holding before being admitted, sent through the waiting room
// and back, a hold with its countdown that survives a reload, a release, a
// new hold, the sandbox's pay page, and the order page until it says paid.
// Any script error or CSP violation on the way fails it.
func TestBrowserShop(t *testing.T) {
	tab := startBrowser(t)
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
		t.Fatal(err)
	}

	s := newShop(t)
	steps := tabSteps{t, tab}
	run, until := steps.run, steps.until
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('`+id+`').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	noProblems := func(where string) {
		t.Helper()
		problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: %q %v", where, problems, err)
		}
	}
	status := `document.getElementById('cg-status').textContent`

	// Not admitted yet: the page shows the tickets, and a hold sends the fan
	// to the waiting room.
	run("open the event page", chromedp.Navigate(s.srv.URL+"/events/gig"))
	until("ticket types", `!!document.querySelector('#cg-types form button')`)
	if price := text("cg-types"); !strings.Contains(price, "General") || !strings.Contains(price, "1,500.00") || !strings.Contains(price, "10 available") {
		t.Errorf("ticket types show %q", price)
	}
	run("hold without admission", chromedp.Click(chromedp.CSS(`#cg-types button`)))
	until("the waiting-room link", `!!document.querySelector('#cg-status a[href="/rooms/launch?return_to=%2Fevents%2Fgig"]')`)
	noProblems("event page")

	// Through the (passthrough) waiting room, and back with an admission.
	run("go to the waiting room", chromedp.Click(chromedp.CSS(`#cg-status a`)))
	until("back on the event page", `location.pathname === '/events/gig' && !!document.querySelector('#cg-types form button')`)

	hold := func() {
		t.Helper()
		run("choose 2", chromedp.SetValue(chromedp.ID("cg-qty-ga"), "2"))
		run("hold", chromedp.Click(chromedp.CSS(`#cg-types button`)))
		until("the hold", `!document.getElementById('cg-hold').hidden && /^Time left to pay: (9|10):\d\d$/.test(document.getElementById('cg-countdown').textContent)`)
	}
	hold()
	if total := text("cg-total"); !strings.Contains(total, "3,000.00") {
		t.Errorf("total %q", total)
	}
	if _, held, _ := s.inventory(); held != 2 {
		t.Errorf("held %d", held)
	}
	// A reload keeps the hold on screen; Release gives the tickets back.
	run("reload", chromedp.Reload())
	until("the hold after a reload", `!document.getElementById('cg-hold').hidden && /still held/.test(`+status+`)`)
	run("release", chromedp.Click(chromedp.ID(`cg-release`)))
	until("released", `document.getElementById('cg-hold').hidden && /released/.test(`+status+`)`)
	if a, held, _ := s.inventory(); a != 10 || held != 0 {
		t.Errorf("after release: available %d held %d", a, held)
	}
	noProblems("event page, admitted")

	// Hold again and pay on the sandbox's page.
	hold()
	run("email", chromedp.SendKeys(chromedp.ID("cg-email"), "fan@example.com"))
	run("pay", chromedp.Click(chromedp.CSS(`#cg-pay button[type=submit]`)))
	until("the pay page", `location.pathname.indexOf('/pay/sandbox/pay-') === 0 && document.readyState === 'complete' &&
		/Sandbox payment — no real money/.test(document.body.textContent) && /Pay ₹3,000\.00/.test(document.body.textContent)`)
	noProblems("pay page")
	run("approve", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	until("the order page says paid", `location.pathname.indexOf('/orders/ord-') === 0 && /^Confirmed!/.test(`+status+`)`)
	if _, _, sold := s.inventory(); sold != 2 {
		t.Errorf("sold %d", sold)
	}
	if items := text("cg-items"); !strings.Contains(items, "2 × General (₹1,500.00 each)") {
		t.Errorf("order items %q", items)
	}
	noProblems("order page")
}

// TestBrowserShopPurchaseLimit: the event page's quantity pickers offer no
// more than the per-admission limit leaves. Tickets this admission bought
// meanwhile (here, through the API, as another tab would) are learned from
// the 409 limit_reached answer: the page then offers what is left and says
// why, gives a released hold's tickets back to the count, and once nothing
// is left offers no picker at all; a new visit knows it from the event's
// answer.
func TestBrowserShopPurchaseLimit(t *testing.T) {
	tab := startBrowser(t)
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
		t.Fatal(err)
	}
	s := newStackWith(t, stackOptions{booking: true})
	s.putRoom("launch", `{"passthrough": true}`)
	if r := s.admin("PUT", "/admin/v1/events/gig", `{"room": "launch", "hold_seconds": 600, "per_admission_limit": 4,
		"ticket_types": [{"id": "ga", "name": "General", "capacity": 10, "price_minor": 150000, "currency": "INR", "per_order_limit": 4},
		                 {"id": "vip", "name": "VIP", "capacity": 10, "price_minor": 500000, "currency": "INR", "per_order_limit": 2}]}`); r.status != http.StatusCreated {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	fan := s.fan("launch")
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{Name: "cg_a_launch", Value: fan, URL: s.srv.URL}); err != nil {
		t.Fatal(err)
	}
	buy := func(typ string, n int) {
		t.Helper()
		r := s.as(fan, "POST", "/api/v1/events/gig/holds", fmt.Sprintf(`{"ticket_type":%q,"quantity":%d}`, typ, n))
		if r.status != http.StatusCreated {
			t.Fatalf("hold %d %s: %d %s", n, typ, r.status, r.body)
		}
		o := s.as(fan, "POST", "/api/v1/holds/"+r.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`).json(t)
		if _, err := s.sandbox.Decide(context.Background(), o["payment"].(map[string]any)["id"].(string), true); err != nil {
			t.Fatal(err)
		}
	}
	steps := tabSteps{t, tab}
	run, until := steps.run, steps.until
	offered := func(typ string) string {
		return `(document.getElementById('cg-qty-` + typ + `') || {options: []}).options.length`
	}
	status := `document.getElementById('cg-status').textContent`
	holdBtn := func(typ string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(`form[aria-labelledby="cg-type-` + typ + `"] button`))
	}

	run("open the event page", chromedp.Navigate(s.srv.URL+"/events/gig"))
	until("pickers up to each type's per-order limit", offered("ga")+` === 4 && `+offered("vip")+` === 2`)
	until("the limit stated", `document.getElementById('cg-limit').textContent === 'One visitor may buy up to 4 tickets at this event, over all their orders.' && !document.getElementById('cg-limit').hidden`)

	// Three tickets bought with this admission elsewhere: the page does not
	// know yet, and learns it from the refusal.
	buy("ga", 3)
	run("choose 2", chromedp.SetValue(chromedp.ID("cg-qty-ga"), "2"))
	run("hold 2", holdBtn("ga"))
	until("the refusal explained", status+` === 'One visitor may buy up to 4 tickets at this event, over all their orders. You hold or bought 3 of them, so you may hold 1 more.'`)
	until("pickers of what is left", offered("ga")+` === 1 && `+offered("vip")+` === 1`)

	// The one left held, then released: it is offered again.
	run("hold 1", holdBtn("vip"))
	until("the hold", `!document.getElementById('cg-hold').hidden`)
	run("release", chromedp.Click(chromedp.ID(`cg-release`)))
	until("released", `document.getElementById('cg-hold').hidden && /released/.test(`+status+`)`)
	until("the released ticket offered again", offered("ga")+` === 1 && `+offered("vip")+` === 1`)

	// The last one bought elsewhere too: nothing more is offered.
	buy("vip", 1)
	run("hold the last", holdBtn("ga"))
	until("the limit reached, said", status+` === 'One visitor may buy up to 4 tickets at this event, over all their orders. You hold or bought that many already, so you cannot hold more.'`)
	until("no picker left", `!document.querySelector('#cg-types select') && !document.querySelector('#cg-types button')`)
	// A new visit knows from the event's answer, before any refusal.
	run("reload", chromedp.Reload())
	until("the limit reached, said at once", `document.readyState === 'complete' && `+status+` === 'One visitor may buy up to 4 tickets at this event, over all their orders. You hold or bought that many already, so you cannot hold more.'`)
	until("no picker after the reload", `!!document.querySelector('#cg-types form') && !document.querySelector('#cg-types select')`)
	if tot := s.admin("GET", "/admin/v1/events/gig", "").json(t)["totals"].(map[string]any); tot["sold"] != 4.0 || tot["held"] != 0.0 {
		t.Errorf("totals %v, want 4 sold and none held", tot)
	}
	problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
	if err != nil || len(problems) > 0 {
		t.Errorf("the page's problems: %q %v", problems, err)
	}
}
