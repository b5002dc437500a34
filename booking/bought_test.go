package booking

import (
	"context"
	"errors"
	"testing"
)

// TestBought: a buyer's count as Bought reads it is what the limit
// counts: a live hold and a paid order, per visitor, or per user id when
// the hold named one; a released hold gives its tickets back.
func TestBought(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 100, 4)
	ctx := context.Background()
	bought := func(visitor, user string) int64 {
		t.Helper()
		n, err := f.core.Bought(ctx, "gig", visitor, user)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := bought("a", ""); n != 0 {
		t.Fatalf("nothing bought: %d", n)
	}
	if _, err := f.buy(t, f.holdReq("a", 3)); err != nil {
		t.Fatal(err)
	}
	h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if n := bought("a", ""); n != 4 {
		t.Fatalf("3 paid and 1 held: %d", n)
	}
	if err := f.core.Release(ctx, h.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if n := bought("a", ""); n != 3 {
		t.Fatalf("after the release: %d", n)
	}
	r := f.holdReq("b", 2)
	r.UserID = "user-1"
	if _, err := f.buy(t, r); err != nil {
		t.Fatal(err)
	}
	if a, u, other := bought("b", "user-1"), bought("c", "user-1"), bought("b", ""); a != 2 || u != 2 || other != 0 {
		t.Fatalf("per user id: %d from b, %d from c, %d for b's own count", a, u, other)
	}
	if _, err := f.core.Bought(ctx, "No such", "a", ""); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("a bad event id: %v", err)
	}
}
