package main

import (
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
)

// bookingHealth is what adaptive admission steers by: the booking core's
// tickets held behind a room and this instance's recent booking p99.
func bookingHealth(core *booking.Core) func(room string) (admission.BookingHealth, bool) {
	return func(room string) (admission.BookingHealth, bool) {
		h := core.Health(room)
		return admission.BookingHealth{HeldTickets: h.HeldTickets, P99: h.P99, Samples: h.Samples}, true
	}
}
