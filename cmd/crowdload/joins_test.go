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
