package gateway_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// fairnessDoc is the /fairness answer.
type fairnessDoc struct {
	Room          string  `json:"room"`
	Mode          string  `json:"mode"`
	Algorithm     string  `json:"algorithm"`
	Commitment    string  `json:"commitment"`
	CommittedAt   *string `json:"committed_at"`
	Seed          string  `json:"seed"`
	DrawnAt       *string `json:"drawn_at"`
	Participants  *int    `json:"participants"`
	CutoffQueueID string  `json:"cutoff_queue_id"`
}

func (s *stack) fairness(room string) (fairnessDoc, response) {
	s.t.Helper()
	r := s.do("GET", "/api/v1/rooms/"+room+"/fairness", "")
	if r.status != 200 {
		s.t.Fatalf("fairness of %s: %d %s", room, r.status, r.body)
	}
	var d fairnessDoc
	if err := json.Unmarshal(r.body, &d); err != nil {
		s.t.Fatal(err)
	}
	return d, r
}

func randomRoomBody(sale time.Time) string {
	return fmt.Sprintf(`{"admit_per_minute": 600, "mode": "random_prequeue", "queue_opens_at": %q, "sale_starts_at": %q}`,
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), sale.UTC().Format(time.RFC3339))
}

// TestFairnessEndpoints: the commitment is public from the moment the
// pre-queue opens and the seed stays hidden until the draw; afterwards the
// seed matches the commitment and the published participants, run through
// the documented algorithm, give exactly the line in the store.
func TestFairnessEndpoints(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	ctx := context.Background()
	st.putRoom("drop", randomRoomBody(time.Now().Add(time.Hour)))

	before, r := st.fairness("drop")
	if before.Mode != queue.ModeRandomPrequeue || len(before.Commitment) != 64 || before.Seed != "" ||
		before.DrawnAt != nil || before.Participants != nil || before.CommittedAt == nil || before.Algorithm != queue.DrawAlgorithm {
		t.Fatalf("before the draw: %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers before the draw: %v", r.header)
	}
	var ids []string
	for range 12 {
		r := st.do("POST", "/api/v1/rooms/drop/join", "")
		j := r.json(t)
		if r.status != 200 || j["status"] != "prequeue" {
			t.Fatalf("join: %d %s", r.status, r.body)
		}
		ids = append(ids, j["queue_id"].(string))
	}
	if r := st.do("GET", "/api/v1/rooms/drop/fairness/participants", ""); r.status != 409 || r.errorCode(t) != "conflict" {
		t.Fatalf("participants before the draw: %d %s", r.status, r.body)
	}

	// The sale starts; the seed stays secret until the draw is done.
	st.putRoom("drop", randomRoomBody(time.Now().Add(-time.Second)))
	if d, _ := st.fairness("drop"); d.Seed != "" || d.Commitment != before.Commitment {
		t.Fatalf("after sale_starts_at, before the draw: %+v", d)
	}
	if res, err := st.store.Draw(ctx, "drop"); err != nil || !res.Drew {
		t.Fatalf("draw: %+v %v", res, err)
	}

	after, r := st.fairness("drop")
	seed, err := hex.DecodeString(after.Seed)
	if err != nil || after.Commitment != before.Commitment || queue.Commitment(seed) != after.Commitment {
		t.Fatalf("after the draw the seed does not match the commitment: %s", r.body)
	}
	if after.DrawnAt == nil || after.Participants == nil || *after.Participants != len(ids) || after.CutoffQueueID != ids[len(ids)-1] {
		t.Fatalf("after the draw: %s", r.body)
	}
	if r.header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("a drawn proof is not cacheable: %v", r.header)
	}
	if _, again := st.fairness("drop"); string(again.body) != string(r.body) {
		t.Fatalf("the proof changed: %s then %s", r.body, again.body)
	}
	r = st.do("GET", "/api/v1/rooms/drop/fairness/participants", "")
	var parts struct {
		Room     string   `json:"room"`
		QueueIDs []string `json:"queue_ids"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &parts) != nil || parts.Room != "drop" || !slices.Equal(parts.QueueIDs, ids) {
		t.Fatalf("participants: %d %s, want %v", r.status, r.body, ids)
	}
	line, err := st.redis.Client(t).ZRange(ctx, "cg:{drop}:q", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if order := queue.DrawOrder(seed, parts.QueueIDs); !slices.Equal(order, line) {
		t.Fatalf("recomputed order %v, line %v", order, line)
	}
}

func TestFairnessErrors(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	st.putRoom("plain", `{"admit_per_minute": 10}`)
	d, _ := st.fairness("plain")
	if d.Mode != queue.ModeFIFO || d.Commitment != "" || d.Seed != "" || d.Algorithm == queue.DrawAlgorithm {
		t.Fatalf("fifo room: %+v", d)
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/rooms/nope/fairness", 404, "not_found"},
		{"/api/v1/rooms/nope/fairness/participants", 404, "not_found"},
		{"/api/v1/rooms/Not_A_Room/fairness", 400, "invalid_request"},
		{"/api/v1/rooms/-x/fairness/participants", 400, "invalid_request"},
		{"/api/v1/rooms/plain/fairness/participants", 409, "conflict"},
	} {
		r := st.do("GET", tc.path, "")
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, r.status, r.body, tc.status, tc.code)
		}
	}
}
