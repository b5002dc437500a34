package gateway_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserShopNames walks an admitted fan through a named event's shop
// in a real Chromium, at a desktop's and a phone's size: the pages name the
// event and the ticket type, never their ids; "available" counts the fan's
// own hold at once; the Pay button is on screen after the hold, without
// scrolling; the ticket, pay and order pages write money the same way; and
// the paid order leads back to the event. Any script error or CSP
// violation fails it. Screenshots go to a folder under the test's temp dir
// (or $CROWDGATE_SCREENSHOTS, to keep them), logged.
func TestBrowserShopNames(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)
	s := newShop(t)

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)
			// Three types, so that on a phone the hold's section starts
			// below the fold.
			event := "fest-" + size.name
			if r := s.admin("PUT", "/admin/v1/events/"+event, `{"name": "Sunburn Goa 2026", "room": "launch", "hold_seconds": 600,
				"ticket_types": [{"id": "ga", "name": "General", "capacity": 10, "price_minor": 150000, "currency": "INR", "per_order_limit": 4},
				                 {"id": "vip", "name": "VIP lounge", "capacity": 5, "price_minor": 900000, "currency": "INR", "per_order_limit": 2},
				                 {"id": "kid", "name": "Under 12", "capacity": 5, "price_minor": 50000, "currency": "INR", "per_order_limit": 2}]}`); r.status != http.StatusCreated {
				t.Fatalf("put event: %d %s", r.status, r.body)
			}
			if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{Name: "cg_a_launch", Value: s.fan("launch"), URL: s.srv.URL}); err != nil {
				t.Fatal(err)
			}
			walkShopNames(t, b, s, event, dir, size.name)
		})
	}
}

// walkShopNames is TestBrowserShopNames's walk in one tab.
func walkShopNames(t *testing.T, b tabSteps, s *stack, event, dir, size string) {
	shot := func(name string) {
		t.Helper()
		// What the fan sees, not the whole page: the screen is the point.
		png, err := chromedp.Run(b.tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noProblems := func(where string) {
		t.Helper()
		problems, err := chromedp.Run(b.tab, chromedp.Evaluate[[]string](`window.__problems || []`))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: %q %v", where, problems, err)
		}
	}
	// inr is how the page's own locale writes rupees: the one format every
	// shop page must use.
	const inr = `(function (n) { return new Intl.NumberFormat(document.documentElement.lang, {style: 'currency', currency: 'INR'}).format(n); })`
	const left = `document.querySelector('form[aria-labelledby="cg-type-ga"] .left').textContent`
	const noIDs = `!/× (ga|vip|kid)\b/.test(document.body.textContent) && document.body.textContent.indexOf('` + "fest-" + `') < 0`

	b.run("open the ticket page", chromedp.Navigate(s.srv.URL+"/events/"+event))
	b.until("the event's name, and its types'", `document.getElementById('cg-title').textContent === 'Tickets: Sunburn Goa 2026' && document.title === 'Tickets: Sunburn Goa 2026' &&
		!!document.getElementById('cg-type-ga') && document.getElementById('cg-type-ga').textContent === 'General' && `+left+` === '10 available'`)
	b.until("prices in the page's format", `document.querySelector('form[aria-labelledby="cg-type-ga"] .price').textContent === `+inr+`(1500)`)
	shot("names-event")

	b.run("choose 2", chromedp.SetValue(chromedp.ID("cg-qty-ga"), "2"))
	b.run("hold", chromedp.Click(chromedp.CSS(`form[aria-labelledby="cg-type-ga"] button`)))
	b.until("the hold, by the type's name", `!document.getElementById('cg-hold').hidden && document.getElementById('cg-items').textContent === '2 × General (' + `+inr+`(1500) + ' each)' &&
		document.getElementById('cg-total').textContent === `+inr+`(3000) && `+noIDs)
	b.until("available counts the hold", left+` === '8 available'`)
	b.until("Pay on screen without scrolling", `(function () {
		var r = document.querySelector('#cg-pay button[type=submit]').getBoundingClientRect();
		return r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
	})()`)
	shot("names-hold")
	noProblems("ticket page")

	b.run("pay", chromedp.Click(chromedp.CSS(`#cg-pay button[type=submit]`)))
	b.until("the pay page, in the same money format", `location.pathname.indexOf('/pay/sandbox/') === 0 && document.readyState === 'complete' &&
		document.querySelector('h1').textContent === 'Pay ' + `+inr+`(3000) && /2 × General, Sunburn Goa 2026/.test(document.body.textContent)`)
	shot("names-pay")
	noProblems("pay page")

	b.run("approve", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	b.until("the paid order, by name, in the same money format", `location.pathname.indexOf('/orders/') === 0 && /^Confirmed!/.test(document.getElementById('cg-status').textContent) &&
		document.getElementById('cg-event').textContent === 'Sunburn Goa 2026' && !document.getElementById('cg-event').hidden &&
		document.getElementById('cg-items').textContent === '2 × General (' + `+inr+`(1500) + ' each)' &&
		document.getElementById('cg-total').textContent === `+inr+`(3000) && `+noIDs)
	b.until("a way on", `!document.getElementById('cg-onward-line').hidden && document.getElementById('cg-onward').getAttribute('href') === '/events/`+event+`' &&
		document.getElementById('cg-onward').getBoundingClientRect().bottom <= window.innerHeight`)
	shot("names-order")
	noProblems("order page")

	b.run("go on", chromedp.Click(chromedp.ID("cg-onward")))
	b.until("back at the event, the bought tickets gone", `location.pathname === '/events/`+event+`' && !!document.getElementById('cg-type-ga') && `+left+` === '8 available'`)
	noProblems("back at the event")
}
