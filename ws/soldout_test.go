package ws_test

import (
	"context"
	"testing"

	"github.com/crowdgate/crowdgate/ws"
)

// TestSocketToASoldOutRoomSaysSo: a waiter whose socket connects after
// the room closed because it sold out is told the reason, as those
// connected before are, so the page keeps watching for a reopening rather
// than taking the sale for over.
func TestSocketToASoldOutRoomSaysSo(t *testing.T) {
	s := newStack(t, ws.Config{})
	s.room("launch", `{"admit_per_minute": 0}`)
	token, _ := s.join("launch")
	if err := s.store.CloseSoldOut(context.Background(), "launch"); err != nil {
		t.Fatal(err)
	}
	c := s.connect("launch", token)
	if m := read(t, c); m.Type != "closed" || m.Reason != "sold_out" {
		t.Fatalf("first frame: %+v", m)
	}
}
