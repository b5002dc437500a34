package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// userAdmission makes room, which must admit on arrival, take enqueue
// tokens and returns the admission token user gets by joining with one,
// straight from Crowdgate at base (admin token "tok").
func userAdmission(t *testing.T, base, room, user string) string {
	t.Helper()
	const secret = "a-site-secret-of-at-least-32-bytes"
	admin := []string{"Authorization", "Bearer tok", "Content-Type", "application/json"}
	if code, m := call(t, "PATCH", base+"/admin/v1/rooms/"+room, `{"passthrough": true, "enqueue_token": {"hs256_secret": "`+secret+`"}}`, admin...); code != 200 {
		t.Fatalf("enqueue tokens for %s: %d %v", room, code, m)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "aud": room, "exp": time.Now().Add(5 * time.Minute).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	code, m := call(t, "POST", base+"/api/v1/rooms/"+room+"/join", `{"enqueue_token": "`+tok+`"}`, "Content-Type", "application/json")
	at, _ := m["admission_token"].(string)
	if code != 200 || at == "" {
		t.Fatalf("join %s as %s: %d %v", room, user, code, m)
	}
	return at
}
