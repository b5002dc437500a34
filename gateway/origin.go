package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// originMetrics are the origin's answers to the reverse proxy, by the room
// that protects the proxied path: what an operator graphs, and, through
// admission.Controller.ObserveOrigin, what adaptive rooms with origin
// targets steer by.
type originMetrics struct {
	latency *prometheus.HistogramVec // room
	answers *prometheus.CounterVec   // room, class
}

func newOriginMetrics(reg prometheus.Registerer) (*originMetrics, error) {
	m := &originMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crowdgate_origin_request_duration_seconds",
			Help:    "Time the origin took to the response headers of requests proxied on paths a room protects (to the failure when it did not answer), by room.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"room"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_origin_responses_total",
			Help: "The origin's answers to requests proxied on paths a room protects, by room and class: 1xx to 5xx, error (no answer: refused, reset, timed out) or canceled (the client left first).",
		}, []string{"room", "class"}),
	}
	for _, c := range []prometheus.Collector{m.latency, m.answers} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}

// Classes of the origin's answers (crowdgate_origin_responses_total).
const (
	originNoAnswer = "error"
	originCanceled = "canceled"
)

// observeOrigin records how the origin answered call, a proxied request:
// with status (0: no answer, err says why), after the time since
// call.start. A 5xx or no answer counts as a failure for adaptive
// admission; a client that left before the answer does not, though the
// time it waited counts (the origin took at least that long).
func (s *Server) observeOrigin(call *proxyCall, status int, err error) {
	if len(call.rooms) == 0 {
		return
	}
	took := time.Since(call.start)
	class, failed := originNoAnswer, true
	switch {
	case status > 0:
		class, failed = strconv.Itoa(status/100)+"xx", status >= 500
	case errors.Is(err, context.Canceled):
		class, failed = originCanceled, false
	}
	for _, room := range call.rooms {
		s.origin.latency.WithLabelValues(room).Observe(took.Seconds())
		s.origin.answers.WithLabelValues(room, class).Inc()
		if s.ctl != nil {
			s.ctl.ObserveOrigin(room, took, failed)
		}
	}
}
