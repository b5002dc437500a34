package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/admission/admissiontest"
	"github.com/crowdgate/crowdgate/api"
)

// gateServer is a join endpoint with a gate: the first two joins get a
// place, then every join needs an 8-bit challenge, checked for real.
func gateServer(t *testing.T) (url string, places *atomic.Int64) {
	t.Helper()
	keys, err := admission.NewKeyring(context.Background(), &admissiontest.KeyStore{}, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	places = &atomic.Int64{}
	var joins atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b api.JoinRequest
		_ = json.NewDecoder(r.Body).Decode(&b)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case b.Challenge != "":
			if _, err := keys.VerifyChallenge("gate", b.Challenge, b.Solution, time.Now()); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: "challenge_failed", Message: err.Error()}})
				return
			}
		case joins.Add(1) > 2:
			ch := keys.Challenge("gate", 8, time.Now())
			w.WriteHeader(http.StatusPreconditionRequired)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: "challenge_required", Message: "solve it"},
				Challenge: &api.Challenge{Token: ch.Token, Bits: ch.Bits, Algorithm: admission.ChallengeAlgorithm, ExpiresAt: ch.Expires}})
			return
		}
		places.Add(1)
		_ = json.NewEncoder(w).Encode(api.Ticket{Status: "waiting", QueueToken: "t"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, places
}

// TestJoinsSolvesChallenges: the bot gets past the gate only by solving,
// and the crowd of fans all get a place.
func TestJoinsSolvesChallenges(t *testing.T) {
	url, places := gateServer(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"joins", "-target", url, "-room", "gate", "-mode", "bot", "-seconds", "1", "-concurrency", "2"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if places.Load() != 2 || !strings.Contains(out.String(), "places: 2 ") || !strings.Contains(out.String(), "refused 428 challenge_required") {
		t.Fatalf("a bot that does not solve got %d places:\n%s", places.Load(), out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"joins", "-target", url, "-room", "gate", "-mode", "bot", "-solve", "-seconds", "1", "-concurrency", "2"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if places.Load() < 3 || !strings.Contains(out.String(), "challenges of 8 bits") {
		t.Fatalf("a solving bot got no place past the gate:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"joins", "-target", url, "-room", "gate", "-mode", "fans", "-fans", "20", "-spread", "100ms"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "got a place: 20;") {
		t.Fatalf("not every fan got a place:\n%s", out.String())
	}
}

// TestJoinsCapacity: the capacity run asks every challenge, solves it and
// makes every place with it, over raw connections.
func TestJoinsCapacity(t *testing.T) {
	keys, err := admission.NewKeyring(context.Background(), &admissiontest.KeyStore{}, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var places atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b api.JoinRequest
		_ = json.NewDecoder(r.Body).Decode(&b)
		w.Header().Set("Content-Type", "application/json")
		if b.Challenge == "" {
			ch := keys.Challenge("cap", 8, time.Now())
			w.WriteHeader(http.StatusPreconditionRequired)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: "challenge_required", Message: "solve it"},
				Challenge: &api.Challenge{Token: ch.Token, Bits: ch.Bits, Algorithm: admission.ChallengeAlgorithm, ExpiresAt: ch.Expires}})
			return
		}
		if _, err := keys.VerifyChallenge("cap", b.Challenge, b.Solution, time.Now()); err != nil || r.Header.Get("X-Forwarded-For") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: "challenge_failed", Message: "no"}})
			return
		}
		places.Add(1)
		_ = json.NewEncoder(w).Encode(api.Ticket{Status: "waiting", QueueToken: "t"})
	}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"joins", "-target", srv.URL, "-room", "cap", "-mode", "capacity", "-places", "50", "-concurrency", "4"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if places.Load() != 50 || !strings.Contains(out.String(), "3 places made (200): 50 ") {
		t.Fatalf("%d places:\n%s", places.Load(), out.String())
	}
}

// TestJoinsWithEnqueueTokens: with -users, every join brings a token the
// room's secret signs, for the room, naming one of the users.
func TestJoinsWithEnqueueTokens(t *testing.T) {
	secret := strings.Repeat("s", 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b api.JoinRequest
		_ = json.NewDecoder(r.Body).Decode(&b)
		var c jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(b.EnqueueToken, &c, func(*jwt.Token) (any, error) { return []byte(secret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience("gate"), jwt.WithExpirationRequired())
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: "enqueue_token_invalid", Message: err.Error()}})
			return
		}
		// One place per user id.
		_ = json.NewEncoder(w).Encode(api.Ticket{Status: "waiting", QueueID: c.Subject, QueueToken: "t"})
	}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"joins", "-target", srv.URL, "-room", "gate", "-mode", "bot", "-seconds", "1", "-concurrency", "2",
		"-users", "3", "-enqueue-secret", secret}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "distinct places: 3\n") || strings.Contains(out.String(), "refused") {
		t.Fatalf("three users' joins:\n%s", out.String())
	}
}
