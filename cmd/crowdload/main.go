// Command crowdload drives load at a running Crowdgate and reports what it
// measured. Every run is bounded in count and time and stops by itself; aim
// it only at your own loopback addresses.
//
//	crowdload rate -targets http://127.0.0.1:8080,http://127.0.0.1:8081 -admin-token T -rate 600 -seconds 60
//
// rate measures the admission rate a room really achieves: it creates a room
// at the given rate, fills its line with waiters through every target (so
// every instance takes part), keeps them alive, and counts admissions over
// the window from the room's admitted_total.
//
//	crowdload ws -targets http://127.0.0.1:8080 -admin-token T -fans 20000 -rate 6000
//
// ws opens that many waiting fans (join, then a WebSocket each), follows
// them to admission and reports connections, errors by kind, messages,
// reconnects after 1012, position increases, gaps between position
// messages and admission latency (the server's admitted_at_ms to receipt).
// With -admin-token it creates the room paused and unpauses it once every
// fan is connected; -hold instead keeps every socket open, the room paused,
// for memory measurements. From -settle after the last fan connected, the
// steady phase's messages and gaps are also reported on their own, apart
// from the ramp. The run ends when every fan is admitted, closed or has
// failed, or at -duration, whichever comes first.
//
//	crowdload holds -targets http://127.0.0.1:8080 -admin-token T -fans 100000 -concurrency 64
//
// holds admits that many visitors through a passthrough room and has each
// ask for one ticket, timing every hold; -capacity below -fans makes it
// the overselling test. It ends by checking the organizer's books.
//
//	crowdload broadcast -target http://127.0.0.1:8080 -admin-token T -fans 18000 -pid $(pgrep -f 'crowdgate serve')
//
// broadcast measures one position broadcast to every waiter of one
// gateway: the first fan leaves, every other moves up by one; it reports
// the latency to each receipt and, with -pid, the gateway's CPU time per
// delivered message (over an idle window of the same length subtracted).
//
//	crowdload floor -sockets 18000
//
// floor measures what the kernel alone costs for such a broadcast here:
// one small write to each of that many loopback sockets, in a bare loop,
// with the writer's CPU time per write; broadcast's figures sit on it.
//
//	crowdload joins -target http://127.0.0.1:8080 -admin-token T -mode bot -solve -seconds 30
//
// joins drives new joins at a room's gate (per-address limits and the
// proof-of-work challenge): -mode bot is a script that throws its cookies
// away (-solve: and solves each challenge; -addresses spreads it over many
// client addresses, for throughput), -mode fans is a crowd behind one
// shared address that joins once each, solving and waiting out 429s like
// the page. Client addresses travel as X-Forwarded-For: run the gateway
// with --trusted-proxies 127.0.0.1/32.
//
// A process may hold 20,000 files, so a run of more than 15,000 fans is
// split over worker processes: the parent re-executes itself with a hidden
// -worker flag carrying its share as JSON, reads JSON lines from each
// worker's stdout (ready, progress, then the report), closes a worker's
// stdin to stop it, and merges the reports; histograms use fixed buckets
// so they merge exactly. Fan i goes to target i mod T and binds source
// address (i / T) mod S (127.0.0.2 and up by default, all on loopback), so
// every (source, target) pair, each with its own ~28k ephemeral ports,
// carries an equal share.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "crowdload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: crowdload rate|ws|holds|broadcast|floor|joins [flags]")
	}
	switch args[0] {
	case "rate":
		return rateCmd(ctx, args[1:], stdout, stderr)
	case "ws":
		return wsCmd(ctx, args[1:], stdout, stderr)
	case "holds":
		return holdsCmd(ctx, args[1:], stdout, stderr)
	case "broadcast":
		return broadcastCmd(ctx, args[1:], stdout, stderr)
	case "floor":
		return floorCmd(ctx, args[1:], stdout, stderr)
	case "joins":
		return joinsCmd(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want rate, ws, holds, broadcast, floor or joins)", args[0])
}
