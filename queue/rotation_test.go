package queue_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// TestRotateEnqueueSecret: what a change leaves of the previous secret.
func TestRotateEnqueueSecret(t *testing.T) {
	const a, b, c = "secret-a-of-at-least-thirty-two-bytes", "secret-b-of-at-least-thirty-two-bytes", "secret-c-of-at-least-thirty-two-bytes"
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	room := func(secret string) queue.Room {
		return queue.Room{Name: "launch", EnqueueSecret: secret}.WithDefaults()
	}
	rotated := queue.RotateEnqueueSecret(room(a), room(b), time.Hour, now)
	for _, tc := range []struct {
		name      string
		got       queue.Room
		prev      string
		prevUntil time.Time
	}{
		{"a new secret keeps the old one for the overlap", rotated, a, now.Add(time.Hour)},
		{"no overlap keeps nothing", queue.RotateEnqueueSecret(room(a), room(b), 0, now), "", time.Time{}},
		{"the first secret has nothing to keep", queue.RotateEnqueueSecret(room(""), room(a), time.Hour, now), "", time.Time{}},
		{"the same secret keeps the overlap running", queue.RotateEnqueueSecret(rotated, room(b), time.Minute, now.Add(time.Minute)), a, now.Add(time.Hour)},
		{"an ended overlap is dropped", queue.RotateEnqueueSecret(rotated, room(b), time.Minute, now.Add(time.Hour)), "", time.Time{}},
		{"a second rotation keeps only the latest", queue.RotateEnqueueSecret(rotated, room(c), time.Hour, now.Add(time.Minute)), b, now.Add(time.Hour + time.Minute)},
		{"leaving HS256 keeps nothing", queue.RotateEnqueueSecret(rotated, queue.Room{Name: "launch", EnqueueJWKSURL: "https://shop.example/jwks.json"}.WithDefaults(), time.Hour, now), "", time.Time{}},
		{"an overlap set again", queue.SetEnqueueSecretOverlap(rotated, 5*time.Minute, now.Add(time.Minute)), a, now.Add(6 * time.Minute)},
		{"an overlap ended", queue.SetEnqueueSecretOverlap(rotated, 0, now), "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.EnqueuePreviousSecret != tc.prev || !tc.got.EnqueuePreviousSecretUntil.Equal(tc.prevUntil) {
				t.Fatalf("previous %q until %v, want %q until %v", tc.got.EnqueuePreviousSecret, tc.got.EnqueuePreviousSecretUntil, tc.prev, tc.prevUntil)
			}
			if err := tc.got.Validate(); err != nil {
				t.Fatalf("invalid: %v", err)
			}
		})
	}
	if got := rotated.EnqueueSecrets(now.Add(59 * time.Minute)); len(got) != 2 || got[0] != b || got[1] != a {
		t.Fatalf("secrets during the overlap: %q", got)
	}
	if got := rotated.EnqueueSecrets(now.Add(time.Hour)); len(got) != 1 || got[0] != b {
		t.Fatalf("secrets after the overlap: %q", got)
	}
}
