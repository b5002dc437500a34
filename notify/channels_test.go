package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/webhooksig"
)

var channelTestTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func channelTestNote() Message {
	return Message{
		ID: "1773500966000-0", Stream: "spring-fest", Kind: "order.paid", Event: "spring-fest", Order: "o-123", Hold: "h-9",
		Email: "jane.doe@example.com", Phone: "+44 7700 900123", Currency: "EUR", AmountMinor: 1250,
		At: time.UnixMilli(1773500966000).UTC(),
	}
}

func mustSMTPChannel(tb testing.TB, cfg SMTPConfig) *SMTPChannel {
	tb.Helper()
	if cfg.From == "" {
		cfg.From = "Box Office <tickets@crowdgate.test>"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return channelTestTime }
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := NewSMTPChannel(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// readTestMail parses an accepted message and decodes its body.
func readTestMail(tb testing.TB, data string) (*mail.Message, string) {
	tb.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		tb.Fatalf("message does not parse: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		tb.Fatal(err)
	}
	return m, string(body)
}

func TestSMTPChannelDelivers(t *testing.T) {
	t.Parallel()
	srv := startTestSMTP(t, nil)
	ch := mustSMTPChannel(t, SMTPConfig{Addr: srv.Addr})
	if err := ch.Deliver(context.Background(), channelTestNote()); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	if msgs[0].From != "tickets@crowdgate.test" || !slices.Equal(msgs[0].To, []string{"jane.doe@example.com"}) {
		t.Errorf("envelope %q → %q", msgs[0].From, msgs[0].To)
	}
	m, body := readTestMail(t, msgs[0].Data)
	want := map[string]string{
		"From":         `"Box Office" <tickets@crowdgate.test>`,
		"To":           "<jane.doe@example.com>",
		"Subject":      "Your order o-123 is confirmed",
		"Date":         "Sat, 14 Mar 2026 15:09:26 +0000",
		"Message-Id":   "<1773500966000-0.spring-fest@crowdgate.test>",
		"Content-Type": "text/plain; charset=utf-8",
		"Mime-Version": "1.0",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, s := range []string{"12.50 EUR", "o-123", "spring-fest", "confirmed"} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
}

func TestSMTPChannelAuth(t *testing.T) {
	t.Parallel()
	srv := startTestSMTP(t, func(s *testSMTP) { s.offerAuth = true })
	ch := mustSMTPChannel(t, SMTPConfig{Addr: srv.Addr, Username: "relay-user", Password: "s3cret"})
	if err := ch.Deliver(context.Background(), channelTestNote()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !slices.Equal(srv.auths, []string{"relay-user:s3cret"}) {
		t.Errorf("AUTH PLAIN saw %q", srv.auths)
	}
	if s := fmt.Sprint(SMTPConfig{Username: "relay-user", Password: "s3cret"}); strings.Contains(s, "s3cret") {
		t.Errorf("config prints its password: %s", s)
	}
}

// A re-sent message (at least once) carries the same Message-ID.
func TestSMTPChannelDuplicateIsRecognizable(t *testing.T) {
	t.Parallel()
	srv := startTestSMTP(t, nil)
	ch := mustSMTPChannel(t, SMTPConfig{Addr: srv.Addr})
	for range 2 {
		if err := ch.Deliver(context.Background(), channelTestNote()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	a, _ := readTestMail(t, msgs[0].Data)
	b, _ := readTestMail(t, msgs[1].Data)
	if a.Header.Get("Message-Id") != b.Header.Get("Message-Id") {
		t.Errorf("Message-IDs differ: %q, %q", a.Header.Get("Message-Id"), b.Header.Get("Message-Id"))
	}
}

func TestSMTPChannelSubjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ kind, subject string }{
		{"order.paid", "Your order o-123 is confirmed"},
		{"payment.failed", "Payment for order o-123 did not go through"},
		{"hold.expiring", "Your tickets for spring-fest are about to be released"},
		{"order.expired", "Your order o-123 has expired"},
		{"order.refunded", "Your order o-123 was refunded"},
		{"order.shipped", "An update on your booking for spring-fest"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			n := channelTestNote()
			n.Kind = tc.kind
			subject, body := notificationText(n)
			if subject != tc.subject {
				t.Errorf("subject %q, want %q", subject, tc.subject)
			}
			if !strings.Contains(body, "spring-fest/"+n.ID) {
				t.Errorf("body lacks the reference:\n%s", body)
			}
		})
	}
}

// TestWaiterMessagesText: a waiter's messages name the room and carry the
// link back to their place.
func TestWaiterMessagesText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ kind, subject string }{
		{"queue.near", "Your turn is near in launch"},
		{"queue.admitted", "It's your turn: launch"},
		{"contact.confirm", "Confirm to hear when it's your turn in launch"},
	} {
		m := Message{ID: "1-0", Stream: "waiters.launch", Kind: tc.kind, Room: "launch", Position: 10,
			Link: "https://tickets.example/rooms/launch#resume=x.y", At: channelTestTime}
		subject, body := notificationText(m)
		if subject != tc.subject || !strings.Contains(body, m.Link) || !strings.Contains(body, "waiters.launch/1-0") {
			t.Errorf("%s: %q\n%s", tc.kind, subject, body)
		}
	}
}

func TestSMTPChannelFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		server    func(*testSMTP)
		email     string
		wantErr   bool
		permanent bool
		sessions  int // connections the server should have seen
	}{
		{name: "no email", email: "", sessions: 0},
		{name: "451 at data", server: func(s *testSMTP) { s.failData = 1 }, email: "a@example.com", wantErr: true, sessions: 1},
		{name: "550 at rcpt", server: func(s *testSMTP) { s.rejectRcpt = true }, email: "a@example.com", wantErr: true, permanent: true, sessions: 1},
		{name: "header injection", email: "a@example.com\r\nBcc: all@example.com", wantErr: true, permanent: true},
		{name: "LF injection", email: "a@example.com\nBcc: all@example.com", wantErr: true, permanent: true},
		{name: "malformed", email: "not an address", wantErr: true, permanent: true},
		{name: "silent server times out", server: func(s *testSMTP) { s.silent = true }, email: "a@example.com", wantErr: true, sessions: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTestSMTP(t, tc.server)
			ch := mustSMTPChannel(t, SMTPConfig{Addr: srv.Addr, Timeout: 300 * time.Millisecond})
			n := channelTestNote()
			n.Email = tc.email
			start := time.Now()
			err := ch.Deliver(context.Background(), n)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var pe *PermanentError
			if got := errors.As(err, &pe); got != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if _, _, sessions := srv.counts(); sessions != tc.sessions {
				t.Errorf("server saw %d sessions, want %d", sessions, tc.sessions)
			}
			if n, _, _ := srv.counts(); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestSMTPChannelRefusedAndCanceled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	ch := mustSMTPChannel(t, SMTPConfig{Addr: addr})
	err = ch.Deliver(context.Background(), channelTestNote())
	var pe *PermanentError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("refused connection: err = %v, want a retryable error", err)
	}

	srv := startTestSMTP(t, func(s *testSMTP) { s.silent = true })
	ch = mustSMTPChannel(t, SMTPConfig{Addr: srv.Addr, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if err := ch.Deliver(ctx, channelTestNote()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v to be noticed", d)
	}
}

func TestNewSMTPChannelRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]SMTPConfig{
		"no port":          {Addr: "mail.example.com", From: "a@example.com"},
		"bad from":         {Addr: "mail.example.com:25", From: "nobody"},
		"from injection":   {Addr: "mail.example.com:25", From: "a@example.com\r\nBcc: x@example.com"},
		"password no user": {Addr: "mail.example.com:25", From: "a@example.com", Password: "x"},
	} {
		if _, err := NewSMTPChannel(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzSMTPMessage checks that no fan-supplied address and no id can add a
// header to the email: either Deliver refuses it, or the message has
// exactly the headers it writes.
func FuzzSMTPMessage(f *testing.F) {
	f.Add("jane@example.com", "o-1", "spring-fest", "order.paid")
	f.Add("jane@example.com\r\nBcc: x@example.com", "o-1", "ev", "order.paid")
	f.Add("\"Jane\r\nBcc: x\" <jane@example.com>", "o-1", "ev", "order.paid")
	f.Add("jane@example.com", "o-1\r\nBcc: x@example.com", "ev", "order.paid")
	f.Add("=?utf-8?q?J=0D=0ABcc:_x?= <jane@example.com>", "o", "ev", "hold.expiring")
	f.Add("jane@example.com", "ö", "évent", "whatever\n")
	ch := mustSMTPChannel(f, SMTPConfig{Addr: "127.0.0.1:25"})
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, email, order, event, kind string) {
		if strings.ContainsAny(email, "\r\n") {
			return // Deliver refuses it before building anything (tested above)
		}
		to, err := mail.ParseAddress(email)
		if err != nil {
			return
		}
		n := channelTestNote()
		n.Email, n.Order, n.Event, n.Kind = email, order, event, kind
		msg, err := ch.message(n, to, channelTestTime)
		if err != nil {
			return
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("message does not parse: %v\n%q", err, msg)
		}
		var keys []string
		for k := range m.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("headers %q\n%q", keys, msg)
		}
		if got, err := m.Header.AddressList("To"); err != nil || len(got) != 1 || got[0].Address != to.Address {
			t.Fatalf("To = %v (%v), want %q", got, err, to.Address)
		}
	})
}

// testWebhook is a receiver that verifies signatures like a real one would.
type testWebhook struct {
	URL    string
	secret string

	mu     sync.Mutex
	calls  []webhookPayload
	keys   []string
	codes  []int // status of the next calls, then 200
	badSig int
}

func startTestWebhook(tb testing.TB, secret string, codes ...int) *testWebhook {
	tb.Helper()
	w := &testWebhook{secret: secret, codes: codes}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	tb.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

func (w *testWebhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.Method != http.MethodPost || webhooksig.Verify([]byte(w.secret), r.Header.Get(webhooksig.Header), body, time.Now(), 0) != nil {
		w.badSig++
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	if len(w.codes) > 0 {
		code := w.codes[0]
		w.codes = w.codes[1:]
		if code != http.StatusOK {
			http.Error(rw, "nope", code)
			return
		}
	}
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.calls = append(w.calls, p)
	w.keys = append(w.keys, r.Header.Get("Idempotency-Key"))
	rw.WriteHeader(http.StatusNoContent)
}

func (w *testWebhook) delivered() []webhookPayload {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]webhookPayload(nil), w.calls...)
}

func mustWebhookChannel(tb testing.TB, url, secret string) *WebhookChannel {
	tb.Helper()
	c, err := NewWebhookChannel(WebhookConfig{URL: url, Secret: secret, Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestWebhookChannelDelivers(t *testing.T) {
	t.Parallel()
	rcv := startTestWebhook(t, "whsec-1")
	ch := mustWebhookChannel(t, rcv.URL, "whsec-1")
	if err := ch.Deliver(context.Background(), channelTestNote()); err != nil {
		t.Fatal(err)
	}
	got := rcv.delivered()
	want := webhookPayload{
		ID: "1773500966000-0", Kind: "order.paid", Event: "spring-fest", Order: "o-123", Hold: "h-9",
		Email: "jane.doe@example.com", Phone: "+44 7700 900123", AmountMinor: 1250, Currency: "EUR",
		At: "2026-03-14T15:09:26.000Z",
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("received %+v\nwant %+v", got, want)
	}
	if rcv.keys[0] != "spring-fest:1773500966000-0" {
		t.Errorf("Idempotency-Key %q", rcv.keys[0])
	}
	if _, err := time.Parse(time.RFC3339, got[0].At); err != nil {
		t.Errorf("at is not RFC 3339: %v", err)
	}

	// A receiver with another secret rejects it; 401 is permanent.
	other := startTestWebhook(t, "whsec-2")
	err := mustWebhookChannel(t, other.URL, "whsec-1").Deliver(context.Background(), channelTestNote())
	var pe *PermanentError
	if !errors.As(err, &pe) || other.badSig != 1 {
		t.Errorf("wrong secret: err = %v, bad signatures %d", err, other.badSig)
	}
}

func TestWebhookChannelStatus(t *testing.T) {
	t.Parallel()
	rcv := startTestWebhook(t, "s")
	ch := mustWebhookChannel(t, rcv.URL, "s")
	for _, tc := range []struct {
		code      int
		ok        bool
		permanent bool
	}{
		{code: 200, ok: true},
		{code: 400, permanent: true},
		{code: 404, permanent: true},
		{code: 410, permanent: true},
		{code: 422, permanent: true},
		{code: 408},
		{code: 429},
		{code: 500},
		{code: 503},
		{code: 302},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			rcv.mu.Lock()
			rcv.codes = []int{tc.code}
			rcv.mu.Unlock()
			err := ch.Deliver(context.Background(), channelTestNote())
			var pe *PermanentError
			if (err == nil) != tc.ok || errors.As(err, &pe) != tc.permanent {
				t.Errorf("err = %v, want ok %v permanent %v", err, tc.ok, tc.permanent)
			}
		})
	}
}

func TestWebhookChannelKeepsSecretsOutOfErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := WebhookConfig{URL: "http://user:pw-secret@" + addr + "/hook?token=tok-secret", Secret: "hmac-secret"}
	ch, err := NewWebhookChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Deliver(context.Background(), channelTestNote())
	if err == nil {
		t.Fatal("delivered to nothing")
	}
	for _, s := range []string{err.Error(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg)} {
		for _, secret := range []string{"pw-secret", "tok-secret", "hmac-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %s", s, secret)
			}
		}
	}
	for name, c := range map[string]WebhookConfig{
		"no secret":  {URL: "https://example.com/h"},
		"relative":   {URL: "/h", Secret: "s"},
		"bad scheme": {URL: "ftp://example.com/h", Secret: "s"},
	} {
		if _, err := NewWebhookChannel(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLogChannelMasksContacts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ch := NewLogChannel(slog.New(slog.NewJSONHandler(&buf, nil)))
	if err := ch.Deliver(context.Background(), channelTestNote()); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"event": "spring-fest", "order": "o-123", "hold": "h-9", "kind": "order.paid",
		"email": "j***@example.com", "phone": "***23",
	} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %q", k, rec[k], v)
		}
	}
	if s := buf.String(); strings.Contains(s, "jane.doe") || strings.Contains(s, "900123") {
		t.Errorf("log shows contact details: %s", s)
	}
}

func TestMaskedContacts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "jane@example.com": "j***@example.com", "élise@example.fr": "é***@example.fr",
		"nobody": "***", "@example.com": "***",
	} {
		if got := maskedEmail(in); got != want {
			t.Errorf("maskedEmail(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"": "", "+44 7700 900123": "***23", "12345": "***", "+1 (555) 010-9999": "***99",
	} {
		if got := maskedPhone(in); got != want {
			t.Errorf("maskedPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatMinorAmount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{1250, "EUR", "12.50 EUR"},
		{5, "USD", "0.05 USD"},
		{0, "GBP", "0.00 GBP"},
		{1500, "JPY", "1500 JPY"},
		{1234, "KWD", "1.234 KWD"},
		{-250, "EUR", "-2.50 EUR"},
		{700, "", "7.00"},
	} {
		if got := formatMinorAmount(tc.minor, tc.currency); got != tc.want {
			t.Errorf("formatMinorAmount(%d, %q) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}
