package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// revocationServer serves a room's revocation list as Crowdgate does: a strong ETag of
// the body, 304 on If-None-Match. Tests change the list and watch the requests.
type revocationServer struct {
	*httptest.Server
	mu       sync.Mutex
	doc      map[string]any
	body     []byte // when set, served instead of doc
	status   int    // when set, answered instead
	hits     atomic.Int64
	notModif atomic.Int64
}

func newRevocationServer(tb testing.TB, room string) *revocationServer {
	tb.Helper()
	s := &revocationServer{doc: map[string]any{"room": room, "exists": true, "min_iat": 0, "revoked": []any{}}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 0 {
			http.Error(w, "down", s.status)
			return
		}
		body := s.body
		if body == nil {
			body, _ = json.Marshal(s.doc)
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			s.notModif.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// set changes the list.
func (s *revocationServer) set(key string, value any) {
	s.mu.Lock()
	s.doc[key] = value
	s.mu.Unlock()
}

func (s *revocationServer) revoke(jti string, exp time.Time) {
	s.mu.Lock()
	s.doc["revoked"] = append(s.doc["revoked"].([]any), map[string]any{"jti": jti, "exp": exp.Unix()})
	s.mu.Unlock()
}

// revocationWorld is a world whose Verifier also follows a revocation list.
func revocationWorld(t *testing.T) (*world, *revocationServer) {
	t.Helper()
	w := newWorld(t)
	rs := newRevocationServer(t, "launch")
	w.v = mustVerifier(t, Config{JWKSURL: w.jwks.URL(), RevocationsURL: rs.URL, Now: w.clock.Now, Logger: testLogger(t)})
	return w, rs
}

func TestRevokedAdmissionsAreRefused(t *testing.T) {
	w, rs := revocationWorld(t)
	now := w.clock.Now()
	released, kept := pass(now), pass(now)
	released.ID, kept.ID = "a-released", "a-kept"
	releasedTok, keptTok := mustSign(t, w.ed.ring, released), mustSign(t, w.ed.ring, kept)
	for _, tok := range []string{releasedTok, keptTok} {
		if _, err := w.v.Verify(tok); err != nil { // and cached
			t.Fatalf("before the release: %v", err)
		}
	}
	rs.revoke("a-released", released.Expires)
	w.v.pollRevocations(context.Background())
	c, err := w.v.Verify(releasedTok)
	if !errors.Is(err, ErrRevoked) || c != (Claims{}) {
		t.Errorf("a released admission: %+v %v, want ErrRevoked", c, err)
	}
	for _, other := range []error{ErrNoToken, ErrInvalid, ErrExpired, ErrWrongRoom} {
		if errors.Is(err, other) {
			t.Errorf("%v also wraps %v", err, other)
		}
	}
	if _, err := w.v.Verify(keptTok); err != nil {
		t.Errorf("another admission: %v", err)
	}

	// Precedence: what is wrong with the token itself comes first.
	expired := pass(now.Add(-time.Hour))
	expired.ID = "a-released"
	if _, err := w.v.Verify(mustSign(t, w.ed.ring, expired)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired and revoked: %v, want ErrExpired", err)
	}
	otherRoom := released
	otherRoom.Room = "other"
	if _, err := w.v.Verify(mustSign(t, w.ed.ring, otherRoom)); !errors.Is(err, ErrWrongRoom) {
		t.Errorf("other room and revoked: %v, want ErrWrongRoom", err)
	}

	// A room deleted and made again: the old room's tokens end, the new room's pass.
	rs.set("min_iat", now.Add(time.Second).Unix())
	w.v.pollRevocations(context.Background())
	if _, err := w.v.Verify(keptTok); !errors.Is(err, ErrRevoked) {
		t.Errorf("issued before min_iat: %v, want ErrRevoked", err)
	}
	w.clock.Advance(2 * time.Second)
	if _, err := w.v.Verify(mustSign(t, w.ed.ring, pass(w.clock.Now()))); err != nil {
		t.Errorf("issued after min_iat: %v", err)
	}

	// A deleted room: nothing admits.
	rs.set("exists", false)
	w.v.pollRevocations(context.Background())
	if _, err := w.v.Verify(mustSign(t, w.ed.ring, pass(w.clock.Now()))); !errors.Is(err, ErrRevoked) {
		t.Errorf("room deleted: %v, want ErrRevoked", err)
	}
}

func TestRevocationListPollsWithETag(t *testing.T) {
	w, rs := revocationWorld(t)
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	for range 3 {
		w.v.pollRevocations(context.Background())
	}
	if hits, nm := rs.hits.Load(), rs.notModif.Load(); hits != 4 || nm != 3 {
		t.Errorf("4 polls (New's and 3): %d requests, %d answered 304; want 4 and 3", hits, nm)
	}
	rs.revoke("a-1", w.clock.Now().Add(time.Hour))
	w.v.pollRevocations(context.Background())
	if _, err := w.v.Verify(tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("after the list changed: %v, want ErrRevoked", err)
	}
}

// TestRevocationListFailuresKeepTheLastGoodList: a list that cannot be fetched or read, or
// is another room's, changes nothing; the log says so once.
func TestRevocationListFailuresKeepTheLastGoodList(t *testing.T) {
	w, rs := revocationWorld(t)
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	rs.revoke("a-1", w.clock.Now().Add(time.Hour))
	w.v.pollRevocations(context.Background())
	breakers := []struct {
		name    string
		breakIt func()
	}{
		{"503", func() { rs.status = http.StatusServiceUnavailable }},
		{"404", func() { rs.status = http.StatusNotFound }},
		{"not JSON", func() { rs.body = []byte("<html>") }},
		{"another room's", func() { rs.body = []byte(`{"room":"other","exists":true,"min_iat":0,"revoked":[]}`) }},
		{"no exists", func() { rs.body = []byte(`{"room":"launch","min_iat":0,"revoked":[]}`) }},
	}
	for _, b := range breakers {
		rs.mu.Lock()
		rs.status, rs.body = 0, nil
		b.breakIt()
		rs.mu.Unlock()
		w.v.pollRevocations(context.Background())
		if _, err := w.v.Verify(tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: the revocation was dropped: %v", b.name, err)
		}
		if !w.v.revPoll.failing {
			t.Errorf("%s: not counted as a failure", b.name)
		}
	}
	rs.mu.Lock()
	rs.status, rs.body = 0, nil
	rs.mu.Unlock()
	rs.set("revoked", []any{})
	w.v.pollRevocations(context.Background())
	if _, err := w.v.Verify(tok); err != nil || w.v.revPoll.failing {
		t.Errorf("recovered: %v (failing %v)", err, w.v.revPoll.failing)
	}
}

func TestRevocationListAtStartAndByRun(t *testing.T) {
	w := newWorld(t)
	rs := newRevocationServer(t, "launch")
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	rs.revoke("a-1", w.clock.Now().Add(time.Hour))

	// New reads the list; a Crowdgate without one does not stop it.
	v := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), RevocationsURL: rs.URL, Now: w.clock.Now})
	if _, err := v.Verify(tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("after New: %v, want ErrRevoked", err)
	}
	noList := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), Now: w.clock.Now}) // jwksServer 404s the default URL
	if _, err := noList.Verify(tok); err != nil {
		t.Errorf("without a list: %v", err)
	}
	ignoring := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), RevocationsURL: rs.URL, IgnoreRevocations: true, Now: w.clock.Now})
	if _, err := ignoring.Verify(tok); err != nil {
		t.Errorf("IgnoreRevocations: %v", err)
	}

	// Run polls every RevocationsEvery.
	rs.set("revoked", []any{})
	v = mustVerifier(t, Config{JWKSURL: w.jwks.URL(), RevocationsURL: rs.URL, RevocationsEvery: 5 * time.Millisecond, Now: w.clock.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("before the release: %v", err)
	}
	rs.revoke("a-1", w.clock.Now().Add(time.Hour))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := v.Verify(tok); errors.Is(err, ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick the revocation up within 10 s")
		}
	}
	before := rs.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if rs.hits.Load() == before {
		t.Error("Run stopped polling")
	}
}

func TestParseRevocations(t *testing.T) {
	list, err := parseRevocations([]byte(`{"room":"launch","exists":true,"min_iat":100,
		"revoked":[{"jti":"old","exp":50},{"jti":"live","exp":500}]}`), "launch", 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := list.jtis["old"]; ok || list.jtis["live"] != 500 || list.minIAT != 100 || !list.exists {
		t.Errorf("parsed %+v", list)
	}
	if (*revocations)(nil).revokes(Claims{ID: "x"}) {
		t.Error("before any list, something is revoked")
	}
}

func TestMiddlewareRefusesARevokedAdmission(t *testing.T) {
	w, rs := revocationWorld(t)
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	rs.revoke("a-1", w.clock.Now().Add(time.Hour))
	w.v.pollRevocations(context.Background())
	req := httptest.NewRequest("GET", "/checkout/cart", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	w.v.Middleware(echoClaims).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "this admission has ended") {
		t.Errorf("revoked, API client: %d %s", rec.Code, rec.Body)
	}
}
