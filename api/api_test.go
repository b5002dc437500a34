package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
)

// TestRoomRequestSendsOnlyWhatIsSet: a Go client's PATCH carries the
// fields it sets, a time set to null included, and nothing else.
func TestRoomRequestSendsOnlyWhatIsSet(t *testing.T) {
	t.Parallel()
	opens := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		req  api.RoomRequest
		want string
	}{
		{"nothing", api.RoomRequest{}, `{}`},
		{"false is sent", api.RoomRequest{Paused: new(false)}, `{"paused":false}`},
		{"null unsets", api.RoomRequest{QueueOpensAt: api.OptTime{Set: true}}, `{"queue_opens_at":null}`},
		{"a time", api.RoomRequest{SaleStartsAt: api.OptTime{Set: true, Time: opens}, AdmitPerMinute: new(900)},
			`{"admit_per_minute":900,"sale_starts_at":"2026-12-01T10:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.req)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s (%v), want %s", b, err, tc.want)
			}
			var back api.RoomRequest
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); string(again) != tc.want {
				t.Fatalf("decoded and sent again: %s, want %s", again, tc.want)
			}
		})
	}
}

func TestOptTimeReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		want api.OptTime
		err  bool
	}{
		{`{}`, api.OptTime{}, false},
		{`{"queue_opens_at":null}`, api.OptTime{Set: true}, false},
		{`{"queue_opens_at":"2026-12-01T11:00:00+01:00"}`, api.OptTime{Set: true, Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}, false},
		{`{"queue_opens_at":"tomorrow"}`, api.OptTime{}, true},
		{`{"queue_opens_at":1764583200}`, api.OptTime{}, true},
	} {
		var r api.RoomRequest
		err := json.Unmarshal([]byte(tc.doc), &r)
		if (err != nil) != tc.err || !tc.err && (r.QueueOpensAt.Set != tc.want.Set || !r.QueueOpensAt.Time.Equal(tc.want.Time)) {
			t.Errorf("%s: %+v, %v", tc.doc, r.QueueOpensAt, err)
		}
		if err == nil && r.QueueOpensAt.Time.Location() != time.UTC {
			t.Errorf("%s: read in %v, want UTC", tc.doc, r.QueueOpensAt.Time.Location())
		}
	}
}

// FuzzOptTime: whatever a client sends, a time that is read is sent again
// as the same time.
func FuzzOptTime(f *testing.F) {
	for _, s := range []string{`null`, `"2026-12-01T10:00:00Z"`, `"2026-12-01T10:00:00.5+05:30"`, `""`, `1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var o api.OptTime
		if json.Unmarshal([]byte(doc), &o) != nil {
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var back api.OptTime
		if err := json.Unmarshal(b, &back); err != nil || !back.Time.Equal(o.Time) {
			t.Fatalf("%s sent as %s, read back as %v (%v)", doc, b, back.Time, err)
		}
	})
}

// An error answer read as the error it is: its text starts with the code.
func ExampleError() {
	body := `{"error":{"code":"hold_exists","message":"you already hold tickets for this event"},"hold_id":"h-1"}`
	var res api.ErrorResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		fmt.Println(err)
		return
	}
	var err error = &res.Error
	var ae *api.Error
	fmt.Println(err)
	fmt.Println(errors.As(err, &ae) && ae.Code == "hold_exists", res.HoldID)
	// Output:
	// hold_exists: you already hold tickets for this event
	// true h-1
}
