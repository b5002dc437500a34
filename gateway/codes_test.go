package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

func codesOf(t *testing.T, r response) api.Codes {
	t.Helper()
	var c api.Codes
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	return c
}

// TestAnInviteOnlyRoomLetsInOnlyCodeHolders: codes uploaded through the
// admin API let in as many new places as they have uses; joins without a
// code, or with a wrong or used-up one, get 403 and change nothing; a fan
// with a place comes back without a code; a revoked code lets nobody in.
func TestAnInviteOnlyRoomLetsInOnlyCodeHolders(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("presale", `{"admit_per_minute": 0, "access_code_required": true}`)
	if r := s.admin("GET", "/admin/v1/rooms/presale", ""); !bytes.Contains(r.body, []byte(`"access_code_required":true`)) {
		t.Fatalf("room: %s", r.body)
	}
	r := s.admin("POST", "/admin/v1/rooms/presale/codes", `{"codes": ["fan-club-1", "fan-club-2"], "uses": 2}`)
	if r.status != http.StatusCreated || codesOf(t, r) != (api.Codes{Codes: 2, UsesLeft: 4}) {
		t.Fatalf("add codes: %d %s", r.status, r.body)
	}
	// The codes are secrets: the audit log records the upload, not them.
	if a := s.admin("GET", "/admin/v1/audit?limit=10", ""); !bytes.Contains(a.body, []byte("/codes")) || bytes.Contains(a.body, []byte("fan-club-1")) {
		t.Fatalf("audit log: %s", a.body)
	}
	join := func(body string) response {
		return s.do("POST", "/api/v1/rooms/presale/join", body, "Content-Type", "application/json")
	}
	for _, tc := range []struct{ name, body, code string }{
		{"no code", "", "code_required"},
		{"wrong code", `{"code": "fan-club-9"}`, "bad_code"},
	} {
		if r := join(tc.body); r.status != http.StatusForbidden || r.errorCode(t) != tc.code || cookie(r, "cg_q_presale") != nil {
			t.Errorf("%s: %d %s, want 403 %s and no cookie", tc.name, r.status, r.body, tc.code)
		}
	}
	first := join(`{"code": "fan-club-1"}`)
	id := queueIDOf(t, first)
	back := s.do("POST", "/api/v1/rooms/presale/join", "", "Cookie", "cg_q_presale="+cookie(first, "cg_q_presale").Value)
	if got := queueIDOf(t, back); got != id {
		t.Fatalf("rejoin with the cookie: place %s, want %s", got, id)
	}
	queueIDOf(t, join(`{"code": "fan-club-1"}`))
	if r := join(`{"code": "fan-club-1"}`); r.status != http.StatusForbidden || r.errorCode(t) != "bad_code" {
		t.Errorf("used-up code: %d %s", r.status, r.body)
	}
	if c := codesOf(t, s.admin("GET", "/admin/v1/rooms/presale/codes", "")); c != (api.Codes{Codes: 2, UsesLeft: 2, Used: 2}) {
		t.Errorf("codes: %+v", c)
	}
	if r := s.admin("GET", "/admin/v1/dashboard", ""); !bytes.Contains(r.body, []byte(`"access_codes":{"codes":2,"uses_left":2,"used":2}`)) {
		t.Errorf("the dashboard does not count the codes: %s", r.body)
	}
	if r := s.admin("DELETE", "/admin/v1/rooms/presale/codes", ""); r.status != http.StatusNoContent {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	if r := join(`{"code": "fan-club-2"}`); r.status != http.StatusForbidden || r.errorCode(t) != "bad_code" {
		t.Errorf("revoked code: %d %s", r.status, r.body)
	}
	// The presale ends: the room opens to everyone, places are kept.
	if r := s.admin("PATCH", "/admin/v1/rooms/presale", `{"access_code_required": false}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	queueIDOf(t, join(""))
	st, err := s.store.Stats(context.Background(), "presale")
	if err != nil || st.Waiting != 3 {
		t.Fatalf("waiting %d (%v), want 3", st.Waiting, err)
	}
	refused, err := s.store.Refusals(context.Background(), "presale")
	if err != nil || refused[queue.RefusedBadCode] != 4 {
		t.Fatalf("refusals %v (%v), want 4 bad_code", refused, err)
	}
}

// TestGuessingAccessCodesIsRateLimited: after queue.BadCodesPerMinute wrong
// codes from one address, even the right code gets 429 with Retry-After.
func TestGuessingAccessCodesIsRateLimited(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("presale", `{"access_code_required": true}`)
	s.admin("POST", "/admin/v1/rooms/presale/codes", `{"codes": ["the-right-one"], "uses": 5}`)
	for i := range queue.BadCodesPerMinute {
		r := s.do("POST", "/api/v1/rooms/presale/join", fmt.Sprintf(`{"code": "guess-%04d"}`, i), "Content-Type", "application/json")
		if r.status != http.StatusForbidden {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	r := s.do("POST", "/api/v1/rooms/presale/join", `{"code": "the-right-one"}`, "Content-Type", "application/json")
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("after the guesses: %d %s %v", r.status, r.body, r.header)
	}
	if c := codesOf(t, s.admin("GET", "/admin/v1/rooms/presale/codes", "")); c.Used != 0 {
		t.Fatalf("codes: %+v", c)
	}
}

func TestAddingCodesRefusesBadUploads(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("presale", `{}`)
	for _, body := range []string{`{"codes": [], "uses": 1}`, `{"codes": ["abc"], "uses": 1}`, `{"codes": ["abcdefgh"], "uses": 0}`, `{"codes": ["abcdefgh"]}`, `{"codes": ["abcdefgh"], "uses": 1, "extra": 1}`, `[]`} {
		if r := s.admin("POST", "/admin/v1/rooms/presale/codes", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, r.status, r.body)
		}
	}
	if r := s.admin("POST", "/admin/v1/rooms/nope/codes", `{"codes": ["abcdefgh"], "uses": 1}`); r.status != http.StatusNotFound {
		t.Errorf("no room: %d %s", r.status, r.body)
	}
}

// FuzzAccessCodeJoins throws arbitrary join bodies at an invite-only room
// whose one code the fuzzer is not given: the answer is always a 4xx in the
// contract's shape (403, 400, or 429 once the guesses add up), and nobody
// gets a place.
func FuzzAccessCodeJoins(f *testing.F) {
	s := newStack(f)
	s.putRoom("presale", `{"admit_per_minute": 0, "access_code_required": true}`)
	if r := s.admin("POST", "/admin/v1/rooms/presale/codes", `{"codes": ["`+strings.Repeat("k", 40)+`"], "uses": 1000}`); r.status != http.StatusCreated {
		f.Fatalf("add codes: %d %s", r.status, r.body)
	}
	for _, seed := range []string{``, `{}`, `{"code":""}`, `{"code":"abcdef"}`, `{"code":"a\u0000bcdefg"}`, `{"code":["x"]}`, `{"code":1}`,
		`{"code":"` + strings.Repeat("z", 9000) + `"}`, `{"code":"kkkkkk","keep":"cookie"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) { mustRefuseJoin(t, s, "presale", body) })
}
