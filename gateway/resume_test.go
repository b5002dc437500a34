package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestResumeNeverReplacesAPlaceSilently: a browser that waits at place 2
// opens a resume link for place 1. The join must not quietly turn the
// browser's cookie into the link's place; the fan chooses, and the place
// not chosen is given up.
func TestResumeNeverReplacesAPlaceSilently(t *testing.T) {
	t.Parallel()
	for _, keep := range []string{"bearer", "cookie"} {
		t.Run(keep, func(t *testing.T) {
			s := newStack(t)
			s.putRoom("launch", `{"admit_per_minute": 0}`)
			link := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
			browser := s.do("POST", "/api/v1/rooms/launch/join", "")
			mine := cookie(browser, "cg_q_launch").Value
			both := []string{"Authorization", "Bearer " + link, "Cookie", "cg_q_launch=" + mine}

			r := s.do("POST", "/api/v1/rooms/launch/join", "", both...)
			if r.status != http.StatusConflict || r.errorCode(t) != "conflict" {
				t.Fatalf("join with two places: %d %s, want 409 conflict", r.status, r.body)
			}
			if cookie(r, "cg_q_launch") != nil {
				t.Fatalf("the 409 set the cookie: %v", r.header.Values("Set-Cookie"))
			}
			var body struct {
				Places struct{ Cookie, Bearer map[string]any } `json:"places"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Places.Cookie["position"] != 2.0 || body.Places.Bearer["position"] != 1.0 ||
				body.Places.Cookie["queue_token"] != nil || body.Places.Bearer["queue_token"] != nil {
				t.Fatalf("places: %s (%v)", r.body, err)
			}
			// A status read of the link's place does not take the cookie either.
			if r := s.do("GET", "/api/v1/rooms/launch/status", "", both...); r.status != http.StatusOK || cookie(r, "cg_q_launch") != nil {
				t.Fatalf("status with two places: %d, cookies %v", r.status, r.header.Values("Set-Cookie"))
			}

			r = s.do("POST", "/api/v1/rooms/launch/join", `{"keep":"`+keep+`"}`, append(both, "Content-Type", "application/json")...)
			if r.status != http.StatusOK {
				t.Fatalf("join keeping %s: %d %s", keep, r.status, r.body)
			}
			kept, gone, wantPos := link, mine, 1.0
			if keep == "cookie" {
				kept, gone, wantPos = mine, link, 1.0 // the link's place, ahead, was given up
			}
			if pos := r.json(t)["position"]; pos != wantPos {
				t.Errorf("kept place at %v, want %v", pos, wantPos)
			}
			if ck := cookie(r, "cg_q_launch"); ck == nil || ck.Value != kept {
				t.Errorf("cookie after keeping %s: %v", keep, ck)
			}
			if r := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+gone); r.status != http.StatusNotFound {
				t.Errorf("the place not kept is still in line: %d %s", r.status, r.body)
			}
		})
	}
}

// TestResumeWithoutAConflict: a link whose browser has no place, or whose
// own place is gone, is not asked anything.
func TestResumeWithoutAConflict(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	link := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	if r := s.do("POST", "/api/v1/rooms/launch/join", "", "Authorization", "Bearer "+link); r.status != http.StatusOK || cookie(r, "cg_q_launch").Value != link {
		t.Fatalf("link alone: %d %s", r.status, r.body)
	}
	browser := cookie(s.do("POST", "/api/v1/rooms/launch/join", ""), "cg_q_launch").Value
	if r := s.do("DELETE", "/api/v1/rooms/launch/ticket", "", "Authorization", "Bearer "+browser); r.status != http.StatusNoContent {
		t.Fatalf("leave: %d", r.status)
	}
	r := s.do("POST", "/api/v1/rooms/launch/join", "", "Authorization", "Bearer "+link, "Cookie", "cg_q_launch="+browser)
	if r.status != http.StatusOK || cookie(r, "cg_q_launch").Value != link {
		t.Fatalf("link over a place that is gone: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/api/v1/rooms/launch/join", `{"keep":"mine"}`, "Content-Type", "application/json"); r.status != http.StatusBadRequest {
		t.Fatalf("keep=mine: %d %s", r.status, r.body)
	}
}
