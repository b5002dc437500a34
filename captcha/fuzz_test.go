package captcha_test

import (
	"encoding/json"
	"testing"

	"github.com/crowdgate/crowdgate/captcha"
)

// FuzzParseAnswer: whatever a provider (or whoever answers in its place)
// sends, the parser neither panics nor accepts what is not one siteverify
// object with a boolean success and a score within 0..1.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"success":true,"challenge_ts":"2026-12-01T10:00:00.000Z","hostname":"tickets.example","error-codes":[],"action":"join","cdata":""}`,
		`{"success":false,"error-codes":["invalid-input-response"]}`,
		`{"success":true,"challenge_ts":"2026-12-01T10:00:00+0000","hostname":"x","score":0.9,"action":"join"}`,
		`{"success":true,"credit":false,"score_reason":[]}`,
		`{"success":"true"}`, `null`, `[]`, `{}`, `{"success":true}{}`, `{"success":true,"score":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := captcha.ParseAnswer(body)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			t.Fatalf("accepted %q, which is no JSON object", body)
		}
		if s := string(m["success"]); s != "true" && s != "false" {
			t.Fatalf("accepted %q without a boolean success", body)
		}
		if a.Score != nil && (*a.Score < 0 || *a.Score > 1) {
			t.Fatalf("accepted score %v", *a.Score)
		}
	})
}
