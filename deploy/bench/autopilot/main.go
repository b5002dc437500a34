// Command autopilot is the load of the origin autopilot's benchmark
// (deploy/bench/origin-autopilot.sh): fans who wait in a room's line and,
// once admitted, browse the site behind Crowdgate's reverse proxy. It
// creates the room (-room-doc), keeps -waiters people in its line (each
// polls its status every -poll, as the page does), and has every admitted
// fan ask for -pages pages under -path, -think apart, with their admission
// token. Every -every it prints a row: what the room admitted (its
// admitted_total, server side) and its adaptive rate and reason, and what
// the fans saw of the site through the proxy (requests, p50 and p99
// latency, share of 5xx); at the end, the same over the run after
// -warmup. Aim it only at your own loopback addresses.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("target", "http://127.0.0.1:18380", "Crowdgate's address")
	token := flag.String("admin-token", "bench", "admin token")
	room := flag.String("room", "site", "the room")
	doc := flag.String("room-doc", `{"admit_per_minute": 900, "challenge": "off"}`, "the room's document, PUT at the start")
	path := flag.String("path", "/site/", "the path the room protects; fans ask for pages under it")
	seconds := flag.Int("seconds", 60, "how long the run lasts")
	warmup := flag.Duration("warmup", 20*time.Second, "left out of the summary")
	every := flag.Duration("every", 5*time.Second, "a row every")
	waiters := flag.Int("waiters", 100, "people kept in the line")
	poll := flag.Duration("poll", time.Second, "how often a waiter asks its status")
	pages := flag.Int("pages", 10, "pages each admitted fan asks for")
	think := flag.Duration("think", time.Second, "between a fan's pages")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(*seconds)*time.Second)
	defer cancel()
	b := &bench{
		base: strings.TrimRight(*target, "/"), admin: *token, room: *room, path: *path,
		pages: *pages, think: *think, poll: *poll,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second},
	}
	if err := b.call(context.Background(), "PUT", "/admin/v1/rooms/"+b.room, b.admin, *doc, nil); err != nil {
		log.Fatalf("put room: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { b.keepLine(ctx, &wg, *waiters) })
	b.report(ctx, *every, *warmup)
	wg.Wait()
}

type bench struct {
	base, admin, room, path string
	pages                   int
	think, poll             time.Duration
	client                  *http.Client

	waiting  atomic.Int64 // waiters not admitted yet
	browsing atomic.Int64 // admitted fans still asking for pages

	mu  sync.Mutex
	now window // this row's pages
	all window // every page after the warm-up
	hot atomic.Bool
}

// window is what fans saw of the site over a span.
type window struct {
	latencies []time.Duration
	fivexx    int
	other     int // neither 2xx nor 5xx: something is wrong with the setup
}

func (w *window) add(d time.Duration, status int) {
	w.latencies = append(w.latencies, d)
	switch {
	case status >= 500:
		w.fivexx++
	case status < 200 || status > 299:
		w.other++
	}
}

func (w *window) quantile(q float64) time.Duration {
	if len(w.latencies) == 0 {
		return 0
	}
	s := slices.Clone(w.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

func (w *window) errPercent() float64 {
	if len(w.latencies) == 0 {
		return 0
	}
	return 100 * float64(w.fivexx) / float64(len(w.latencies))
}

// keepLine joins new waiters whenever fewer than n wait.
func (b *bench) keepLine(ctx context.Context, wg *sync.WaitGroup, n int) {
	for ctx.Err() == nil {
		for b.waiting.Load() < int64(n) && ctx.Err() == nil {
			var j struct {
				QueueToken string `json:"queue_token"`
			}
			if err := b.call(ctx, "POST", "/api/v1/rooms/"+b.room+"/join", "", "", &j); err != nil {
				if ctx.Err() == nil {
					log.Printf("join: %v", err)
					time.Sleep(100 * time.Millisecond)
				}
				continue
			}
			b.waiting.Add(1)
			wg.Go(func() { b.fan(ctx, j.QueueToken) })
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fan waits for its turn, then browses.
func (b *bench) fan(ctx context.Context, queueToken string) {
	var pass string
	for pass == "" {
		select {
		case <-ctx.Done():
			b.waiting.Add(-1)
			return
		case <-time.After(b.poll):
		}
		var st struct {
			AdmissionToken string `json:"admission_token"`
		}
		if err := b.call(ctx, "GET", "/api/v1/rooms/"+b.room+"/status", queueToken, "", &st); err != nil {
			continue
		}
		pass = st.AdmissionToken
	}
	b.waiting.Add(-1)
	b.browsing.Add(1)
	defer b.browsing.Add(-1)
	for i := range b.pages {
		if i > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.think):
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s%sp%d", b.base, b.path, i), nil)
		req.Header.Set("Authorization", "Bearer "+pass)
		start := time.Now()
		res, err := b.client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("page: %v", err)
			}
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		b.mu.Lock()
		b.now.add(d, res.StatusCode)
		if b.hot.Load() {
			b.all.add(d, res.StatusCode)
		}
		b.mu.Unlock()
	}
}

// roomReading is the room as the dashboard shows it.
type roomReading struct {
	at       time.Time
	admitted int64
	rate     float64 // adaptive rate; 0 when the room is not adaptive
	reason   string
}

func (b *bench) read(ctx context.Context) (roomReading, error) {
	var d struct {
		Rooms []struct {
			Room  string `json:"room"`
			Stats struct {
				AdmittedTotal int64 `json:"admitted_total"`
			} `json:"stats"`
			AdaptiveState *struct {
				RatePerMinute float64 `json:"rate_per_minute"`
				Reason        string  `json:"reason"`
			} `json:"adaptive_state"`
		} `json:"rooms"`
	}
	if err := b.call(ctx, "GET", "/admin/v1/dashboard?brief=1", b.admin, "", &d); err != nil {
		return roomReading{}, err
	}
	for _, r := range d.Rooms {
		if r.Room != b.room {
			continue
		}
		out := roomReading{at: time.Now(), admitted: r.Stats.AdmittedTotal}
		if a := r.AdaptiveState; a != nil {
			out.rate, out.reason = a.RatePerMinute, a.Reason
		}
		return out, nil
	}
	return roomReading{}, fmt.Errorf("room %s not on the dashboard", b.room)
}

// report prints a row every interval until ctx ends, then the summary.
func (b *bench) report(ctx context.Context, every, warmup time.Duration) {
	start := time.Now()
	last, err := b.read(ctx)
	if err != nil {
		log.Fatalf("dashboard: %v", err)
	}
	first := last
	var hotStart roomReading
	fmt.Printf("%6s %12s %12s %9s %8s %8s %6s %9s  %s\n", "t (s)", "admitted/min", "adaptive/min", "pages/s", "p50 ms", "p99 ms", "5xx %", "browsing", "adaptive's last reason")
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			b.summary(first, hotStart, last, time.Since(start), warmup)
			return
		case <-tick.C:
		}
		cur, err := b.read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("dashboard: %v", err)
			}
			continue
		}
		b.mu.Lock()
		w := b.now
		b.now = window{}
		b.mu.Unlock()
		t := time.Since(start)
		if !b.hot.Load() && t >= warmup {
			b.hot.Store(true)
			hotStart = cur
		}
		adaptive := "-"
		if cur.reason != "" {
			adaptive = fmt.Sprintf("%.0f", cur.rate)
		}
		fmt.Printf("%6.0f %12.0f %12s %9.1f %8.0f %8.0f %6.1f %9d  %s\n", t.Seconds(),
			float64(cur.admitted-last.admitted)/every.Minutes(), adaptive, float64(len(w.latencies))/every.Seconds(),
			ms(w.quantile(0.5)), ms(w.quantile(0.99)), w.errPercent(), b.browsing.Load(), cur.reason)
		if w.other > 0 {
			fmt.Printf("       (%d pages neither 2xx nor 5xx)\n", w.other)
		}
		last = cur
	}
}

func (b *bench) summary(first, hotStart, last roomReading, took, warmup time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hot := took - warmup
	admitted := 0.0
	if d := last.at.Sub(hotStart.at); !hotStart.at.IsZero() && d > 0 {
		admitted = float64(last.admitted-hotStart.admitted) / d.Minutes()
	}
	fmt.Printf("summary over %.0f s after a %.0f-s warm-up: admitted %.0f/min, pages %.1f/s, p50 %.0f ms, p99 %.0f ms, 5xx %.1f%% (%d pages); over the whole run %d admitted\n",
		hot.Seconds(), warmup.Seconds(), admitted, float64(len(b.all.latencies))/hot.Seconds(),
		ms(b.all.quantile(0.5)), ms(b.all.quantile(0.99)), b.all.errPercent(), len(b.all.latencies), last.admitted-first.admitted)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// call sends one JSON request with bearer (if any) and decodes a 2xx
// answer into out (if any).
func (b *bench) call(ctx context.Context, method, path, bearer, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return errors.New(res.Status + ": " + strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
