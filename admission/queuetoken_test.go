package admission

import (
	"errors"
	"strings"
	"testing"
)

func TestQueueTokenRoundTrip(t *testing.T) {
	store := &MemKeyStore{}
	a := mustKeyring(t, store, KeyringConfig{})
	b := mustKeyring(t, store, KeyringConfig{})
	for _, id := range []string{"a", "q7k2m9", "0123456789abcdefghij"} {
		tok := a.QueueToken("launch", id)
		if len(tok) > maxQueueTokenBytes || strings.ContainsAny(tok, ";, \"=") {
			t.Errorf("token %q is not cookie-safe or too long", tok)
		}
		for name, k := range map[string]*Keyring{"same instance": a, "other instance": b} {
			got, err := k.ParseQueueToken("launch", tok)
			if err != nil || got != id {
				t.Errorf("%s: ParseQueueToken(%q) = %q, %v; want %q", name, tok, got, err, id)
			}
		}
	}
	if a.QueueToken("launch", "abc") != b.QueueToken("launch", "abc") {
		t.Error("instances issue different queue tokens for one place")
	}
}

func TestParseQueueTokenRejects(t *testing.T) {
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{})
	stranger := mustKeyring(t, &MemKeyStore{}, KeyringConfig{})
	valid := k.QueueToken("launch", "abc123")
	id, mac, _ := strings.Cut(valid, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, room, token string
	}{
		{"other room", "encore", valid},
		{"room prefix", "launc", valid},
		{"other id, same mac", "launch", "abc124." + mac},
		{"forged mac first char", "launch", id + "." + flip(mac, 0)},
		{"forged mac last char", "launch", id + "." + flip(mac, len(mac)-1)},
		{"other keyring", "launch", stranger.QueueToken("launch", "abc123")},
		{"empty", "launch", ""},
		{"dot only", "launch", "."},
		{"no mac", "launch", id},
		{"empty mac", "launch", id + "."},
		{"no id", "launch", "." + mac},
		{"short mac", "launch", id + "." + mac[:21]},
		{"long mac", "launch", valid + "A"},
		{"extra segment", "launch", valid + ".x"},
		{"upper-case id", "launch", "ABC123." + mac},
		{"id too long", "launch", k.QueueToken("launch", "abcdefghijklmnopqrstu")},
		{"id with dash", "launch", k.QueueToken("launch", "abc-123")},
		{"non-ascii id", "launch", k.QueueToken("launch", "abcé")},
		{"too long", "launch", strings.Repeat("a", 60) + "." + mac},
		{"whitespace", "launch", " " + valid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.ParseQueueToken(tc.room, tc.token)
			if !errors.Is(err, ErrTokenInvalid) || got != "" {
				t.Errorf("ParseQueueToken(%q) = %q, %v; want ErrTokenInvalid", tc.token, got, err)
			}
		})
	}
}

func FuzzParseQueueToken(f *testing.F) {
	k := mustKeyring(f, &MemKeyStore{}, KeyringConfig{})
	f.Add("launch", k.QueueToken("launch", "abc123"))
	f.Add("launch", "abc123.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("", ".")
	f.Fuzz(func(t *testing.T, room, token string) {
		id, err := k.ParseQueueToken(room, token)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) || id != "" {
				t.Fatalf("ParseQueueToken = %q, %v", id, err)
			}
			return
		}
		if token != k.QueueToken(room, id) {
			t.Fatalf("accepted %q for room %q, which we did not issue", token, room)
		}
	})
}

func BenchmarkParseQueueToken(b *testing.B) {
	k := mustKeyring(b, &MemKeyStore{}, KeyringConfig{})
	tok := k.QueueToken("launch", "q7k2m9")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.ParseQueueToken("launch", tok); err != nil {
			b.Fatal(err)
		}
	}
}
