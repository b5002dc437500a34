package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxExamples caps the position-increase examples a report carries.
const maxExamples = 5

// gapPromise is the longest the server may stay silent to a waiter: it
// sends a position at least every 5 s.
const gapPromise = 5 * time.Second

// Report is what one worker measured. The parent merges its workers'
// reports into one of the same shape (sums, unions, exact histogram merges).
//
// Every requested fan ends in exactly one outcome, so Admitted +
// AdmittedAtJoin + Closed + JoinFailed + ConnectFailed + Dropped +
// Unfinished + NotStarted == FansRequested.
type Report struct {
	Workers       int   `json:"workers"`
	FansRequested int64 `json:"fans_requested"`
	Joined        int64 `json:"joined"`
	// Connected counts fans whose WebSocket opened at least once.
	Connected int64 `json:"connected"`
	// PeakConnections is the sum of each worker's peak of open WebSockets:
	// exact with one worker, an upper bound with several (their peaks
	// coincide when every fan is held, as in -hold runs).
	PeakConnections int64 `json:"peak_connections"`

	// Outcomes.
	Admitted       int64 `json:"admitted"`         // told so over the WebSocket
	AdmittedAtJoin int64 `json:"admitted_at_join"` // join answered "admitted" (no WebSocket)
	Closed         int64 `json:"closed"`           // "closed" message, or join answered "closed"
	JoinFailed     int64 `json:"join_failed"`
	ConnectFailed  int64 `json:"connect_failed"` // joined, but no WebSocket ever opened
	Dropped        int64 `json:"dropped"`        // connection lost (not 1012) or reconnects gave up
	Unfinished     int64 `json:"unfinished"`     // still waiting when the run stopped
	NotStarted     int64 `json:"not_started"`    // the run stopped before the ramp reached them

	// Errors by kind (refused, timeout, reset, eof, no_port, too_many_files,
	// http_NNN, close_NNNN, gave_up, ...); one sample message per kind.
	// ConnectErrors counts failed dials, reconnection attempts included.
	JoinErrors    map[string]int64  `json:"join_errors"`
	JoinRetries   int64             `json:"join_retries"` // 429/503 answers retried after Retry-After
	ConnectErrors map[string]int64  `json:"connect_errors"`
	DropErrors    map[string]int64  `json:"drop_errors"`
	ErrorSamples  map[string]string `json:"error_samples,omitempty"`
	ClosedReasons map[string]int64  `json:"closed_reasons"`

	// Messages received, by type (position, admitted, closed, other,
	// invalid, binary).
	Messages          map[string]int64 `json:"messages"`
	MessagesPerSecond float64          `json:"messages_per_second"`
	RestartCloses     int64            `json:"restart_closes"` // close code 1012 received
	Reconnects        int64            `json:"reconnects"`     // WebSockets reopened after 1012

	// PositionIncreases counts position messages higher than the previous
	// one for the same waiter (status "waiting" both times; a change of
	// status, e.g. the prequeue shuffle, starts over).
	PositionIncreases        int64      `json:"position_increases"`
	PositionIncreaseExamples []Increase `json:"position_increase_examples"`
	// PositionGapsOver5s counts gaps between consecutive position messages
	// on one connection longer than the promised 5 s.
	PositionGapsOver5s int64 `json:"position_gaps_over_5s"`
	// MaxPositionGap holds, per fan that got two positions on one
	// connection, its longest gap between consecutive positions.
	MaxPositionGap Hist `json:"max_position_gap_ms"`
	// The steady phase starts -settle after every fan is connected, when
	// joins and first connections no longer load the box: the gaps that
	// start in it, and the messages received in it, on their own.
	SteadyMs                int64   `json:"steady_unix_ms,omitempty"`
	SteadyGapsOver5s        int64   `json:"steady_gaps_over_5s"`
	MaxSteadyGap            Hist    `json:"max_steady_gap_ms"`
	SteadyMessages          int64   `json:"steady_messages"`
	SteadyMessagesPerSecond float64 `json:"steady_messages_per_second"`
	// AdmissionLatency: admitted_at_ms (the server's admission decision) to
	// the admitted message's receipt, same host clock.
	AdmissionLatency    Hist  `json:"admission_latency_ms"`
	AdmittedNoTimestamp int64 `json:"admitted_without_timestamp"`

	StartedMs       int64 `json:"started_unix_ms"`
	EndedMs         int64 `json:"ended_unix_ms"`
	FirstAdmittedMs int64 `json:"first_admitted_unix_ms,omitempty"` // receipt times
	LastAdmittedMs  int64 `json:"last_admitted_unix_ms,omitempty"`
	// UnpausedMs is when the parent unpaused the room (with -admin-token).
	UnpausedMs      int64   `json:"unpaused_unix_ms,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	// StopReason: finished (every fan admitted, closed or failed),
	// deadline, hold, interrupted, or stopped.
	StopReason string `json:"stop_reason"`
	// ServerStats is the room's "stats" from the admin API at the end.
	ServerStats json.RawMessage `json:"server_stats,omitempty"`
	// Errors are failures of the run itself (a worker that died, an admin
	// call that failed).
	Errors []string `json:"errors,omitempty"`
}

// Increase is one observed position increase.
type Increase struct {
	QueueID string `json:"queue_id"`
	From    int64  `json:"from"`
	To      int64  `json:"to"`
}

func newReport() Report {
	return Report{
		JoinErrors: map[string]int64{}, ConnectErrors: map[string]int64{}, DropErrors: map[string]int64{},
		ClosedReasons: map[string]int64{}, Messages: map[string]int64{},
		PositionIncreaseExamples: []Increase{},
	}
}

// Merge adds o into r.
func (r *Report) Merge(o *Report) {
	r.Workers += o.Workers
	r.FansRequested += o.FansRequested
	r.Joined += o.Joined
	r.Connected += o.Connected
	r.PeakConnections += o.PeakConnections
	r.Admitted += o.Admitted
	r.AdmittedAtJoin += o.AdmittedAtJoin
	r.Closed += o.Closed
	r.JoinFailed += o.JoinFailed
	r.ConnectFailed += o.ConnectFailed
	r.Dropped += o.Dropped
	r.Unfinished += o.Unfinished
	r.NotStarted += o.NotStarted
	r.JoinRetries += o.JoinRetries
	r.RestartCloses += o.RestartCloses
	r.Reconnects += o.Reconnects
	r.PositionIncreases += o.PositionIncreases
	r.PositionGapsOver5s += o.PositionGapsOver5s
	r.SteadyGapsOver5s += o.SteadyGapsOver5s
	r.SteadyMessages += o.SteadyMessages
	r.AdmittedNoTimestamp += o.AdmittedNoTimestamp
	for _, m := range []struct{ dst, src map[string]int64 }{
		{r.JoinErrors, o.JoinErrors}, {r.ConnectErrors, o.ConnectErrors}, {r.DropErrors, o.DropErrors},
		{r.ClosedReasons, o.ClosedReasons}, {r.Messages, o.Messages},
	} {
		for k, v := range m.src {
			m.dst[k] += v
		}
	}
	for k, v := range o.ErrorSamples {
		if _, ok := r.ErrorSamples[k]; !ok {
			if r.ErrorSamples == nil {
				r.ErrorSamples = map[string]string{}
			}
			r.ErrorSamples[k] = v
		}
	}
	for _, e := range o.PositionIncreaseExamples {
		if len(r.PositionIncreaseExamples) < maxExamples {
			r.PositionIncreaseExamples = append(r.PositionIncreaseExamples, e)
		}
	}
	r.MaxPositionGap.Merge(&o.MaxPositionGap)
	r.MaxSteadyGap.Merge(&o.MaxSteadyGap)
	r.AdmissionLatency.Merge(&o.AdmissionLatency)
	r.StartedMs = minNonZero(r.StartedMs, o.StartedMs)
	r.EndedMs = max(r.EndedMs, o.EndedMs)
	r.FirstAdmittedMs = minNonZero(r.FirstAdmittedMs, o.FirstAdmittedMs)
	r.LastAdmittedMs = max(r.LastAdmittedMs, o.LastAdmittedMs)
	r.Errors = append(r.Errors, o.Errors...)
}

func minNonZero(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// finish fills in the derived fields from the start and end times.
func (r *Report) finish() {
	r.DurationSeconds = float64(r.EndedMs-r.StartedMs) / 1000
	var n int64
	for _, v := range r.Messages {
		n += v
	}
	if r.DurationSeconds > 0 {
		r.MessagesPerSecond = float64(n) / r.DurationSeconds
	}
	if r.SteadyMs > 0 && r.EndedMs > r.SteadyMs {
		r.SteadyMessagesPerSecond = float64(r.SteadyMessages) / (float64(r.EndedMs-r.SteadyMs) / 1000)
	}
}

// writeSummary prints the report for a person.
func (r *Report) writeSummary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("crowdload ws: %d workers, %.1fs, stopped: %s", r.Workers, r.DurationSeconds, r.StopReason)
	p("fans       requested %d  joined %d  connected %d  peak connections %d",
		r.FansRequested, r.Joined, r.Connected, r.PeakConnections)
	p("outcomes   admitted %d (+%d at join)  closed %d  unfinished %d  join failed %d  connect failed %d  dropped %d  not started %d",
		r.Admitted, r.AdmittedAtJoin, r.Closed, r.Unfinished, r.JoinFailed, r.ConnectFailed, r.Dropped, r.NotStarted)
	p("errors     join: %s (retries %d)  connect attempts: %s  dropped: %s",
		kinds(r.JoinErrors), r.JoinRetries, kinds(r.ConnectErrors), kinds(r.DropErrors))
	for _, k := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
		p("           e.g. %s: %s", k, r.ErrorSamples[k])
	}
	if r.ConnectErrors["http_429"] > 0 {
		p("           hint: crowdgate caps WebSockets and connections per client address (--ws-max-per-ip, --max-conns-per-ip);")
		p("           raise them on the server under test (loopback is exempt from the second), or spread over more -sources")
	}
	var total int64
	for _, v := range r.Messages {
		total += v
	}
	p("messages   %d (%.1f/s)  %s", total, r.MessagesPerSecond, kinds(r.Messages))
	p("reconnects %d after %d close(s) with 1012", r.Reconnects, r.RestartCloses)
	if len(r.ClosedReasons) > 0 {
		p("closed     %s", kinds(r.ClosedReasons))
	}
	p("positions  increases %d  gaps over 5s %d  max gap per fan: %s",
		r.PositionIncreases, r.PositionGapsOver5s, quantiles(&r.MaxPositionGap))
	if r.SteadyMs > 0 {
		p("steady     %.1fs from %s: messages %d (%.1f/s)  gaps over 5s %d  max gap per fan: %s",
			float64(r.EndedMs-r.SteadyMs)/1000, time.UnixMilli(r.SteadyMs).UTC().Format("15:04:05"),
			r.SteadyMessages, r.SteadyMessagesPerSecond, r.SteadyGapsOver5s, quantiles(&r.MaxSteadyGap))
	}
	for _, e := range r.PositionIncreaseExamples {
		p("           queue %s: %d -> %d", e.QueueID, e.From, e.To)
	}
	p("admission  decision -> receipt: %s", quantiles(&r.AdmissionLatency))
	if r.AdmittedNoTimestamp > 0 {
		p("           %d admitted messages without admitted_at_ms", r.AdmittedNoTimestamp)
	}
	switch {
	case r.UnpausedMs > 0 && r.LastAdmittedMs > r.UnpausedMs:
		span := float64(r.LastAdmittedMs-r.UnpausedMs) / 1000
		p("           unpaused -> last admitted %.1fs (%.1f admitted/min)", span, float64(r.Admitted)/span*60)
	case r.UnpausedMs == 0 && r.LastAdmittedMs > r.FirstAdmittedMs:
		span := float64(r.LastAdmittedMs-r.FirstAdmittedMs) / 1000
		p("           first -> last admitted %.1fs (%.1f admitted/min)", span, float64(r.Admitted-1)/span*60)
	}
	if len(r.ServerStats) > 0 {
		p("server     %s", r.ServerStats)
	}
	for _, e := range r.Errors {
		p("error      %s", e)
	}
}

// kinds formats a count map as "a=1 b=2", sorted, or "none".
func kinds(m map[string]int64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func quantiles(h *Hist) string {
	if h.Count == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d p50=%dms p90=%dms p99=%dms max=%dms",
		h.Count, h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Max)
}
