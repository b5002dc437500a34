package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserOrderConfirming: back from the pay page with the payment
// approved, while its webhook has not landed yet, the order page says the
// payment is being confirmed (in the fan's language), not that it waits
// for one; then it says paid as soon as the webhook lands.
func TestBrowserOrderConfirming(t *testing.T) {
	tab := startBrowser(t)
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
		t.Fatal(err)
	}
	s := newShop(t)
	steps := tabSteps{t, tab}
	run, until := steps.run, steps.until
	shown := func(id, want string) string {
		return `document.getElementById('` + id + `').textContent === ` + strings.ReplaceAll(string(mustJSON(t, want)), "'", `\'`)
	}
	order := func() (orderID, payID string) {
		fan := s.fan("launch")
		hold := s.as(fan, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`).json(t)
		o := s.as(fan, "POST", "/api/v1/holds/"+hold["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`).json(t)
		return o["order_id"].(string), strings.TrimPrefix(o["payment"].(map[string]any)["redirect_url"].(string), "/pay/sandbox/")
	}

	orderID, payID := order()
	run("the order page, without a decision", chromedp.Navigate(s.srv.URL+"/orders/"+orderID))
	until("waiting for the payment", shown("cg-status", "Waiting for your payment…"))

	// Approved at the provider; its webhook is on the way: the page the
	// pay page returns to says so.
	run("back from the pay page", chromedp.Navigate(s.srv.URL+"/orders/"+orderID+"?redirect_status=succeeded"))
	until("confirming", shown("cg-status", "Confirming your payment…")+` && /^Your payment was approved\./.test(document.getElementById('cg-detail').textContent)`)
	if got := s.do("GET", "/api/v1/orders/"+orderID, "").json(t)["status"]; got != "pending_payment" {
		t.Fatalf("the order is %v, want still pending", got)
	}
	if _, err := s.sandbox.Decide(context.Background(), payID, true); err != nil {
		t.Fatal(err)
	}
	until("paid", shown("cg-status", "Confirmed! Your tickets are booked.")+` && document.getElementById('cg-items').textContent.indexOf('2 × General') === 0`)

	// In Hindi.
	orderID, payID = order()
	run("in Hindi", chromedp.Navigate(s.srv.URL+"/orders/"+orderID+"?redirect_status=succeeded&lang=hi"))
	until("confirming, in Hindi", `document.documentElement.lang === 'hi' && `+shown("cg-status", "आपके भुगतान की पुष्टि की जा रही है…"))
	if _, err := s.sandbox.Decide(context.Background(), payID, true); err != nil {
		t.Fatal(err)
	}
	until("paid, in Hindi", shown("cg-status", "पुष्टि हो गई! आपके टिकट बुक हो गए हैं।"))

	// The pay page's Approve lands the fan on the order page with the
	// decision, paid already when the webhook went through at once.
	orderID, _ = order()
	run("the pay page", chromedp.Navigate(s.srv.URL+"/pay/sandbox/"+payIDOf(t, s, orderID)))
	run("approve", chromedp.Click(chromedp.CSS(`form input[value=approve] + button`)))
	until("on the order page, paid", `location.pathname === '/orders/`+orderID+`' && location.search === '?redirect_status=succeeded' && `+shown("cg-status", "Confirmed! Your tickets are booked."))
	problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
	if err != nil || len(problems) > 0 {
		t.Errorf("%q %v", problems, err)
	}
}

func payIDOf(t *testing.T, s *stack, orderID string) string {
	t.Helper()
	return s.do("GET", "/api/v1/orders/"+orderID, "").json(t)["payment"].(map[string]any)["id"].(string)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOrderPageLanguage: the order page speaks the fan's language (?lang=,
// else Accept-Language), and carries its words for its script.
func TestOrderPageLanguage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	for _, tc := range []struct {
		path, accept, lang, title string
	}{
		{"/orders/ord-1", "", "en", "Your order"},
		{"/orders/ord-1", "hi-IN,hi;q=0.9", "hi", "आपका ऑर्डर"},
		{"/orders/ord-1?lang=hi", "en", "hi", "आपका ऑर्डर"},
		{"/orders/ord-1?lang=xx", "ja", "en", "Your order"},
	} {
		r := s.getPage(tc.path, "Accept-Language", tc.accept)
		body := string(r.body)
		if r.status != 200 || !strings.Contains(body, `<html lang="`+tc.lang+`"`) || !strings.Contains(body, "<h1>"+tc.title+"</h1>") {
			t.Errorf("%s (%s): %d %s", tc.path, tc.accept, r.status, body)
			continue
		}
		var words map[string]string
		if err := json.Unmarshal([]byte(attr(t, r.body, "data-i18n")), &words); err != nil || words["order_confirming"] == "" {
			t.Errorf("%s: data-i18n %v %v", tc.path, words, err)
		}
		if !strings.Contains(r.header.Get("Vary"), "Accept-Language") {
			t.Errorf("%s: Vary %q", tc.path, r.header.Get("Vary"))
		}
	}
}
