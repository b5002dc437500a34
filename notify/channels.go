package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/webhooksig"
)

var (
	_ Channel = (*SMTPChannel)(nil)
	_ Channel = (*WebhookChannel)(nil)
	_ Channel = (*LogChannel)(nil)
)

// SMTPConfig configures an SMTPChannel.
type SMTPConfig struct {
	// Name is the channel's name in marks, metrics and logs. Default "email".
	Name string
	// Addr is the relay's host:port.
	Addr string
	// From is the sender, "Box Office <tickets@example.com>" or a bare address.
	From string
	// Username and Password enable AUTH PLAIN; empty means no AUTH. The
	// standard library refuses PLAIN over an unencrypted connection except
	// to localhost.
	Username string
	Password string
	// HelloName is the name given in EHLO. Default "localhost".
	HelloName string
	// TLS configures STARTTLS, used whenever the relay offers it. Default:
	// verify the relay's certificate against the host of Addr.
	TLS *tls.Config
	// Timeout bounds one whole SMTP session, dial to QUIT. Default 30 s.
	Timeout time.Duration
	// Now dates the messages. Default time.Now.
	Now func() time.Time
}

// String keeps the password out of logs and error messages.
func (c SMTPConfig) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("{Name:%s Addr:%s From:%s Username:%s Password:%s}", c.Name, c.Addr, c.From, c.Username, pw)
}

// SMTPChannel emails a plain-text message to the fan, one SMTP session per
// message. The Message-ID is derived from the event and outbox id, so a
// duplicate (at-least-once) is recognizable as such by mail software.
type SMTPChannel struct {
	cfg  SMTPConfig
	host string
	from *mail.Address
}

// NewSMTPChannel validates cfg and returns the channel.
func NewSMTPChannel(cfg SMTPConfig) (*SMTPChannel, error) {
	if cfg.Name == "" {
		cfg.Name = "email"
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp Addr %q: %w", cfg.Addr, err)
	}
	if strings.ContainsAny(cfg.From, "\r\n") || strings.ContainsAny(cfg.HelloName, "\r\n") {
		return nil, errors.New("notify: smtp From and HelloName must be one line")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp From %q: %w", cfg.From, err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("notify: smtp Password without Username")
	}
	return &SMTPChannel{cfg: cfg, host: host, from: from}, nil
}

// Name implements Channel.
func (c *SMTPChannel) Name() string { return c.cfg.Name }

// Deliver implements Channel. A 5xx reply to RCPT or to the message is a
// *PermanentError, as is an address that is malformed or would inject
// headers; other failures (4xx, network, TLS, AUTH) are retried.
func (c *SMTPChannel) Deliver(ctx context.Context, n Message) error {
	if n.Email == "" {
		return nil
	}
	if strings.ContainsAny(n.Email, "\r\n") {
		return Permanent(errors.New("smtp: recipient address contains a line break"))
	}
	to, err := mail.ParseAddress(n.Email)
	if err != nil {
		return Permanent(fmt.Errorf("smtp: recipient address: %w", err))
	}
	msg, err := c.message(n, to, c.cfg.Now())
	if err != nil {
		return err
	}
	return c.send(ctx, to.Address, msg)
}

func (c *SMTPChannel) send(ctx context.Context, rcpt string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: dial %s: %w", c.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation interrupts a blocked read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	cl, err := smtp.NewClient(conn, c.host)
	if err != nil {
		_ = conn.Close()
		return c.fail(ctx, "greeting", err)
	}
	defer cl.Close()
	if err := cl.Hello(c.cfg.HelloName); err != nil {
		return c.fail(ctx, "hello", err)
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		tc := c.cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: c.host, MinVersion: tls.VersionTLS12}
		}
		if err := cl.StartTLS(tc); err != nil {
			return c.fail(ctx, "starttls", err)
		}
	}
	if c.cfg.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.cfg.Username, c.cfg.Password, c.host)); err != nil {
			return c.fail(ctx, "auth", err)
		}
	}
	if err := cl.Mail(c.from.Address); err != nil {
		return c.fail(ctx, "mail", err)
	}
	if err := cl.Rcpt(rcpt); err != nil {
		return c.fail(ctx, "rcpt", err)
	}
	w, err := cl.Data()
	if err != nil {
		return c.fail(ctx, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.fail(ctx, "data", err)
	}
	if err := w.Close(); err != nil {
		return c.fail(ctx, "data", err)
	}
	// The relay has accepted the message; a failed QUIT must not make it
	// be sent again.
	_ = cl.Quit()
	return nil
}

// fail wraps an SMTP failure at stage, permanent when the relay refused the
// recipient or the message with a 5xx reply.
func (c *SMTPChannel) fail(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		err = errors.Join(err, context.Cause(ctx))
	}
	err = fmt.Errorf("smtp: %s: %w", stage, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && (stage == "rcpt" || stage == "data") {
		return Permanent(err)
	}
	return err
}

// message renders the email: headers, then a quoted-printable body with
// CRLF line ends, ready for DATA (which adds the dot-stuffing).
func (c *SMTPChannel) message(n Message, to *mail.Address, now time.Time) ([]byte, error) {
	subject, body := notificationText(n)
	if strings.ContainsAny(subject, "\r\n") {
		return nil, Permanent(errors.New("smtp: subject contains a line break"))
	}
	domain := "crowdgate.invalid"
	if _, d, ok := strings.Cut(c.from.Address, "@"); ok && d != "" {
		domain = d
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", c.from.String())
	h("To", to.String())
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+msgIDPart(n.ID)+"."+msgIDPart(n.Stream)+"@"+msgIDPart(domain)+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// msgIDPart keeps the characters a Message-ID may hold (dot-atom text,
// conservatively) and replaces others with "-": event ids are already
// ^[a-z0-9-]+$, so in practice this changes nothing.
func msgIDPart(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '-'
	}, s)
}

// notificationText is the English subject and body of a notification.
func notificationText(n Message) (subject, body string) {
	amount := formatMinorAmount(n.AmountMinor, n.Currency)
	when := ""
	if !n.At.IsZero() {
		when = " on " + n.At.UTC().Format("2 Jan 2006 at 15:04 UTC")
	}
	var lines []string
	switch n.Kind {
	case "order.paid":
		subject = "Your order " + n.Order + " is confirmed"
		lines = []string{
			"Thank you! We received your payment of " + amount + " for order " + n.Order + when + ".",
			"Your tickets for " + n.Event + " are confirmed.",
		}
	case "payment.failed":
		subject = "Payment for order " + n.Order + " did not go through"
		lines = []string{
			"Your payment of " + amount + " for order " + n.Order + " did not go through" + when + ".",
			"No money was taken. While your tickets are still held, you can try again.",
		}
	case "hold.expiring":
		subject = "Your tickets for " + n.Event + " are about to be released"
		lines = []string{
			"The tickets you are holding for " + n.Event + " (hold " + n.Hold + ") will be released soon.",
			"Complete your checkout to keep them.",
		}
	case "order.expired":
		subject = "Your order " + n.Order + " has expired"
		lines = []string{
			"The time to pay for order " + n.Order + " ran out" + when + ", and its tickets for " + n.Event + " were released.",
			"No money was taken.",
		}
	case "order.refunded":
		subject = "Your order " + n.Order + " was refunded"
		lines = []string{
			"We refunded " + amount + " for order " + n.Order + when + ".",
			"Depending on your bank, it may take a few days to appear on your statement.",
		}
	case "contact.confirm":
		subject = "Confirm to hear when it's your turn in " + n.Room
		lines = []string{
			"Someone, we hope you, asked" + when + " to be told here when their turn comes in the line for " + n.Room + ".",
			"To confirm, open this link: " + n.Link,
			"If it was not you, ignore this message: you will hear nothing more from us.",
		}
	case "queue.near":
		subject = "Your turn is near in " + n.Room
		lines = []string{
			"You are number " + strconv.FormatInt(n.Position, 10) + " in line for " + n.Room + when + ": your turn is a few minutes away.",
			"Go back to your place now so you do not miss it: " + n.Link,
		}
	case "queue.admitted":
		subject = "It's your turn: " + n.Room
		lines = []string{
			"You have been admitted to " + n.Room + when + ".",
			"Your admission lasts a limited time; continue here: " + n.Link,
		}
	default:
		subject = "An update on your booking for " + n.Event
		lines = []string{"There is an update (" + n.Kind + ") on your booking for " + n.Event + when + "."}
		if n.Order != "" {
			lines = append(lines, "Order: "+n.Order)
		}
		if n.Hold != "" {
			lines = append(lines, "Hold: "+n.Hold)
		}
	}
	lines = append(lines, "", "This message was sent automatically; please do not reply.",
		"Reference: "+n.Stream+"/"+n.ID)
	return subject, strings.Join(lines, "\r\n") + "\r\n"
}

// formatMinorAmount writes an amount in minor units the way people read it,
// "12.50 EUR", "1500 JPY", with the currency's ISO 4217 exponent.
func formatMinorAmount(minor int64, currency string) string {
	exp := 2
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		exp = 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		exp = 3
	}
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor)
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	s = sign + s
	if currency != "" {
		s += " " + currency
	}
	return s
}

// WebhookConfig configures a WebhookChannel.
type WebhookConfig struct {
	// Name is the channel's name in marks, metrics and logs. Default "webhook".
	Name string
	// URL receives the POSTs; http or https.
	URL string
	// Secret keys the HMAC-SHA256 signature; required.
	Secret string
	// Client sends the requests. Default: a client that does not follow
	// redirects (a redirected POST would arrive as a GET).
	Client *http.Client
	// Timeout bounds one request, response included. Default 10 s.
	Timeout time.Duration
	// Now stamps the signatures. Default time.Now.
	Now func() time.Time
	// Render writes a message's body. Default: the notification's fields
	// (below). An error is permanent: a message that cannot be rendered
	// now never will be.
	Render func(Message) ([]byte, error)
}

// String keeps the secret out of logs and error messages.
func (c WebhookConfig) String() string {
	return fmt.Sprintf("{Name:%s URL:%s Secret:REDACTED}", c.Name, redactURL(c.URL))
}

// WebhookChannel POSTs each notification as JSON to one URL, signed so the
// receiver can trust it, with an Idempotency-Key ("<stream>:<id>") so the
// receiver can drop the duplicates at-least-once delivery may cause.
//
// The signature is the one payment webhooks carry (package webhooksig):
//
//	Crowdgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(Secret, t + "." + body)>
//
// so a Go receiver checks it with webhooksig.Verify on the raw body.
type WebhookChannel struct {
	cfg    WebhookConfig
	client *http.Client
	target string // URL without credentials or query, for error messages
}

// NewWebhookChannel validates cfg and returns the channel.
func NewWebhookChannel(cfg WebhookConfig) (*WebhookChannel, error) {
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("notify: webhook URL %q must be an absolute http(s) URL", redactURL(cfg.URL))
	}
	if cfg.Secret == "" {
		return nil, errors.New("notify: webhook Secret is required")
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &WebhookChannel{cfg: cfg, client: client, target: redactURL(cfg.URL)}, nil
}

// redactURL drops userinfo and query, which may carry credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Name implements Channel.
func (c *WebhookChannel) Name() string { return c.cfg.Name }

// webhookPayload is the JSON body of a webhook.
type webhookPayload struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Event       string `json:"event"`
	Order       string `json:"order"`
	Hold        string `json:"hold"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	At          string `json:"at"` // RFC 3339, UTC, milliseconds
	// Waiters' messages only.
	Room     string `json:"room,omitempty"`
	Position int64  `json:"position,omitempty"`
	Link     string `json:"link,omitempty"`
}

// Deliver implements Channel: every notification is posted (the receiver
// needs no address). A 2xx response is delivery; 4xx other than 408 and
// 429 is a *PermanentError; anything else is retried.
func (c *WebhookChannel) Deliver(ctx context.Context, n Message) error {
	render := c.cfg.Render
	if render == nil {
		render = notificationBody
	}
	body, err := render(n)
	if err != nil {
		return Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", c.target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crowdgate-notify/1")
	req.Header.Set("Idempotency-Key", n.Stream+":"+n.ID)
	req.Header.Set(webhooksig.Header, webhooksig.Sign([]byte(c.cfg.Secret), c.cfg.Now(), body))
	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", c.target, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return Permanent(fmt.Errorf("webhook %s: %s: %q", c.target, resp.Status, snippet))
	default:
		return fmt.Errorf("webhook %s: %s: %q", c.target, resp.Status, snippet)
	}
}

// notificationBody is the default body of a webhook: the notification's
// fields.
func notificationBody(n Message) ([]byte, error) {
	return json.Marshal(webhookPayload{
		ID: n.ID, Kind: n.Kind, Event: n.Event, Order: n.Order, Hold: n.Hold,
		Email: n.Email, Phone: n.Phone, AmountMinor: n.AmountMinor, Currency: n.Currency,
		At:   n.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Room: n.Room, Position: n.Position, Link: n.Link,
	})
}

// LogChannel writes one structured log line per notification: a record
// for operators, and a channel that works before email or webhooks are set
// up. Contact details are masked.
type LogChannel struct {
	log *slog.Logger
}

// NewLogChannel returns a LogChannel writing to l (nil: discard).
func NewLogChannel(l *slog.Logger) *LogChannel {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &LogChannel{log: l}
}

// Name implements Channel: "log".
func (c *LogChannel) Name() string { return "log" }

// Deliver implements Channel; it never fails.
func (c *LogChannel) Deliver(ctx context.Context, n Message) error {
	c.log.LogAttrs(ctx, slog.LevelInfo, "notification", slog.String("stream", n.Stream),
		slog.String("event", n.Event), slog.String("room", n.Room), slog.String("order", n.Order), slog.String("hold", n.Hold),
		slog.String("kind", n.Kind), slog.String("id", n.ID),
		slog.String("email", maskedEmail(n.Email)), slog.String("phone", maskedPhone(n.Phone)),
		slog.Int64("amount_minor", n.AmountMinor), slog.String("currency", n.Currency))
	return nil
}

// maskedEmail keeps enough of an address to tell two fans apart in a log
// without disclosing it: "jane@example.com" → "j***@example.com".
func maskedEmail(s string) string {
	if s == "" {
		return ""
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// maskedPhone keeps the last two digits: "+44 7700 900123" → "***23".
func maskedPhone(s string) string {
	if s == "" {
		return ""
	}
	var digits []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits = append(digits, s[i])
		}
	}
	if len(digits) < 6 {
		return "***"
	}
	return "***" + string(digits[len(digits)-2:])
}
