// Package latency keeps a sliding window of recent requests' latencies and
// outcomes, from which adaptive admission reads a p99 and a failure share:
// the booking core's holds and checkouts (package booking), and the
// origin's answers to the reverse proxy (package admission, fed by the
// gateway). It imports only the standard library, so both may use it.
//
// A Window is safe for concurrent use; its zero value is ready.
package latency
