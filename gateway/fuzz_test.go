package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/gateway"
)

func FuzzDecodeRoom(f *testing.F) {
	for _, s := range []string{
		`{"admit_per_minute": 600, "max_active": 0, "session_seconds": 900, "queue_opens_at": "2026-12-01T10:00:00Z", "sale_starts_at": "2026-12-01T10:30:00Z", "mode": "fifo", "paused": false, "passthrough": false, "closed": false}`,
		`{}`, `{"mode":"random_prequeue","sale_starts_at":"2026-12-01T10:30:00+05:30"}`, `{"queue_opens_at":null}`,
		`{"admit_per_minute":1e99}`, `[]`, `null`, `{"x":1}`, `{"paused":"yes"}`,
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

func FuzzRoutes(f *testing.F) {
	f.Add("/checkout/*=launch,/events/coldplay=launch,/=lobby", "/static/../checkout/x?y")
	f.Add("/a=b", "//evil.example/a")
	f.Add("/a/=b", "/a")
	f.Add("/x=y", "%2e%2e/x")
	f.Fuzz(func(t *testing.T, spec, uri string) {
		rs, err := gateway.ParseRoutes(spec)
		if err != nil {
			return
		}
		room, ok := rs.Match(uri)
		if ok != (room != "") {
			t.Fatalf("Match(%q) = %q, %v", uri, room, ok)
		}
		// Matching is by the cleaned path: a dot-dot form of a path is
		// judged exactly as the path it resolves to.
		if strings.HasPrefix(uri, "/") && !strings.ContainsAny(uri, "?#%\\") {
			alias := "/zz/.." + uri
			if r2, ok2 := rs.Match(alias); r2 != room || ok2 != ok {
				t.Fatalf("Match(%q) = %q but Match(%q) = %q", uri, room, alias, r2)
			}
		}
	})
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
	{"POST", "", "1..."}, {"GET", "", "\x00"}, {"POST", `{"` + strings.Repeat("a", 70000) + `":1}`, ""},
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
