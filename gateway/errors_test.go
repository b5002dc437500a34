package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
)

// TestEveryKindHasAPlaceInTheContract: a kind added to the root package
// without a row in the kinds table would reach visitors as a 500.
func TestEveryKindHasAPlaceInTheContract(t *testing.T) {
	t.Parallel()
	for _, k := range []crowdgate.Kind{
		crowdgate.Invalid, crowdgate.Unauthorized, crowdgate.Forbidden, crowdgate.NotFound,
		crowdgate.Conflict, crowdgate.SoldOut, crowdgate.HoldExists, crowdgate.HoldExpired,
		crowdgate.RateLimited, crowdgate.RoomClosed, crowdgate.Unavailable,
	} {
		if _, ok := kinds[k]; !ok {
			t.Errorf("kind %q has no status and code", k)
		}
	}
	if ae := toAPIError(&crowdgate.Error{Kind: crowdgate.Internal, Message: "secret"}); ae != nil {
		t.Errorf("an Internal error reached the visitor as %+v", ae)
	}
}

// TestDomainErrorsMapThroughWrapping: the status, code and message a
// visitor sees do not change when a layer wraps the domain's error.
func TestDomainErrorsMapThroughWrapping(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("handler: %w", fmt.Errorf("layer: %w", err)) }
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"invalid contact", queue.Contact{Email: "Fan <fan@example.com>"}.Validate(), http.StatusBadRequest, "invalid_request", "email must be a plain address like fan@example.com"},
		{"invalid room", queue.Room{Name: "r", AdmitPerMinute: -1}.Validate(), http.StatusBadRequest, "invalid_request", ""},
		{"event not found", booking.ErrEventNotFound, http.StatusNotFound, "not_found", "no such event"},
		{"hold expired", booking.ErrHoldExpired, http.StatusConflict, "hold_expired", "the hold expired and its tickets went back; hold again"},
		{"unknown payment with an id", fmt.Errorf("%w: pay-1", booking.ErrUnknownPayment), http.StatusNotFound, "not_found", "no such payment"},
		{"bad signature with detail", fmt.Errorf("%w: t out of range", booking.ErrBadSignature), http.StatusBadRequest, "invalid_request", "webhook signature missing, wrong or outside the 300 s window"},
		{"hold exists", &booking.HoldExistsError{HoldID: "hold-1"}, http.StatusConflict, "hold_exists", "you already hold tickets; pay for them or release them first"},
		{"not in line", queue.ErrNotInLine, http.StatusNotFound, "not_found", "no place in this room any more; join again"},
		{"not drawn", queue.ErrNotDrawn, http.StatusConflict, "conflict", "this room's pre-queue has not been drawn (yet)"},
		{"file key", admission.ErrRotateFileKey, http.StatusConflict, "conflict", "the signing key comes from a file: rotate by replacing the file"},
		{"gateway's own", forbidden("no"), http.StatusForbidden, "forbidden", "no"},
		{"rate limited", rateLimited("slow down"), http.StatusTooManyRequests, "rate_limited", "slow down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to map")
			}
			for _, err := range []error{tc.err, wrap(tc.err)} {
				ae := toAPIError(err)
				if ae == nil {
					t.Fatalf("%v: not mapped", err)
				}
				if ae.Status != tc.status || ae.Code != tc.code || tc.msg != "" && ae.Message != tc.msg {
					t.Errorf("%v: got %d %s %q, want %d %s %q", err, ae.Status, ae.Code, ae.Message, tc.status, tc.code, tc.msg)
				}
			}
		})
	}
	if ae := toAPIError(wrap(&booking.HoldExistsError{HoldID: "hold-1"})); ae == nil || ae.HoldID != "hold-1" {
		t.Errorf("hold_exists lost its hold id: %+v", ae)
	}
	if !errors.Is(wrap(booking.ErrEventNotFound), booking.ErrEventNotFound) {
		t.Error("a wrapped sentinel no longer answers errors.Is")
	}
}
