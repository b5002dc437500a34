package booking

import (
	"context"
	"testing"
)

// TestCreateEventLeavesAnExistingEventAlone: CreateEvent creates a missing
// event with all its tickets, and leaves one that exists as it is (its
// capacity changed live, its holds) whatever it is given.
func TestCreateEventLeavesAnExistingEventAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	e := Event{ID: "gig", Room: "launch", HoldSeconds: 600, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
	}}
	if created, err := f.core.CreateEvent(ctx, e); err != nil || !created {
		t.Fatalf("create: created %v, err %v", created, err)
	}
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("v1", 2)); err != nil {
		t.Fatal(err)
	}
	live := e
	live.TicketTypes = []TicketType{{ID: "ga", Name: "General", Capacity: 20, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4}}
	if _, err := f.core.PutEvent(ctx, live); err != nil {
		t.Fatal(err)
	}
	if created, err := f.core.CreateEvent(ctx, e); err != nil || created {
		t.Fatalf("create over an existing event: created %v, err %v", created, err)
	}
	if inv := f.inventory(t); inv.Available != 18 || inv.Held != 2 {
		t.Fatalf("inventory after a create over the live event: %+v, want 18 available and 2 held", inv)
	}
	f.balanced(t)
}
