package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/guard"
)

// waitFor polls cond for up to 10 s (a bound for a loaded CI box, not a
// figure under test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// secondGateway is another instance beside s: its own store client,
// keyring and running controller, over s's Redis.
func secondGateway(t *testing.T, s *stack) *stack {
	t.Helper()
	return newStackWith(t, stackOptions{redis: s.redis, running: true})
}

// claimOf reads a claim of a JWT without verifying it.
func claimOf(t *testing.T, token, name string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims[name]
}

// checkAt is forward auth's answer for token in room launch.
func (s *stack) checkAt(token string) int {
	s.t.Helper()
	return s.do("GET", "/auth/v1/check?room=launch", "", "Authorization", "Bearer "+token).status
}

// TestARevocationOutlivesSessionChangesAtTheDoor: a released admission is
// refused by forward auth until its token expires, even after the room's
// session_seconds was lowered below the time since the release and raised
// again.
func TestARevocationOutlivesSessionChangesAtTheDoor(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{running: true})
	s.putRoom("launch", `{"passthrough": true, "session_seconds": 600}`)
	token := s.fan("launch")
	if got := s.checkAt(token); got != http.StatusOK {
		t.Fatalf("before the release: %d", got)
	}
	if r := s.as(token, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"session_seconds": 1}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	// Longer than the short session, with refreshes every 50 ms meanwhile.
	time.Sleep(1500 * time.Millisecond)
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"session_seconds": 600}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	time.Sleep(200 * time.Millisecond)
	if got := s.checkAt(token); got != http.StatusUnauthorized {
		t.Errorf("a released admission after session_seconds went down and up: %d, want 401", got)
	}
}

// TestADeletedRoomsAdmissionsEndOnEveryGateway: a room deleted through one
// gateway ends its admissions on another that has it cached, and a room
// made again under the same name through the first does not honour them
// on the second either.
func TestADeletedRoomsAdmissionsEndOnEveryGateway(t *testing.T) {
	t.Parallel()
	for _, again := range []bool{false, true} {
		name := map[bool]string{false: "deleted", true: "deleted and created again"}[again]
		t.Run(name, func(t *testing.T) {
			a := newStackWith(t, stackOptions{running: true})
			b := secondGateway(t, a)
			a.putRoom("launch", `{"passthrough": true}`)
			token := a.fan("launch")
			waitFor(t, "the second gateway admits", func() bool { return b.checkAt(token) == http.StatusOK })
			if r := a.admin("DELETE", "/admin/v1/rooms/launch", ""); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if again {
				time.Sleep(1100 * time.Millisecond) // the new room is younger than the token's iat second
				a.putRoom("launch", `{"passthrough": true}`)
			}
			waitFor(t, "the second gateway refuses", func() bool { return b.checkAt(token) == http.StatusUnauthorized })
			if again {
				if got := b.checkAt(b.fan("launch")); got != http.StatusOK {
					t.Errorf("the new room's own admission on the second gateway: %d", got)
				}
			}
		})
	}
}

// revocationList is GET .../revocations as an origin reads it.
type revocationList struct {
	Room    string `json:"room"`
	Exists  bool   `json:"exists"`
	MinIAT  int64  `json:"min_iat"`
	Revoked []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	} `json:"revoked"`
}

func (s *stack) revocations(t *testing.T, room string, header ...string) (response, revocationList) {
	t.Helper()
	r := s.do("GET", "/api/v1/rooms/"+room+"/revocations", "", header...)
	var l revocationList
	if r.status == http.StatusOK {
		body := r.body
		if r.header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("list %q: %v", body, err)
		}
	}
	return r, l
}

// TestRevocationList: the public list names each released admission's
// jti with its exp, on every gateway, with a strong ETag that a poll
// sends back to get a 304.
func TestRevocationList(t *testing.T) {
	t.Parallel()
	a := newStackWith(t, stackOptions{running: true})
	b := secondGateway(t, a)
	a.putRoom("launch", `{"passthrough": true, "session_seconds": 600}`)
	room, err := a.store.GetRoom(context.Background(), "launch")
	if err != nil {
		t.Fatal(err)
	}
	r, l := a.revocations(t, "launch")
	if r.status != http.StatusOK || l.Room != "launch" || !l.Exists || len(l.Revoked) != 0 || l.MinIAT != room.CreatedAt.Unix() {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}
	etag := r.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || r.header.Get("Cache-Control") != "public, max-age=2" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", r.header)
	}
	if r := a.do("GET", "/api/v1/rooms/launch/revocations", "", "If-None-Match", etag); r.status != http.StatusNotModified || r.header.Get("ETag") != etag || len(r.body) != 0 {
		t.Errorf("If-None-Match the same: %d %q %v", r.status, r.body, r.header)
	}

	released, kept := a.fan("launch"), a.fan("launch")
	if r := a.as(released, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	jti, exp := claimOf(t, released, "jti"), claimOf(t, released, "exp").(float64)
	for i, s := range []*stack{a, b} {
		waitFor(t, "the release in the list", func() bool {
			_, l := s.revocations(t, "launch")
			return len(l.Revoked) == 1
		})
		r, l := s.revocations(t, "launch", "If-None-Match", etag)
		if r.status != http.StatusOK || l.Revoked[0].JTI != jti || l.Revoked[0].Exp != int64(exp) {
			t.Errorf("gateway %d: %d %s, want jti %v exp %v", i, r.status, r.body, jti, exp)
		}
		if r.header.Get("ETag") == etag {
			t.Errorf("gateway %d: the ETag did not change with the list", i)
		}
	}
	if _, l := b.revocations(t, "launch"); len(l.Revoked) != 1 || l.Revoked[0].JTI == claimOf(t, kept, "jti") {
		t.Errorf("an admission not released is listed: %+v", l)
	}
	// The same list renders the same bytes on every instance, so a poll
	// that lands on another one still gets its 304.
	ra, _ := a.revocations(t, "launch")
	if r := b.do("GET", "/api/v1/rooms/launch/revocations", "", "If-None-Match", ra.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Errorf("another instance, same list: %d %s", r.status, r.body)
	}

	if r, l := a.revocations(t, "nope"); r.status != http.StatusOK || l.Exists || l.Room != "nope" {
		t.Errorf("a room that does not exist: %d %s", r.status, r.body)
	}
	if r, _ := a.revocations(t, "Not_A_Room"); r.status != http.StatusBadRequest {
		t.Errorf("a bad room id: %d", r.status)
	}
}

// TestRevocationListIsRenderedOncePerSecondAndCompressed: a burst of polls
// costs one rendering, and a long list goes out gzipped to clients that
// take it.
func TestRevocationListIsRenderedOncePerSecondAndCompressed(t *testing.T) {
	t.Parallel()
	a := newStackWith(t, stackOptions{running: true})
	a.putRoom("launch", `{"passthrough": true, "session_seconds": 600, "challenge": "off"}`)
	rendered := time.Now() // no later than the first rendering
	r0, _ := a.revocations(t, "launch")
	if r := a.as(a.fan("launch"), "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	// This instance holds the release at once; its list shows it only
	// from the next rendering, a second after the last.
	r1, _ := a.revocations(t, "launch")
	if time.Since(rendered) < 800*time.Millisecond && r1.header.Get("ETag") != r0.header.Get("ETag") {
		t.Errorf("the list was rendered again within a second")
	}
	for range 39 {
		if r := a.as(a.fan("launch"), "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
			t.Fatalf("release: %d %s", r.status, r.body)
		}
	}
	var l revocationList
	waitFor(t, "all 40 in the list", func() bool {
		_, l = a.revocations(t, "launch")
		return len(l.Revoked) == 40
	})
	r, lz := a.revocations(t, "launch", "Accept-Encoding", "gzip")
	if r.header.Get("Content-Encoding") != "gzip" || len(lz.Revoked) != 40 || !strings.Contains(r.header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: %v, %d entries", r.header, len(lz.Revoked))
	}
	if r2 := a.do("GET", "/api/v1/rooms/launch/revocations", "", "Accept-Encoding", "gzip", "If-None-Match", r.header.Get("ETag")); r2.status != http.StatusNotModified {
		t.Errorf("gzip ETag: %d", r2.status)
	}
	for i := 1; i < len(l.Revoked); i++ {
		if p, q := l.Revoked[i-1], l.Revoked[i]; p.Exp > q.Exp || p.Exp == q.Exp && p.JTI >= q.JTI {
			t.Fatalf("not ordered by exp then jti: %+v", l.Revoked)
		}
	}
}

// TestGuardRefusesAReleasedAdmission: an origin guarded by package guard
// refuses an admission released at Crowdgate within its poll period.
func TestGuardRefusesAReleasedAdmission(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{running: true})
	s.putRoom("launch", `{"passthrough": true, "session_seconds": 600}`)
	ctx, cancel := context.WithCancel(context.Background())
	v, err := guard.New(ctx, guard.Config{JWKSURL: s.srv.URL + "/.well-known/jwks.json", Room: "launch", RevocationsEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	token, other := s.fan("launch"), s.fan("launch")
	if _, err := v.Verify(token); err != nil {
		t.Fatalf("before the release: %v", err)
	}
	if r := s.as(token, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	start := time.Now()
	waitFor(t, "guard refuses the released admission", func() bool {
		_, err := v.Verify(token)
		return errors.Is(err, guard.ErrRevoked)
	})
	t.Logf("refused %v after the release (list rendered at most once a second, polled every 100 ms)", time.Since(start).Round(time.Millisecond))
	if _, err := v.Verify(other); err != nil {
		t.Errorf("an admission not released: %v", err)
	}
}
