package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// siteSecret is the HS256 secret the organizer's site shares with a room.
const siteSecret = "the-site-and-crowdgate-share-this-secret"

// enqueueToken is what the organizer's site signs for a signed-in fan.
func enqueueToken(t testing.TB, user, room string, lifetime time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "aud": room, "iat": now.Unix(), "exp": now.Add(lifetime).Unix(),
	}).SignedString([]byte(siteSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// joinWith joins as a device of its own (no cookie), with an enqueue token.
func (s *stack) joinWith(room, token string, header ...string) response {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"enqueue_token": token})
	return s.do("POST", "/api/v1/rooms/"+room+"/join", string(body), append([]string{"Content-Type", "application/json"}, header...)...)
}

func queueIDOf(t testing.TB, r response) string {
	t.Helper()
	id, _ := r.json(t)["queue_id"].(string)
	if r.status != http.StatusOK || id == "" {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
	return id
}

// TestOneUserOnePlaceWhateverTheDevice: in a room that requires enqueue
// tokens, a fan's second device gets the first device's place; another
// user gets their own; a join without a token, or with a bad one, gets a
// clear 401 and changes nothing.
func TestOneUserOnePlaceWhateverTheDevice(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0, "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)

	phone := s.joinWith("launch", enqueueToken(t, "user-1", "launch", 5*time.Minute))
	first := queueIDOf(t, phone)
	laptop := s.joinWith("launch", enqueueToken(t, "user-1", "launch", 5*time.Minute))
	if id := queueIDOf(t, laptop); id != first {
		t.Fatalf("the second device got place %s, want %s", id, first)
	}
	// The first device comes back with its cookie alone (the page strips
	// the token from the address bar): its place, no token needed.
	back := s.do("POST", "/api/v1/rooms/launch/join", "", "Cookie", "cg_q_launch="+cookie(phone, "cg_q_launch").Value)
	if id := queueIDOf(t, back); id != first {
		t.Fatalf("rejoin with the cookie: %s, want %s", id, first)
	}
	if other := queueIDOf(t, s.joinWith("launch", enqueueToken(t, "user-2", "launch", 5*time.Minute))); other == first {
		t.Fatal("another user got the same place")
	}

	forgedSecret, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "user-3", "aud": "launch", "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString([]byte(strings.Repeat("guessed!", 5)))
	for _, tc := range []struct {
		name, body, code string
	}{
		{"no token", "", "enqueue_token_required"},
		{"forged", `{"enqueue_token": "` + forgedSecret + `"}`, "enqueue_token_invalid"},
		{"other room", `{"enqueue_token": "` + enqueueToken(t, "user-3", "other", time.Minute) + `"}`, "enqueue_token_invalid"},
		{"expired", `{"enqueue_token": "` + enqueueToken(t, "user-3", "launch", -time.Minute) + `"}`, "enqueue_token_invalid"},
		{"an hour long", `{"enqueue_token": "` + enqueueToken(t, "user-3", "launch", time.Hour) + `"}`, "enqueue_token_invalid"},
		{"alg none", `{"enqueue_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTMiLCJhdWQiOiJsYXVuY2gifQ."}`, "enqueue_token_invalid"},
	} {
		r := s.do("POST", "/api/v1/rooms/launch/join", tc.body, "Content-Type", "application/json")
		if r.status != http.StatusUnauthorized || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want 401 %s", tc.name, r.status, r.body, tc.code)
		}
		if cookie(r, "cg_q_launch") != nil {
			t.Errorf("%s: a refused join set a queue cookie", tc.name)
		}
	}
	st, err := s.store.Stats(context.Background(), "launch")
	if err != nil || st.Waiting != 2 {
		t.Fatalf("waiting %d (%v), want 2: a refused join made a place", st.Waiting, err)
	}
	// Refused before join.lua, they reach the room's counts at a refresh.
	if err := s.ctl.FlushRefusals(context.Background()); err != nil {
		t.Fatal(err)
	}
	refused, err := s.store.Refusals(context.Background(), "launch")
	if err != nil || refused[queue.RefusedBadEnqueueToken] != 6 {
		t.Fatalf("refusals %v (%v), want 6 bad_enqueue_token", refused, err)
	}
}

// TestConcurrentDevicesOfOneUserShareAPlace: many devices of one user
// joining at once get one place between them.
func TestConcurrentDevicesOfOneUserShareAPlace(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0, "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	tok := enqueueToken(t, "racer", "launch", 5*time.Minute)
	const n = 24
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"enqueue_token": tok})
			res, err := http.Post(s.srv.URL+"/api/v1/rooms/launch/join", "application/json", strings.NewReader(string(body)))
			if err != nil {
				return
			}
			defer res.Body.Close()
			var v struct {
				QueueID string `json:"queue_id"`
			}
			_ = json.NewDecoder(res.Body).Decode(&v)
			ids[i] = v.QueueID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("device %d got place %q, device 0 %q", i, id, ids[0])
		}
	}
	if st, _ := s.store.Stats(context.Background(), "launch"); st.Waiting != 1 {
		t.Fatalf("waiting %d, want 1", st.Waiting)
	}
}

// TestTheOriginLearnsTheUser: the admission token carries the user id as
// uid, and forward auth and the reverse proxy hand it to the origin as
// X-Crowdgate-User; a client's own X-Crowdgate-User never gets there.
func TestTheOriginLearnsTheUser(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%q", r.Header.Get("X-Crowdgate-User"))
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)
	s := newStackWith(t, stackOptions{routes: []string{"/checkout/=launch"}, upstream: up})
	s.putRoom("launch", `{"passthrough": true, "enqueue_token": {"hs256_secret": "`+siteSecret+`"}}`)

	r := s.joinWith("launch", enqueueToken(t, "user-77", "launch", 5*time.Minute))
	at, _ := r.json(t)["admission_token"].(string)
	p, err := s.keys.Verify(at, "launch")
	if err != nil || p.UserID != "user-77" {
		t.Fatalf("admission %+v (%v), want uid user-77", p, err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[1])
	if !strings.Contains(string(payload), `"uid":"user-77"`) {
		t.Fatalf("payload %s has no uid", payload)
	}
	if c := s.do("GET", "/auth/v1/check?room=launch", "", "Authorization", "Bearer "+at); c.status != 200 || c.header.Get("X-Crowdgate-User") != "user-77" {
		t.Fatalf("forward auth: %d, X-Crowdgate-User %q", c.status, c.header.Get("X-Crowdgate-User"))
	}
	if c := s.do("GET", "/checkout/pay", "", "Cookie", "cg_a_launch="+at, "X-Crowdgate-User", "someone-else"); string(c.body) != `user="user-77"` {
		t.Fatalf("proxied: the origin saw %s", c.body)
	}
	// An anonymous admission (the token is optional here) sends no user,
	// whatever the client says.
	anon := s.do("POST", "/api/v1/rooms/launch/join", "")
	aat, _ := anon.json(t)["admission_token"].(string)
	if c := s.do("GET", "/auth/v1/check?room=launch", "", "Authorization", "Bearer "+aat); c.status != 200 || c.header.Get("X-Crowdgate-User") != "" {
		t.Fatalf("anonymous forward auth: %d, X-Crowdgate-User %q", c.status, c.header.Get("X-Crowdgate-User"))
	}
	if c := s.do("GET", "/checkout/pay", "", "Cookie", "cg_a_launch="+aat, "X-Crowdgate-User", "admin", "X_Crowdgate_User", "admin"); string(c.body) != `user=""` {
		t.Fatalf("anonymous proxied: the origin saw %s", c.body)
	}
}

// TestEnqueueTokensFromTheSitesKeySet: a room that names its site's JWKS
// takes EdDSA tokens by the key their kid names, and refuses an HS256 token
// keyed with that public key (alg confusion).
func TestEnqueueTokensFromTheSitesKeySet(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"site-1","use":"sig","x":%q}]}`, base64.RawURLEncoding.EncodeToString(pub))
	}))
	t.Cleanup(site.Close)
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0, "enqueue_token": {"required": true, "jwks_url": "`+site.URL+`/.well-known/jwks.json"}}`)
	claims := jwt.MapClaims{"sub": "user-9", "aud": "launch", "exp": time.Now().Add(2 * time.Minute).Unix()}
	signed := func(m jwt.SigningMethod, key any) string {
		tk := jwt.NewWithClaims(m, claims)
		tk.Header["kid"] = "site-1"
		out, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := queueIDOf(t, s.joinWith("launch", signed(jwt.SigningMethodEdDSA, priv)))
	if again := queueIDOf(t, s.joinWith("launch", signed(jwt.SigningMethodEdDSA, priv))); again != first {
		t.Fatalf("second device: %s, want %s", again, first)
	}
	if r := s.joinWith("launch", signed(jwt.SigningMethodHS256, []byte(pub))); r.status != http.StatusUnauthorized || r.errorCode(t) != "enqueue_token_invalid" {
		t.Fatalf("HS256 keyed with the public key: %d %s", r.status, r.body)
	}
}

// TestRoomEnqueueTokenSettings: the secret is checked and never shown; a
// document read back keeps it; PATCH changes only what it names.
func TestRoomEnqueueTokenSettings(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	get := s.admin("GET", "/admin/v1/rooms/launch", "")
	if strings.Contains(string(get.body), siteSecret) {
		t.Fatalf("GET shows the secret: %s", get.body)
	}
	var room struct {
		EnqueueToken map[string]any `json:"enqueue_token"`
	}
	_ = json.Unmarshal(get.body, &room)
	if room.EnqueueToken["required"] != true || room.EnqueueToken["hs256_secret_set"] != true {
		t.Fatalf("enqueue_token %v", room.EnqueueToken)
	}
	// What GET printed can be PUT back: the secret stays.
	if r := s.admin("PUT", "/admin/v1/rooms/launch", `{"enqueue_token": {"required": true, "hs256_secret_set": true, "jwks_url": ""}}`); r.status != 200 {
		t.Fatalf("put back: %d %s", r.status, r.body)
	}
	if r, _ := s.store.GetRoom(context.Background(), "launch"); r.EnqueueSecret != siteSecret {
		t.Fatal("putting the document back lost the secret")
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"enqueue_token": {"required": false}}`); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r, _ := s.store.GetRoom(context.Background(), "launch"); r.EnqueueTokenRequired || r.EnqueueSecret != siteSecret {
		t.Fatalf("patch of required: %+v", r)
	}
	for _, body := range []string{
		`{"enqueue_token": {"hs256_secret": "short"}}`,
		`{"enqueue_token": {"hs256_secret": "` + siteSecret + `", "jwks_url": "https://shop.example/jwks.json"}}`,
		`{"enqueue_token": {"required": true}}`,
		`{"enqueue_token": {"jwks_url": "http://shop.example/jwks.json"}}`,
		`{"enqueue_token": {"jwks_url": "https://user:pw@shop.example/jwks.json"}}`,
		`{"enqueue_token": {"algorithm": "none"}}`,
	} {
		if r := s.admin("PUT", "/admin/v1/rooms/other", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, r.status, r.body)
		}
	}
	if r := s.admin("PUT", "/admin/v1/rooms/fresh", `{"enqueue_token": {"hs256_secret_set": true}}`); r.status != http.StatusBadRequest {
		t.Errorf("keeping a secret a new room does not have: %d %s", r.status, r.body)
	}
	// Neither is the audit log of those writes.
	session, _ := s.login()
	if r := s.withSession(session, "", "GET", "/admin/v1/audit?limit=50", ""); r.status != 200 || strings.Contains(string(r.body), siteSecret) || !strings.Contains(string(r.body), "/admin/v1/rooms/launch") {
		t.Fatalf("audit log: %d %s", r.status, r.body)
	}
}

// TestEnqueueSecretRotationThroughTheAPI: an organizer replaces the room's
// HS256 secret; tokens the site signed with the old one still join until
// the overlap the change asked for ends, which GET shows, and ending the
// overlap early refuses them at once.
func TestEnqueueSecretRotationThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const newSecret = "the-rotated-secret-the-site-switches-to"
	s.putRoom("launch", `{"admit_per_minute": 0, "challenge": "off", "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	signed := func(user, secret string) string {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": user, "aud": "launch", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"enqueue_token": {"hs256_secret": "`+newSecret+`", "hs256_previous_secret_seconds": 3600}}`)
	var room struct {
		EnqueueToken struct {
			Until *time.Time `json:"hs256_previous_secret_until"`
		} `json:"enqueue_token"`
	}
	if err := json.Unmarshal(r.body, &room); r.status != 200 || err != nil || room.EnqueueToken.Until == nil ||
		time.Until(*room.EnqueueToken.Until) < 59*time.Minute || time.Until(*room.EnqueueToken.Until) > time.Hour {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), siteSecret) || strings.Contains(string(r.body), newSecret) {
		t.Fatalf("the answer shows a secret: %s", r.body)
	}
	queueIDOf(t, s.joinWith("launch", signed("old-site", siteSecret)))
	queueIDOf(t, s.joinWith("launch", signed("new-site", newSecret)))
	// What GET printed can be PUT back: the overlap stays.
	if r := s.admin("PUT", "/admin/v1/rooms/launch", `{"admit_per_minute": 0, "challenge": "off", "enqueue_token": {"required": true, "hs256_secret_set": true}}`); r.status != 200 {
		t.Fatalf("put back: %d %s", r.status, r.body)
	}
	queueIDOf(t, s.joinWith("launch", signed("old-site-2", siteSecret)))

	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"enqueue_token": {"hs256_previous_secret_seconds": 0}}`); r.status != 200 || strings.Contains(string(r.body), "hs256_previous_secret_until") {
		t.Fatalf("end the overlap: %d %s", r.status, r.body)
	}
	if r := s.joinWith("launch", signed("old-site-3", siteSecret)); r.status != http.StatusUnauthorized {
		t.Fatalf("old secret after the overlap: %d %s", r.status, r.body)
	}
	queueIDOf(t, s.joinWith("launch", signed("new-site-2", newSecret)))
	for _, body := range []string{
		`{"enqueue_token": {"hs256_previous_secret_seconds": -1}}`,
		`{"enqueue_token": {"hs256_previous_secret_seconds": 604801}}`,
	} {
		if r := s.admin("PATCH", "/admin/v1/rooms/launch", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, r.status, r.body)
		}
	}
}

// TestPerUserLimitAcrossDevicesAndAdmissions: holds carry the user id, so
// the event's per-admission limit counts a user's tickets whatever device
// and admission they buy with.
func TestPerUserLimitAcrossDevicesAndAdmissions(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true})
	s.putRoom("launch", `{"passthrough": true, "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	if r := s.admin("PUT", "/admin/v1/events/gig", eventDoc); r.status != http.StatusCreated {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	admission := func() string {
		r := s.joinWith("launch", enqueueToken(t, "buyer", "launch", 5*time.Minute))
		at, _ := r.json(t)["admission_token"].(string)
		if at == "" {
			t.Fatalf("join: %d %s", r.status, r.body)
		}
		return at
	}
	phone, laptop := admission(), admission()
	if phone != laptop {
		t.Fatal("two devices of one user got two admissions")
	}
	if r := s.as(phone, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":4}`); r.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	// The admission ends; the user joins again and is admitted afresh.
	if r := s.as(phone, "POST", "/api/v1/rooms/launch/release", ""); r.status != http.StatusNoContent {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	again := admission()
	if again == phone {
		t.Fatal("a released admission was handed back")
	}
	r := s.as(again, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`)
	if r.status != http.StatusConflict || r.errorCode(t) != "limit_reached" {
		t.Fatalf("a fifth ticket for the same user: %d %s, want 409 limit_reached", r.status, r.body)
	}
}

// BenchmarkJoinHandlerWithEnqueueToken is BenchmarkJoinHandler in a room
// that requires enqueue tokens: "new users" makes a place per join (each
// with a token of its own, signed in the loop: the site's cost is in the
// figure too), "one user" is a user's devices joining again and again.
func BenchmarkJoinHandlerWithEnqueueToken(b *testing.B) {
	s := newStackWith(b, stackOptions{bypass: "192.0.2.0/24"}) // httptest's address: no per-address limit
	s.putRoom("launch", `{"admit_per_minute": 0, "session_seconds": 900, "challenge": "off", "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	h := s.srv.Config.Handler
	var n atomic.Int64
	for _, bc := range []struct {
		name  string
		token func() string
	}{
		{"new users", func() string { return enqueueToken(b, fmt.Sprintf("user-%d", n.Add(1)), "launch", 5*time.Minute) }},
		{"one user", func() string { return enqueueToken(b, "user-0", "launch", 5*time.Minute) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(32)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/api/v1/rooms/launch/join", strings.NewReader(`{"enqueue_token":"`+bc.token()+`"}`))
					req.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "joins/s")
		})
	}
}

// TestConfigFilesDeclareEnqueueTokens: a configuration file's room takes
// the same enqueue_token as the admin API, with its secret spelled out.
func TestConfigFilesDeclareEnqueueTokens(t *testing.T) {
	r, err := gateway.DecodeRoom("launch", []byte(`{"enqueue_token": {"required": true, "jwks_url": "https://shop.example/.well-known/jwks.json"}}`))
	if err != nil || !r.EnqueueTokenRequired || r.EnqueueJWKSURL != "https://shop.example/.well-known/jwks.json" {
		t.Fatalf("DecodeRoom = %+v, %v", r, err)
	}
	for _, doc := range []string{
		`{"enqueue_token": {"required": true, "hs256_secret_set": true}}`,
		`{"enqueue_token": {"required": true}}`,
		`{"enqueue_token": {"hs256_secret": "too short"}}`,
	} {
		if _, err := gateway.DecodeRoom("launch", []byte(doc)); err == nil {
			t.Errorf("DecodeRoom(%s) took it", doc)
		}
	}
}
