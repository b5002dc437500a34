package booking

import (
	"context"
	"errors"
	"testing"
)

// TestLostIndexIsRepaired: on Redis Cluster a hold's or order's id index
// lives on another node than its event, and a failover can lose the entry
// while the hold survives. The hold must still be found, paid and released
// by its id, and the entry comes back.
func TestLostIndexIsRepaired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.event(t, 10, 4)
	// A second event, so the search has somewhere else to look.
	other := Event{ID: "other", Room: "launch", HoldSeconds: 600, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 5, PriceMinor: 100, Currency: "INR", PerOrderLimit: 2}}}
	if _, err := f.core.PutEvent(ctx, other); err != nil {
		t.Fatal(err)
	}
	h, _, err := f.core.PlaceHold(ctx, f.holdReq("fan", 2))
	if err != nil {
		t.Fatal(err)
	}
	lose := func(kind, id string) {
		t.Helper()
		if err := f.rdb.Del(ctx, indexKey(kind, id)).Err(); err != nil {
			t.Fatal(err)
		}
		f.core.located.Clear() // another instance, which never saw the id
	}

	lose("hold", h.ID)
	got, err := f.core.Hold(ctx, h.ID, "fan")
	if err != nil || got.ID != h.ID || got.Event != "gig" {
		t.Fatalf("hold after its index was lost: %+v %v", got, err)
	}
	if ev, err := f.rdb.Get(ctx, indexKey("hold", h.ID)).Result(); err != nil || ev != "gig" {
		t.Fatalf("index not written back: %q %v", ev, err)
	}

	lose("hold", h.ID)
	o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "fan", Provider: f.pay.Name()})
	if err != nil {
		t.Fatalf("checkout after the index was lost: %v", err)
	}
	lose("order", o.ID)
	if got, err := f.core.Order(ctx, o.ID); err != nil || got.ID != o.ID {
		t.Fatalf("order after its index was lost: %+v %v", got, err)
	}

	h2, _, err := f.core.PlaceHold(ctx, f.holdReq("fan2", 1))
	if err != nil {
		t.Fatal(err)
	}
	lose("hold", h2.ID)
	if err := f.core.Release(ctx, h2.ID, "fan2"); err != nil {
		t.Fatalf("release after the index was lost: %v", err)
	}
	f.balanced(t)

	for _, kind := range []string{"hold", "order"} {
		if _, err := f.core.locate(ctx, kind, "hld-nosuchholdanywhere00"); !errors.Is(err, ErrNotFound) {
			t.Errorf("an id of nothing (%s): %v, want ErrNotFound", kind, err)
		}
	}
}
