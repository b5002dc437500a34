package booking

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the booking core's Prometheus series.
type metrics struct {
	holds      *prometheus.CounterVec
	holdTime   prometheus.Histogram
	expired    prometheus.Counter
	webhooks   *prometheus.CounterVec
	reconciled *prometheus.CounterVec
	tickets    *prometheus.GaugeVec
	drift      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_booking_holds_total", Help: "Hold requests by result.",
		}, []string{"result"}),
		holdTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crowdgate_booking_hold_duration_seconds", Help: "Time to decide a hold, store round trips included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, 1},
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_booking_holds_expired_total", Help: "Holds whose tickets went back because their time was up.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_booking_webhooks_total", Help: "Payment webhooks by what they did (rejected: bad signature or body).",
		}, []string{"result"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_booking_reconciled_total", Help: "Pending payments settled by asking the provider.",
		}, []string{"result"}),
		tickets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_booking_tickets", Help: "Tickets by event, type and state (available, held, sold), as of the last sweep.",
		}, []string{"event", "ticket_type", "state"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_booking_inventory_drift",
			Help: "capacity - (available + held + sold) per ticket type; anything but 0 is a bug (negative: oversold).",
		}, []string{"event", "ticket_type"}),
	}
	for _, c := range []prometheus.Collector{m.holds, m.holdTime, m.expired, m.webhooks, m.reconciled, m.tickets, m.drift} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("booking: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observeHold(start time.Time, err error, replay bool) {
	m.holdTime.Observe(time.Since(start).Seconds())
	result := "created"
	switch {
	case replay:
		result = "replayed"
	case errors.Is(err, ErrSoldOut):
		result = "sold_out"
	case errors.Is(err, ErrHoldExists):
		result = "hold_exists"
	case errors.Is(err, ErrLimitReached):
		result = "limit_reached"
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrEventNotFound), errors.Is(err, ErrAdmissionExpired), errors.Is(err, ErrWrongRoom):
		result = "refused"
	case err != nil:
		result = "error"
	}
	m.holds.WithLabelValues(result).Inc()
}

func (m *metrics) setInventory(v EventView) {
	for _, t := range v.TicketTypes {
		m.tickets.WithLabelValues(v.ID, t.ID, "available").Set(float64(t.Available))
		m.tickets.WithLabelValues(v.ID, t.ID, "held").Set(float64(t.Held))
		m.tickets.WithLabelValues(v.ID, t.ID, "sold").Set(float64(t.Sold))
		m.drift.WithLabelValues(v.ID, t.ID).Set(float64(t.Capacity - t.Available - t.Held - t.Sold))
	}
}
