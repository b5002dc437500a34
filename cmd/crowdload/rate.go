package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// rateCmd measures the admission rate of a room over a window.
func rateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs of the instances")
	token := fs.String("admin-token", "", "admin bearer token")
	room := fs.String("room", "ratecheck", "room to create (replaced if it exists)")
	rate := fs.Int("rate", 600, "admit_per_minute to set")
	seconds := fs.Int("seconds", 60, "length of the measured window")
	fans := fs.Int("fans", 0, "waiters to queue (default: enough for the window plus a margin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seconds <= 0 || *seconds > 3600 || *rate <= 0 {
		return errors.New("-seconds must be in 1..3600 and -rate positive")
	}
	bases := strings.Split(*targets, ",")
	if *fans == 0 {
		*fans = *rate**seconds/60 + *rate/2 + 100
	}
	c := &client{http: &http.Client{Timeout: 10 * time.Second}, token: *token}

	// Paused while the line fills, so the window starts with a full line.
	body := fmt.Sprintf(`{"admit_per_minute": %d, "paused": true, "session_seconds": 3600}`, *rate)
	if err := c.do(ctx, "PUT", bases[0]+"/admin/v1/rooms/"+*room, body, true, nil); err != nil {
		return err
	}
	tokens, _, err := c.joinAll(ctx, bases, *room, *fans)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queued %d waiters through %d instance(s)\n", *fans, len(bases))

	// Waiters poll their status every few seconds, as the page would, so
	// none is dropped as silent during the window.
	keepCtx, stopKeep := context.WithCancel(ctx)
	defer stopKeep()
	var keepWG sync.WaitGroup
	keepWG.Add(1)
	go func() {
		defer keepWG.Done()
		keepAlive(keepCtx, c, bases, *room, tokens)
	}()

	if err := c.do(ctx, "PATCH", bases[0]+"/admin/v1/rooms/"+*room, `{"paused": false}`, true, nil); err != nil {
		return err
	}
	start := time.Now()
	first, err := c.admitted(ctx, bases[0], *room)
	if err != nil {
		return err
	}
	window := time.Duration(*seconds) * time.Second
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(window - time.Since(start)):
	}
	last, err := c.admitted(ctx, bases[0], *room)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	stopKeep()
	keepWG.Wait()
	got := float64(last-first) / elapsed.Minutes()
	dev := (got - float64(*rate)) / float64(*rate) * 100
	fmt.Fprintf(stdout, "instances=%d target=%d/min admitted=%d in %.2fs observed=%.1f/min deviation=%+.2f%%\n",
		len(bases), *rate, last-first, elapsed.Seconds(), got, dev)
	if math.Abs(dev) > 1 {
		fmt.Fprintln(stdout, "outside 1% of the target")
	}
	return c.do(ctx, "DELETE", bases[0]+"/admin/v1/rooms/"+*room, "", true, nil)
}

func keepAlive(ctx context.Context, c *client, bases []string, room string, tokens []string) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = parallel(ctx, len(tokens), 16, func(i int) error {
			_ = c.doAuth(ctx, "GET", bases[i%len(bases)]+"/api/v1/rooms/"+room+"/status", tokens[i], nil)
			return nil
		})
	}
}
