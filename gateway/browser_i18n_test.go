package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLanguages renders the fans' pages in a real Chromium, at a
// desktop's and a phone's size: the waiting room of an Arabic room, right
// to left and mirrored, its language switch naming each language in
// itself, the same place in Tamil once the fan picks it there; then the
// shop of an event whose room is Arabic, from the ticket page through a
// hold and the sandbox's pay page to the paid order, each page in Arabic,
// and the ticket page in Tamil when asked for. Any script error or CSP
// violation fails it. Screenshots of each page go to a folder under the
// test's temp dir (or $CROWDGATE_SCREENSHOTS, to keep them), logged.
func TestBrowserLanguages(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)

	s := newShop(t)
	s.putRoom("launch", `{"passthrough": true, "language": "ar"}`) // the event's room: admits at once

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			_, b := sizedTab(t, browser, size.width, size.height, size.phone)
			// Each size has its own line (nobody leaves it: no controller
			// runs) and its own event on sale through the Arabic room.
			line, event := "rush-"+size.name, "gig-"+size.name
			s.putRoom(line, `{"title": "Coldplay", "language": "ar"}`)
			if r := s.admin("PUT", "/admin/v1/events/"+event, eventDoc); r.status != http.StatusCreated {
				t.Fatalf("put event: %d %s", r.status, r.body)
			}
			walkLanguages(t, b, s, line, event, dir, size.name)
		})
	}
}

// walkLanguages is TestBrowserLanguages's walk in one tab, through the
// Arabic room's line and the event's shop.
func walkLanguages(t *testing.T, b tabSteps, s *stack, line, event, dir, size string) {
	room, roomTa := table(t, "pages/i18n", "ar"), table(t, "pages/i18n", "ta")
	shop, shopTa := table(t, "pages/shop/i18n", "ar"), table(t, "pages/shop/i18n", "ta")
	js := func(v any) string { // a Go value as a JavaScript literal
		out, _ := json.Marshal(v)
		return string(out)
	}
	snap := func(name string) { t.Helper(); shot(t, b.tab, dir, name+"-"+size) }
	noProblems := func(where string) {
		t.Helper()
		problems, err := chromedp.Run(b.tab, chromedp.Evaluate[[]string](`window.__problems || []`))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: %q %v", where, problems, err)
		}
	}
	// rtl is true when the page is laid out right to left: its document
	// says so, and so do the computed styles the layout follows.
	const rtl = `document.documentElement.dir === 'rtl' && getComputedStyle(document.body).direction === 'rtl' && getComputedStyle(document.querySelector('main')).direction === 'rtl'`
	const ltr = `document.documentElement.dir === 'ltr' && getComputedStyle(document.body).direction === 'ltr'`
	rect := func(sel string) string { return `document.querySelector(` + js(sel) + `).getBoundingClientRect()` }

	// The Arabic room: waiting, in Arabic, mirrored: the first figure (the
	// place) is the rightmost, the language switch sits at the left.
	b.run("open the Arabic room", chromedp.Navigate(s.srv.URL+"/rooms/"+line))
	b.until("waiting, in Arabic", `document.body.dataset.status === 'waiting' && `+rtl+
		` && document.getElementById('cg-state').textContent === `+js(room["state_waiting"])+
		` && document.getElementById('cg-position').textContent === new Intl.NumberFormat('ar').format(1)`)
	b.until("mirrored", rect(".stats .big")+`.left > `+rect(".stats > div:nth-child(2)")+`.left && `+
		rect(".langs summary")+`.left < `+rect("main")+`.left + 50`)
	snap("room-ar")

	// The switch names each language in itself, in its own direction.
	b.run("open the language switch", chromedp.Click(chromedp.CSS(".langs summary")))
	b.until("every language in itself", `(function () {
		var names = {}; document.querySelectorAll('.langs a').forEach(function (a) { names[a.lang] = a.textContent + '/' + a.dir; });
		return names.ar === 'العربية/rtl' && names.ta === 'தமிழ்/ltr' && names.bn === 'বাংলা/ltr' && names.de === 'Deutsch/ltr' &&
			Object.keys(names).length === 14 && document.querySelector('.langs a[lang=ta]').getBoundingClientRect().width > 0;
	})()`)
	snap("room-ar-languages")

	// Tamil, picked there: the same place, left to right.
	b.run("pick Tamil", chromedp.Click(chromedp.CSS(`.langs a[lang=ta]`)))
	b.until("waiting, in Tamil", `location.search === '?lang=ta' && document.body.dataset.status === 'waiting' && `+ltr+
		` && document.getElementById('cg-state').textContent === `+js(roomTa["state_waiting"])+
		` && document.getElementById('cg-position').textContent === new Intl.NumberFormat('ta').format(1)`)
	b.until("not mirrored", rect(".stats .big")+`.left < `+rect(".stats > div:nth-child(2)")+`.left`)
	snap("room-ta")
	noProblems("waiting room")

	// The shop, in its room's Arabic: the count of what is left in the
	// plural form Arabic gives 10, the quantity's label right of its picker.
	available := `new Intl.PluralRules('ar').select(10) === 'few' && document.querySelector('#cg-types .left').textContent === ` +
		js(shop["available.few"]) + `.replace('{n}', new Intl.NumberFormat('ar').format(10))`
	b.run("open the ticket page", chromedp.Navigate(s.srv.URL+"/events/"+event))
	b.until("the ticket page, in Arabic", `!!document.querySelector('#cg-types form button') && `+rtl+
		` && document.getElementById('cg-title').textContent === `+js(strings.ReplaceAll(shop["event_heading"], "{event}", event))+` && `+available)
	b.until("its form mirrored", rect(`label[for=cg-qty-ga]`)+`.left > `+rect(`#cg-qty-ga`)+`.left`)
	snap("shop-ar")

	// Holding needs an admission: the page says so in Arabic and links to
	// the (passthrough) waiting room, which sends the fan straight back.
	b.run("hold, not admitted", chromedp.Click(chromedp.CSS(`#cg-types button`)))
	b.until("sent to the waiting room", `document.getElementById('cg-status').firstChild.textContent === `+js(shop["admit_first"])+
		` && document.querySelector('#cg-status a').textContent === `+js(shop["to_room"]))
	b.run("go to the waiting room", chromedp.Click(chromedp.CSS(`#cg-status a`)))
	b.until("back, admitted", `location.pathname === '/events/`+event+`' && !!document.querySelector('#cg-types form button')`)
	b.run("choose 2", chromedp.SetValue(chromedp.ID("cg-qty-ga"), "2"))
	b.run("hold", chromedp.Click(chromedp.CSS(`#cg-types button`)))
	b.until("held, in Arabic", `!document.getElementById('cg-hold').hidden && document.getElementById('cg-hold-title').textContent === `+js(shop["hold_title"])+
		` && document.getElementById('cg-countdown').textContent.indexOf(`+js(strings.TrimSuffix(shop["time_left"], "{t}"))+`) === 0`)
	b.until("Pay on screen", `(function () { var r = document.querySelector('#cg-pay button[type=submit]').getBoundingClientRect(); return r.width > 0 && r.bottom > 0; })()`)
	snap("shop-ar-hold")
	noProblems("ticket page")

	b.run("pay", chromedp.Click(chromedp.CSS(`#cg-pay button[type=submit]`)))
	b.until("the pay page, in Arabic", `location.pathname.indexOf('/pay/sandbox/') === 0 && document.readyState === 'complete' && `+rtl+
		` && document.querySelector('.sandbox').textContent === `+js(shop["pay_sandbox"]))
	snap("pay-ar")
	b.run("approve", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	b.until("paid, in Arabic", `location.pathname.indexOf('/orders/') === 0 && `+rtl+` && document.getElementById('cg-status').textContent === `+js(shop["order_paid"]))
	snap("order-ar")
	noProblems("pay and order pages")

	// An Indian language on the shop, asked for.
	b.run("open the ticket page in Tamil", chromedp.Navigate(s.srv.URL+"/events/"+event+"?lang=ta"))
	b.until("the ticket page, in Tamil", `!!document.querySelector('#cg-types .left') && `+ltr+
		` && document.getElementById('cg-title').textContent === `+js(strings.ReplaceAll(shopTa["event_heading"], "{event}", event)))
	snap("shop-ta")
	noProblems("ticket page in Tamil")
}
