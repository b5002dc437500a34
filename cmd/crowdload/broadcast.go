package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// broadcastCmd measures one broadcast: -fans waiters of one gateway hold a
// WebSocket each in a paused room; the one at the head gives up the place,
// which moves every other one up by one, and each records when its lower
// position arrived. With -pid it reads the gateway's CPU time from /proc
// over the broadcast and over an idle window as long, so the difference is
// the broadcast's cost. One process, so at most ~19,000 fans.
func broadcastCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broadcast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of one gateway (loopback only)")
	token := fs.String("admin-token", "", "admin bearer token (creates the room)")
	room := fs.String("room", "broadcast", "room to create (replaced if it exists)")
	fans := fs.Int("fans", 18000, "waiting fans, each with a WebSocket (at most 19000: one process)")
	pid := fs.Int("pid", 0, "the gateway's process id, to measure its CPU time (Linux /proc)")
	sources := fs.String("sources", "8", "local addresses to bind (see crowdload ws -h)")
	window := fs.Duration("window", 3*time.Second, "how long after the last move to wait for every delivery")
	moves := fs.Int("moves", 1, "broadcasts: the fan at the head leaves this many times, -every apart; more moves measure the CPU per message more finely")
	every := fs.Duration("every", 1500*time.Millisecond, "time between two moves (a waiter gets a moved position at most once a second)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fans < 2 || *fans > 19000 {
		return errors.New("-fans must be in 2..19000")
	}
	if *moves < 1 || *moves >= *fans || *every <= 0 {
		return errors.New("-moves must be in 1..fans-1 and -every positive")
	}
	srcs, err := parseSources(*sources)
	if err != nil {
		return err
	}
	c := &client{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, token: *token}
	if err := c.do(ctx, "PUT", *target+"/admin/v1/rooms/"+*room, `{"admit_per_minute": 0, "session_seconds": 3600}`, true, nil); err != nil {
		return err
	}
	tokens, _, err := c.joinAll(ctx, []string{*target}, *room, *fans)
	if err != nil {
		return err
	}
	wsBase := "ws" + strings.TrimPrefix(*target, "http") + "/ws/v1/rooms/" + *room + "?queue_token="

	var (
		t0       atomic.Int64 // unix ns of the move; 0 before it
		lat      = newLiveHist()
		got      atomic.Int64
		ready    sync.WaitGroup
		readers  sync.WaitGroup
		conns    = make([]*websocket.Conn, *fans)
		dialErrs atomic.Int64
		byPos    = make([]atomic.Int64, *moves+1) // fan index+1 at each leaving position
	)
	dialers, err := sourceDialers(srcs)
	if err != nil {
		return err
	}
	ready.Add(*fans)
	err = parallel(ctx, *fans, 128, func(i int) error {
		nd := dialers[i%len(dialers)]
		d := &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second, ReadBufferSize: 512, WriteBufferSize: 256}
		ws, _, err := d.DialContext(ctx, wsBase+tokens[i], nil)
		if err != nil {
			dialErrs.Add(1)
			ready.Done()
			return nil
		}
		conns[i] = ws
		readers.Add(1)
		go func() {
			defer readers.Done()
			first, last := true, int64(0)
			for {
				_, b, err := ws.ReadMessage()
				if err != nil {
					if first {
						ready.Done()
					}
					return
				}
				var m struct {
					Type     string `json:"type"`
					Position int64  `json:"position"`
				}
				if json.Unmarshal(b, &m) != nil || m.Type != "position" {
					continue
				}
				if first {
					first = false
					if m.Position >= 1 && m.Position <= int64(*moves) {
						byPos[m.Position].Store(int64(i) + 1)
					}
					ready.Done()
				}
				if at := t0.Load(); at != 0 && last > 0 && m.Position < last {
					lat.add(time.Since(time.Unix(0, at)).Milliseconds())
					got.Add(1)
				}
				last = m.Position
			}
		}()
		return nil
	})
	if err != nil {
		return err
	}
	ready.Wait()
	fmt.Fprintf(stdout, "%d sockets open (%d failed); settling\n", *fans-int(dialErrs.Load()), dialErrs.Load())
	time.Sleep(2 * time.Second)

	for p := 1; p <= *moves; p++ {
		if byPos[p].Load() == 0 {
			return fmt.Errorf("no fan was told position %d", p)
		}
	}
	// The idle window is as long as the moving one: the moves, then the
	// wait for their deliveries.
	span := time.Duration(*moves-1)**every + *window
	sent := func() int64 { return positionsSent(ctx, c, *target) }
	s0 := sent()
	idleCPU, err := cpuOver(*pid, span, nil)
	if err != nil {
		return err
	}
	s1 := sent()
	moveCPU, err := cpuOver(*pid, span, func() error {
		// The moves run while cpuOver sleeps through the window.
		go func() {
			for p := 1; p <= *moves; p++ {
				t0.Store(time.Now().UnixNano())
				i := byPos[p].Load() - 1
				if err := c.doAuth(ctx, "DELETE", *target+"/api/v1/rooms/"+*room+"/ticket", tokens[i], nil); err != nil {
					fmt.Fprintln(stderr, "move:", err)
				}
				if p < *moves {
					time.Sleep(*every)
				}
			}
		}()
		return nil
	})
	if err != nil {
		return err
	}
	s2 := sent()
	for _, ws := range conns {
		if ws != nil {
			_ = ws.Close()
		}
	}
	readers.Wait()
	h := lat.snapshot()
	want := int64(*moves) * int64(*fans)
	want -= int64(*moves) * int64(*moves+1) / 2 // move k reaches the fans-k still waiting
	fmt.Fprintf(stdout, "%d broadcast(s) to %d..%d waiters: delivered %d of %d in %v; latency (from the latest move) %s\n",
		*moves, *fans-*moves, *fans-1, got.Load(), want, span, quantiles(&h))
	if *pid != 0 && s2 > s1 {
		// Both windows send messages (the idle one its periodic re-sends),
		// so the cost per message is the slope between the two, and the
		// whole window's CPU over its messages is an upper bound.
		perMsg := "n/a"
		if d := (s2 - s1) - (s1 - s0); d > 0 && moveCPU > idleCPU {
			perMsg = fmt.Sprintf("%.1f µs", float64((moveCPU-idleCPU).Microseconds())/float64(d))
		}
		fmt.Fprintf(stdout, "gateway over %v: idle %v CPU for %d position messages; with the broadcasts %v for %d; per message %s (upper bound %.1f µs)\n",
			span, idleCPU, s1-s0, moveCPU, s2-s1, perMsg, float64(moveCPU.Microseconds())/float64(s2-s1))
	}
	return c.do(ctx, "DELETE", *target+"/admin/v1/rooms/"+*room, "", true, nil)
}

// cpuOver returns the CPU time (user + system) process pid used over d,
// after running start (if any) at its beginning. pid 0: no measurement.
func cpuOver(pid int, d time.Duration, start func() error) (time.Duration, error) {
	before, err := cpuTime(pid)
	if err != nil {
		return 0, err
	}
	if start != nil {
		if err := start(); err != nil {
			return 0, err
		}
	}
	time.Sleep(d)
	after, err := cpuTime(pid)
	return after - before, err
}

// cpuTime reads a process's utime + stime from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * (time.Second / 100), nil // clock ticks, USER_HZ = 100
}

// positionsSent reads the gateway's count of position messages sent.
func positionsSent(ctx context.Context, c *client, target string) int64 {
	req, err := http.NewRequestWithContext(ctx, "GET", target+"/metrics", nil)
	if err != nil {
		return 0
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `crowdgate_ws_messages_total{type="position"} `); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return 0
}
