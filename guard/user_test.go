package guard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestTheOriginReadsTheUserID: an admission made with an enqueue token
// carries the organizer's user id as uid, which Verify and the middleware's
// context give the origin; one made without carries none.
func TestTheOriginReadsTheUserID(t *testing.T) {
	w := newWorld(t)
	p := pass(w.clock.Now().Add(-time.Minute))
	p.UserID = "user-8841"
	c, err := w.v.Verify(mustSign(t, w.ed.ring, p))
	if err != nil || c.UserID != "user-8841" {
		t.Fatalf("Verify = %+v, %v; want uid user-8841", c, err)
	}
	h := w.v.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, _ := FromContext(r.Context())
		fmt.Fprint(rw, c.UserID)
	}))
	for _, tc := range []struct{ uid, want string }{{"user-8841", "user-8841"}, {"", ""}} {
		p.UserID = tc.uid
		r := httptest.NewRequest(http.MethodGet, "/checkout", nil)
		r.Header.Set("Authorization", "Bearer "+mustSign(t, w.ed.ring, p))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("uid %q: %d %q, want 200 %q", tc.uid, rec.Code, rec.Body.String(), tc.want)
		}
	}
}
