package crowdgate_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/crowdgate/crowdgate"
)

// TestKindAndMessageSurviveWrapping: a layer that wraps with %w changes
// neither the kind nor the message a visitor is told, and the sentinel an
// error is built on still answers errors.Is.
func TestKindAndMessageSurviveWrapping(t *testing.T) {
	t.Parallel()
	errSoldOut := errors.New("booking: sold out")
	fixed := &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such event", Err: errors.New("booking: event not found")}
	for _, tc := range []struct {
		name     string
		err      error
		kind     crowdgate.Kind
		message  string
		sentinel error
		text     string
	}{
		{"nil", nil, "", "", nil, ""},
		{"plain error", errors.New("redis: connection refused"), crowdgate.Internal, "", nil, "redis: connection refused"},
		{"Errorf", crowdgate.Errorf(crowdgate.Invalid, "quantity must be at least %d", 1), crowdgate.Invalid, "quantity must be at least 1", nil, "quantity must be at least 1"},
		{"on a sentinel", &crowdgate.Error{Kind: crowdgate.SoldOut, Message: "2 left", Err: errSoldOut}, crowdgate.SoldOut, "2 left", errSoldOut, "booking: sold out: 2 left"},
		{"wrapped twice", fmt.Errorf("gateway: hold: %w", fmt.Errorf("booking: %w", &crowdgate.Error{Kind: crowdgate.SoldOut, Message: "2 left", Err: errSoldOut})), crowdgate.SoldOut, "2 left", errSoldOut, "gateway: hold: booking: booking: sold out: 2 left"},
		{"a sentinel that is one", fixed, crowdgate.NotFound, "no such event", fixed, "booking: event not found: no such event"},
		{"that sentinel wrapped with detail", fmt.Errorf("%w: ev-1", fixed), crowdgate.NotFound, "no such event", fixed, "booking: event not found: no such event: ev-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := crowdgate.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %q, want %q", got, tc.kind)
			}
			if got := crowdgate.MessageOf(tc.err); got != tc.message {
				t.Errorf("MessageOf = %q, want %q", got, tc.message)
			}
			if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.sentinel)
			}
			if tc.err != nil && tc.err.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
			}
		})
	}
}

// TestTheOutermostKindWins: a package that turns another's error into its
// own kind decides what the visitor is told.
func TestTheOutermostKindWins(t *testing.T) {
	t.Parallel()
	inner := crowdgate.Errorf(crowdgate.NotFound, "no place in this room any more; join again")
	outer := &crowdgate.Error{Kind: crowdgate.Unauthorized, Message: "your admission has ended", Err: inner}
	if k, m := crowdgate.KindOf(outer), crowdgate.MessageOf(outer); k != crowdgate.Unauthorized || m != "your admission has ended" {
		t.Fatalf("got %q %q, want the outer error's kind and message", k, m)
	}
	if !errors.Is(outer, inner) {
		t.Fatal("the inner error is lost")
	}
}

func ExampleKindOf() {
	errSoldOut := errors.New("booking: sold out")
	err := fmt.Errorf("hold: %w", &crowdgate.Error{Kind: crowdgate.SoldOut, Message: "not enough tickets left (2 left)", Err: errSoldOut})
	fmt.Println(crowdgate.KindOf(err), errors.Is(err, errSoldOut))
	fmt.Println(crowdgate.MessageOf(err))
	// Output:
	// sold_out true
	// not enough tickets left (2 left)
}
