// Package captchatest is a local provider that speaks the siteverify
// protocol exactly as Turnstile, hCaptcha and reCAPTCHA document it, for
// tests of code that verifies CAPTCHA responses: form-encoded POSTs with
// the provider's own fields (anything else is a bad-request), the secret
// checked (missing-input-secret, invalid-input-secret), each token good
// once (then timeout-or-duplicate, or hCaptcha's already-seen-response),
// unknown tokens invalid-input-response, and answers that go wrong on
// purpose: a raw body, an HTTP status, or no answer at all.
package captchatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Server is a local siteverify endpoint for one provider.
type Server struct {
	*httptest.Server
	// URL is the siteverify URL to configure (the httptest server's URL
	// plus the provider's path).
	URL      string
	provider string
	secret   string
	now      func() time.Time

	mu     sync.Mutex
	tokens map[string]solved // tokens issued by Solve and not yet verified
	seen   map[string]bool   // tokens verified once
	raw    map[string]raw    // tokens answered with a fixed reply
	forms  []url.Values      // every request's form, in order
	down   int               // 0, or the HTTP status every request gets
	hang   chan struct{}     // non-nil: requests get no answer until closed
}

type solved struct {
	hostname, action string
	score            *float64
	at               time.Time
}

type raw struct {
	status int
	body   string
}

// fields are the form fields each provider documents.
var fields = map[string]map[string]bool{
	"turnstile": {"secret": true, "response": true, "remoteip": true, "idempotency_key": true},
	"hcaptcha":  {"secret": true, "response": true, "remoteip": true, "sitekey": true},
	"recaptcha": {"secret": true, "response": true, "remoteip": true},
}

var paths = map[string]string{
	"turnstile": "/turnstile/v0/siteverify",
	"hcaptcha":  "/siteverify",
	"recaptcha": "/recaptcha/api/siteverify",
}

// New starts a provider ("turnstile", "hcaptcha" or "recaptcha") that
// accepts secret, closed when the test ends. now stamps challenge_ts
// (nil: time.Now).
func New(tb testing.TB, provider, secret string, now func() time.Time) *Server {
	tb.Helper()
	if fields[provider] == nil {
		tb.Fatalf("captchatest: unknown provider %q", provider)
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{provider: provider, secret: secret, now: now, tokens: map[string]solved{}, seen: map[string]bool{}, raw: map[string]raw{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.Server.URL + paths[provider]
	tb.Cleanup(func() {
		s.Hang(false)
		s.Close()
	})
	return s
}

// Solve issues a token as a widget would after a fan solved it on
// hostname, for action (Turnstile and reCAPTCHA v3 report it; "" for
// none), good for one verification.
func (s *Server) Solve(hostname, action string) string {
	return s.solve(solved{hostname: hostname, action: action, at: s.now()})
}

// SolveWith issues a token whose answer carries a score (reCAPTCHA v3) and
// the given solving time.
func (s *Server) SolveWith(hostname, action string, score *float64, at time.Time) string {
	return s.solve(solved{hostname: hostname, action: action, score: score, at: at})
}

func (s *Server) solve(v solved) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := fmt.Sprintf("%s.tok-%d.%d", s.provider, len(s.tokens)+len(s.seen)+len(s.raw), s.now().UnixNano())
	s.tokens[tok] = v
	return tok
}

// Reply makes the server answer token with status and a raw body.
func (s *Server) Reply(token string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw[token] = raw{status, body}
}

// Down makes every request get HTTP status (0: back to normal).
func (s *Server) Down(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = status
}

// Hang makes requests wait, unanswered, until the client gives up (or
// Hang(false)).
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.hang == nil:
		s.hang = make(chan struct{})
	case !on && s.hang != nil:
		close(s.hang)
		s.hang = nil
	}
}

// Forms returns the form of every request so far.
func (s *Server) Forms() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

// answer is the documented answer's shape.
type answer struct {
	Success     bool     `json:"success"`
	ChallengeTS string   `json:"challenge_ts,omitempty"`
	Hostname    string   `json:"hostname,omitempty"`
	ErrorCodes  []string `json:"error-codes"`
	Action      string   `json:"action,omitempty"`
	Score       *float64 `json:"score,omitempty"`
	CData       string   `json:"cdata,omitempty"`  // Turnstile
	Credit      *bool    `json:"credit,omitempty"` // hCaptcha
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hang, down := s.hang, s.down
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if down != 0 {
		http.Error(w, "provider down", down)
		return
	}
	fail := func(codes ...string) answer { return answer{ErrorCodes: codes} }
	if r.Method != http.MethodPost || r.URL.Path != paths[s.provider] {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		s.write(w, fail("bad-request"))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.write(w, fail("bad-request"))
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	s.mu.Unlock()
	for k, v := range r.PostForm {
		if !fields[s.provider][k] || len(v) != 1 {
			s.write(w, fail("bad-request"))
			return
		}
	}
	secret, response := r.PostForm.Get("secret"), r.PostForm.Get("response")
	switch {
	case secret == "":
		s.write(w, fail("missing-input-secret"))
		return
	case secret != s.secret:
		s.write(w, fail("invalid-input-secret"))
		return
	case response == "":
		s.write(w, fail("missing-input-response"))
		return
	}
	s.mu.Lock()
	rw, isRaw := s.raw[response]
	v, ok := s.tokens[response]
	dup := s.seen[response]
	if ok {
		delete(s.tokens, response)
		s.seen[response] = true
	}
	s.mu.Unlock()
	switch {
	case isRaw:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rw.status)
		_, _ = w.Write([]byte(rw.body))
	case dup && s.provider == "hcaptcha":
		s.write(w, fail("already-seen-response"))
	case dup:
		s.write(w, fail("timeout-or-duplicate"))
	case !ok:
		s.write(w, fail("invalid-input-response"))
	default:
		a := answer{Success: true, Hostname: v.hostname, ErrorCodes: []string{}, Score: v.score}
		switch s.provider {
		case "recaptcha": // "yyyy-MM-dd'T'HH:mm:ssZZ"
			a.ChallengeTS = v.at.UTC().Format("2006-01-02T15:04:05Z07:00")
			a.Action = v.action
		case "turnstile":
			a.ChallengeTS = v.at.UTC().Format("2006-01-02T15:04:05.000Z")
			a.Action, a.CData = v.action, "cdata"
		default:
			a.ChallengeTS = v.at.UTC().Format(time.RFC3339Nano)
			credit := false
			a.Credit = &credit
		}
		s.write(w, a)
	}
}

func (s *Server) write(w http.ResponseWriter, a answer) {
	if a.ErrorCodes == nil {
		a.ErrorCodes = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}
