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
		return fmt.Errorf("usage: crowdload rate [flags]")
	}
	switch args[0] {
	case "rate":
		return rateCmd(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want rate)", args[0])
}
