package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// holdsCmd measures the booking core's hold path over HTTP: it admits
// -fans visitors through a passthrough room, then has each of them ask for
// one hold, -concurrency at a time, timing every request. With a capacity
// below the number of fans it is the overselling test: exactly capacity
// holds may succeed. It ends by checking the organizer's books.
func holdsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("holds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs of the instances")
	token := fs.String("admin-token", "", "admin bearer token")
	name := fs.String("event", fmt.Sprintf("holdbench-%d", time.Now().Unix()), "room and event to create")
	fans := fs.Int("fans", 20000, "visitors, each asking for one hold")
	capacity := fs.Int("capacity", 0, "tickets on sale (default: one per fan, so none is refused)")
	concurrency := fs.Int("concurrency", 64, "hold requests in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fans <= 0 || *fans > 2_000_000 || *concurrency <= 0 || *concurrency > 10_000 {
		return errors.New("-fans must be in 1..2000000 and -concurrency in 1..10000")
	}
	if *capacity == 0 {
		*capacity = *fans
	}
	bases := strings.Split(*targets, ",")
	tr := &http.Transport{MaxIdleConns: *concurrency * 2, MaxIdleConnsPerHost: *concurrency * 2}
	c := &client{http: &http.Client{Timeout: 30 * time.Second, Transport: tr}, token: *token}
	room := `{"passthrough": true, "session_seconds": 3600}`
	if err := c.do(ctx, "PUT", bases[0]+"/admin/v1/rooms/"+*name, room, true, nil); err != nil {
		return err
	}
	event := fmt.Sprintf(`{"room": %q, "hold_seconds": 3600, "ticket_types": [{"id": "ga", "name": "General",
		"capacity": %d, "price_minor": 100, "currency": "INR", "per_order_limit": 1}]}`, *name, *capacity)
	if err := c.do(ctx, "PUT", bases[0]+"/admin/v1/events/"+*name, event, true, nil); err != nil {
		return err
	}
	_, tokens, err := c.joinAll(ctx, bases, *name, *fans)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admitted %d visitors through %d instance(s)\n", *fans, len(bases))

	var (
		lat    = newLiveHist()
		mu     sync.Mutex
		status = map[int]int64{}
		failed atomic.Int64
	)
	start := time.Now()
	err = parallel(ctx, *fans, *concurrency, func(i int) error {
		req, err := http.NewRequestWithContext(ctx, "POST", bases[i%len(bases)]+"/api/v1/events/"+*name+"/holds",
			strings.NewReader(`{"ticket_type":"ga","quantity":1}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		t0 := time.Now()
		res, err := c.http.Do(req)
		if err != nil {
			failed.Add(1)
			return nil
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat.add(time.Since(t0).Milliseconds())
		mu.Lock()
		status[res.StatusCode]++
		mu.Unlock()
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	h := lat.snapshot()
	codes := make([]int, 0, len(status))
	for code := range status {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var by []string
	for _, code := range codes {
		by = append(by, fmt.Sprintf("%d:%d", code, status[code]))
	}
	fmt.Fprintf(stdout, "holds: %d requests in %.2fs = %.0f/s at concurrency %d; %s; statuses %s; transport errors %d\n",
		h.Count, elapsed.Seconds(), float64(h.Count)/elapsed.Seconds(), *concurrency, quantiles(&h), strings.Join(by, " "), failed.Load())

	var books struct {
		TicketTypes []struct{ Capacity, Available, Held, Sold int64 } `json:"ticket_types"`
	}
	if err := c.do(ctx, "GET", bases[0]+"/admin/v1/events/"+*name, "", true, &books); err != nil {
		return err
	}
	var audit struct {
		Balanced bool     `json:"balanced"`
		Problems []string `json:"problems"`
	}
	if err := c.do(ctx, "GET", bases[0]+"/admin/v1/events/"+*name+"/audit", "", true, &audit); err != nil {
		return err
	}
	t := books.TicketTypes[0]
	fmt.Fprintf(stdout, "books: capacity %d = available %d + held %d + sold %d; created %d; oversold %d; audit balanced=%v %v\n",
		t.Capacity, t.Available, t.Held, t.Sold, status[http.StatusCreated], max(t.Held+t.Sold-t.Capacity, 0), audit.Balanced, audit.Problems)
	if t.Available+t.Held+t.Sold != t.Capacity || t.Held != status[http.StatusCreated] || !audit.Balanced {
		return errors.New("the books do not balance")
	}
	return nil
}
