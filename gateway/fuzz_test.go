package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/gateway"
)

func FuzzDecodeRoom(f *testing.F) {
	for _, s := range []string{
		`{"admit_per_minute": 600, "max_active": 0, "session_seconds": 900, "queue_opens_at": "2026-12-01T10:00:00Z", "sale_starts_at": "2026-12-01T10:30:00Z", "mode": "fifo", "paused": false, "passthrough": false, "closed": false}`,
		`{}`, `{"mode":"random_prequeue","sale_starts_at":"2026-12-01T10:30:00+05:30"}`, `{"queue_opens_at":null}`,
		`{"admit_per_minute":1e99}`, `[]`, `null`, `{"x":1}`, `{"paused":"yes"}`,
		`{"captcha":"turnstile","captcha_site_key":"0x4AAAAAAA","captcha_action":"join","captcha_fallback":"refuse"}`,
		`{"captcha":"hcaptcha","captcha_site_key":"10000000-ffff","captcha_action":"x"}`, `{"captcha":"recaptcha"}`,
		`{"adaptive":true,"adaptive_origin_p99_ms":500,"adaptive_origin_error_percent":2}`, `{"adaptive":true,"adaptive_origin_error_percent":100}`,
		`{"logo_url":"https://cdn.example.com/l.svg","logo_alt":"Ours","embed_origins":["https://shop.example.com"]}`, `{"embed_origins":["*"]}`, `{"logo_url":"javascript:x"}`,
	} {
		f.Add("launch", s)
	}
	f.Fuzz(func(t *testing.T, name, doc string) {
		r, err := gateway.DecodeRoom(name, []byte(doc))
		if err != nil {
			return
		}
		// Whatever is accepted is a valid room under that name.
		if r.Name != name || r.Validate() != nil {
			t.Fatalf("accepted an invalid room %+v from %q", r, doc)
		}
	})
}

// FuzzRoutes: whatever the rules and the URI, Rooms answers, and no
// spelling of a protected path is judged unprotected. Each variant below is
// read in every way its original is (and in more), so it is protected by at
// least the original's rooms, or refused as unreadable.
func FuzzRoutes(f *testing.F) {
	f.Add("/checkout/*=launch,/events/coldplay=launch,/=lobby", "/static/../checkout/x?y", uint8(3))
	f.Add("/a=b", "//evil.example/a", uint8(0))
	f.Add("/a/=b", "/a", uint8(1))
	f.Add("/x=y", "%2e%2e/x", uint8(2))
	for i, p := range []string{"/CHECKOUT/cart", "/checkout;a/cart", "/checkout./cart", "/%2563heckout/cart",
		"/checkout%3F/cart", "/checkout%00/cart", "/VIP", `/checkout\cart`, "/about/..;/checkout/cart", "/checkout/..%2fabout"} {
		f.Add("/checkout/=launch,/vip=launch", p, uint8(i))
	}
	f.Fuzz(func(t *testing.T, spec, uri string, at uint8) {
		rs, err := gateway.ParseRoutes(spec)
		if err != nil {
			return
		}
		rooms, err := rs.Rooms(uri)
		if err != nil {
			if !errors.Is(err, gateway.ErrUnreadablePath) {
				t.Fatalf("Rooms(%q): %v", uri, err)
			}
			return
		}
		for i, room := range rooms {
			if room == "" || slices.Contains(rooms[:i], room) {
				t.Fatalf("Rooms(%q) = %q", uri, rooms)
			}
		}
		p, _, _ := strings.Cut(uri, "?")
		p, _, _ = strings.Cut(p, "#")
		if len(rooms) == 0 || !strings.HasPrefix(p, "/") {
			return
		}
		for _, v := range pathVariants(p, int(at)) {
			got, err := rs.Rooms(v)
			if err != nil {
				continue // refused: never unprotected
			}
			for _, room := range rooms {
				if !slices.Contains(got, room) {
					t.Fatalf("Rooms(%q) = %q, but its spelling %q: %q", p, rooms, v, got)
				}
			}
		}
	})
}

// pathVariants returns spellings of p that every reading of p is among the
// readings of, near byte at: each is protected wherever p is.
func pathVariants(p string, at int) []string {
	i := at % len(p)
	plain := !strings.ContainsAny(p, "%\\;. ") && !hasNonASCII(p)
	vs := []string{
		strings.Map(func(r rune) rune { // case
			if 'a' <= r && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, p),
		"/zz/.." + p, // a dot segment
	}
	// An escape, once or twice.
	if c := p[i]; !strings.ContainsRune("%/\\", rune(c)) || !strings.Contains(p, "%") {
		vs = append(vs, p[:i]+fmt.Sprintf("%%%02X", c)+p[i+1:])
		if !strings.Contains(p, "%") {
			vs = append(vs, p[:i]+fmt.Sprintf("%%25%02X", c)+p[i+1:])
		}
	}
	if !plain {
		return vs
	}
	// The end of the segment at or after i: a ;param, a trailing dot or
	// space, "\" for the "/" there.
	end := strings.IndexByte(p[i:], '/')
	if end < 0 {
		end = len(p)
	} else {
		end += i
	}
	if end > 0 && p[end-1] != '/' {
		for _, tail := range []string{";x", ";", ".", "%20", ". ."} {
			vs = append(vs, p[:end]+tail+p[end:])
		}
	}
	if end < len(p) {
		vs = append(vs, p[:end]+"\\"+p[end+1:])
	}
	// A fullwidth letter, as Windows' best fit reads it.
	if c := p[i] | 0x20; 'a' <= c && c <= 'z' {
		vs = append(vs, p[:i]+string(rune(c)+0xFEE0)+p[i+1:])
	}
	return vs
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// FuzzFanRequests throws arbitrary bodies, tokens and cookies at the fans'
// API: the answer is always 2xx or 4xx, never a 5xx.
func FuzzFanRequests(f *testing.F) {
	s := newStack(f)
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	for _, c := range fanSeeds {
		f.Add(c.method, c.body, c.token)
	}
	f.Fuzz(func(t *testing.T, method, body, token string) {
		checkFanRequest(t, s.srv.URL, method, body, token)
	})
}

var fanSeeds = []struct{ method, body, token string }{
	{"POST", "", ""}, {"POST", "{}", ""}, {"POST", `{"a":1}`, ""}, {"POST", "null", ""},
	{"POST", "[", ""}, {"GET", "", "1.AAAAAAAAAAAAAAAAAAAAAA"}, {"DELETE", "", "x"},
	{"POST", "", "1..."}, {"GET", "", "\x00"},
	{"POST", `{"challenge":"c1.launch.1.8.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA","solution":"12"}`, ""},
	{"POST", `{"challenge":"","solution":"-1"}`, ""}, {"POST", `{"solution":12}`, ""}, {"POST", `{"` + strings.Repeat("a", 70000) + `":1}`, ""},
}

func checkFanRequest(t *testing.T, base, method, body, token string) {
	t.Helper()
	path := map[string]string{"POST": "/join", "GET": "/status", "DELETE": "/ticket"}[method]
	if path == "" {
		return
	}
	req, err := http.NewRequest(method, base+"/api/v1/rooms/launch"+path, strings.NewReader(body))
	if err != nil {
		return
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.AddCookie(&http.Cookie{Name: "cg_q_launch", Value: strings.Map(func(r rune) rune {
			if r < 0x21 || r > 0x7e || r == ';' || r == '"' || r == '\\' || r == ',' {
				return -1
			}
			return r
		}, token)})
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return // the client refused to send it (invalid header bytes)
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		t.Fatalf("%s %s body %.80q token %.40q: %d", method, path, body, token, res.StatusCode)
	}
}

// FuzzHoldRequests throws arbitrary hold bodies and Idempotency-Keys at
// the booking API: the answer is 201 or a 4xx in the contract's shape, and
// whatever happens, the books balance.
func FuzzHoldRequests(f *testing.F) {
	s := newShop(f)
	for _, b := range []string{
		`{"ticket_type":"ga","quantity":2}`, `{"ticket_type":"ga","quantity":0}`, `{"ticket_type":"ga","quantity":-1}`,
		`{"ticket_type":"ga","quantity":1e3}`, `{"ticket_type":"ga","quantity":2.5}`, `{"ticket_type":"","quantity":1}`,
		`{"ticket_type":"ga","quantity":1,"email":"a@b.c"}`, `{"ticket_type":"ga","quantity":1,"phone":"+91 98"}`,
		`{"ticket_type":"ga"}`, `[]`, `null`, `{"ticket_type":"ga","quantity":1}{}`,
	} {
		f.Add(b, "key-1")
	}
	f.Fuzz(func(t *testing.T, body, key string) {
		s := *s // the same servers, reporting to this run's t
		s.t = t
		fan := s.fan("launch") // a new visitor each time: no hold_exists by accident
		h := []string{"Authorization", "Bearer " + fan, "Content-Type", "application/json"}
		if key != "" && strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0 {
			h = append(h, "Idempotency-Key", key)
		}
		r := s.do("POST", "/api/v1/events/gig/holds", body, h...)
		switch {
		case r.status == http.StatusCreated:
			if id, _ := r.json(t)["hold_id"].(string); id == "" {
				t.Fatalf("201 without a hold id: %s", r.body)
			}
			s.as(fan, "DELETE", "/api/v1/holds/"+r.json(t)["hold_id"].(string), "")
		case r.status >= 400 && r.status < 500:
			r.errorCode(t)
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		s.inventory() // fails unless available + held + sold == capacity
	})
}
