package gateway_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"os"
	"strings"
	"testing"
)

// table reads a shipped string table (dir is pages/i18n or
// pages/shop/i18n), as the pages get it.
func table(t testing.TB, dir, lang string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dir + "/" + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s/%s.json: %v", dir, lang, err)
	}
	return m
}

// shipped are the languages the fans' pages speak.
var shipped = []string{"ar", "bn", "de", "en", "es", "fr", "gu", "hi", "kn", "ml", "mr", "pt", "ta", "te"}

// TestPageLanguageSwitch: the waiting room names every language in
// itself, in its own script and direction, keeps the fan's return_to, and
// a right-to-left language turns the whole page around.
func TestPageLanguageSwitch(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"language": "ar"}`)
	body := string(s.getPage("/rooms/launch?return_to=%2Ftarget").body)
	ar := table(t, "pages/i18n", "ar")
	for _, want := range []string{`<html lang="ar" dir="rtl">`, `<h2 id="cg-state">` + ar["state_joining"] + `</h2>`} {
		if !strings.Contains(body, want) {
			t.Errorf("Arabic room page lacks %s", want)
		}
	}
	for _, l := range shipped {
		dir := "ltr"
		if l == "ar" {
			dir = "rtl"
		}
		link := `<a href="?lang=` + l + `&amp;return_to=%2Ftarget" lang="` + l + `" dir="` + dir + `" hreflang="` + l + `"`
		name := html.EscapeString(table(t, "pages/i18n", l)["lang_name"])
		if !strings.Contains(body, link) || !strings.Contains(body, name+"</a>") {
			t.Errorf("the switch lacks %s, named %q", l, name)
		}
	}
	if body := string(s.getPage("/rooms/launch?lang=ta-IN").body); !strings.Contains(body, `<html lang="ta" dir="ltr">`) {
		t.Errorf("?lang=ta-IN: %.200s", body)
	}
}

// TestShopFollowsRoomLanguage: the ticket, pay and order pages speak the
// language of the room their event sells through, over the browser's;
// ?lang= overrides it and rides on from the waiting room to the ticket
// page, and from the pay page to the order page.
func TestShopFollowsRoomLanguage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.putRoom("launch", `{"passthrough": true, "language": "ta"}`)
	ta, ar := table(t, "pages/shop/i18n", "ta"), table(t, "pages/shop/i18n", "ar")
	page := func(path string, want ...string) string {
		t.Helper()
		r := s.getPage(path, "Accept-Language", "de-DE,de;q=0.9")
		body := string(r.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %s", path, w)
			}
		}
		return body
	}

	ev := page("/events/gig", `<html lang="ta" dir="ltr">`, `<h1 id="cg-title">`+ta["event_title"]+`</h1>`, ta["hold_title"])
	var words map[string]string
	if err := json.Unmarshal([]byte(attr(t, []byte(ev), "data-i18n")), &words); err != nil || words["available"] != ta["available"] {
		t.Errorf("the ticket page's script words: %v %v", words["available"], err)
	}
	page("/events/gig?lang=ar", `<html lang="ar" dir="rtl">`, `<h1 id="cg-title">`+ar["event_title"]+`</h1>`)

	fan := s.fan("launch")
	holdID := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`).json(t)["hold_id"].(string)
	order := s.as(fan, "POST", "/api/v1/holds/"+holdID+"/checkout", `{"provider":"sandbox"}`).json(t)
	orderID := order["order_id"].(string)
	payURL := order["payment"].(map[string]any)["redirect_url"].(string)

	page(payURL, `<html lang="ta" dir="ltr">`, ta["pay_sandbox"], ta["pay_approve"], `action="`+payURL+`"`)
	page(payURL+"?lang=ar", `<html lang="ar" dir="rtl">`, ar["pay_approve"], `action="`+payURL+`?lang=ar"`)
	r := s.form(payURL+"?lang=ar", "decision=approve", "Sec-Fetch-Site", "same-origin", "Origin", s.srv.URL)
	if want := "/orders/" + orderID + "?lang=ar&redirect_status=succeeded"; r.status != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("approve with ?lang=ar: %d %q, want %q", r.status, r.header.Get("Location"), want)
	}
	page(payURL+"?lang=ar", ar["pay_approved"], `href="/orders/`+orderID+`?lang=ar&amp;redirect_status=succeeded"`)
	page("/orders/"+orderID, `<html lang="ta" dir="ltr">`, "<h1>"+ta["order_title"]+"</h1>")
	page("/orders/"+orderID+"?lang=ar", `<html lang="ar" dir="rtl">`, "<h1>"+ar["order_title"]+"</h1>")

	// The waiting room sends a fan who chose a language on to the ticket
	// page in it; without a choice, the ticket page finds the room's.
	if err := s.core.Sweep(context.Background()); err != nil { // as the booking core's loop does: the room learns its event
		t.Fatal(err)
	}
	room := s.getPage("/rooms/launch?lang=bn").body
	if got := attr(t, room, "data-return-to"); got != "/events/gig?lang=bn" {
		t.Errorf("the waiting room in Bengali sends the fan to %q", got)
	}
	if got := attr(t, s.getPage("/rooms/launch").body, "data-return-to"); got != "/events/gig" {
		t.Errorf("the waiting room sends the fan to %q", got)
	}

	// Pages without an event follow the browser.
	r = s.getPage("/events/BAD", "Accept-Language", "pt-BR,pt;q=0.9")
	if pt := table(t, "pages/shop/i18n", "pt"); r.status != http.StatusNotFound || !strings.Contains(string(r.body), `<html lang="pt" dir="ltr">`) ||
		!strings.Contains(string(r.body), pt["not_found_text"]) {
		t.Errorf("unknown event, in Portuguese: %d %s", r.status, r.body)
	}
}

// TestRoomLanguageSetting: a room may name any shipped language, or none,
// and nothing else; the dashboard's Language control offers each, named in
// itself.
func TestRoomLanguageSetting(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("final", `{"language": "ml"}`)
	for _, l := range append([]string{""}, shipped...) {
		if r := s.admin("PATCH", "/admin/v1/rooms/final", `{"language": "`+l+`"}`); r.status != http.StatusOK || r.json(t)["language"] != l {
			t.Errorf("language %q: %d %s", l, r.status, r.body)
		}
	}
	for _, bad := range []string{"xx", "EN", "pt-BR", "ar_EG", " ta"} {
		r := s.admin("PATCH", "/admin/v1/rooms/final", `{"language": "`+bad+`"}`)
		if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" || !strings.Contains(string(r.body), "ar, bn, de, en") {
			t.Errorf("language %q: %d %s", bad, r.status, r.body)
		}
	}

	session, _ := s.login()
	body := string(s.getPage("/admin", "Cookie", "cg_admin="+session).body)
	for _, l := range shipped {
		if want := `<option value="` + l + `" lang="` + l + `">` + html.EscapeString(table(t, "pages/i18n", l)["lang_name"]) + `</option>`; !strings.Contains(body, want) {
			t.Errorf("the dashboard lacks %s", want)
		}
	}
}
