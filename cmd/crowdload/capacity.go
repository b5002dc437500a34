package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/admission"
)

// capacity measures the server's side of a room whose every new place needs
// a solved challenge, apart from the solving (which real fans do on their
// own phones, and which would take this box's cores from the server): it
//
//  1. asks for n challenges: bare joins, each from an address of its own,
//     every one answered 428 challenge_required;
//  2. solves them all, on every core (not timed: no request is in flight);
//  3. makes n places with them: joins bringing a solution, each from an
//     address of its own.
//
// Phases 1 and 3 run over raw keep-alive connections with prebuilt
// requests, as wrk does, so the client takes little of the box. It reports
// each phase's rate, their combined rate (a place costs one request of
// each), and, for the processes -pids names (the gateway's, Redis's), the
// CPU time each phase took of them per place.
type capacity struct {
	host        string // host:port
	path        string // the join's
	n           int
	concurrency int
	pids        []int
	// plain: the room asks no challenge (its challenge is off); the run
	// makes n places with bare joins, the figure to compare with.
	plain bool
	// dump, when set, is where the solved joins' bodies go, one a line,
	// instead of phase 3: for a lighter client to send (deploy/bench/solved.lua).
	dump string
}

// capacityPhase is one timed phase's outcome.
type capacityPhase struct {
	elapsed time.Duration
	ok      int64            // answers of the expected status
	other   map[string]int64 // other answers, by status line's code and body
	cpu     []time.Duration  // of each of -pids
}

func (c *capacity) run(ctx context.Context, stdout io.Writer) error {
	fmt.Fprintf(stdout, "capacity: %d places, %d connections, %d client cores\n", c.n, c.concurrency, runtime.NumCPU())
	if c.plain {
		p, err := c.phase(ctx, 200, func(i int) []byte { return c.request(i, "{}") }, func(int, []byte) bool { return true })
		if err != nil {
			return err
		}
		c.report(stdout, "places made by bare joins, no challenge (200)", p)
		for k, pid := range c.pids {
			fmt.Fprintf(stdout, "pid %d: %.1f µs of CPU per place\n", pid, micros(p.cpu[k], p.ok))
		}
		return nil
	}
	tokens := make([]string, c.n)
	bits := make([]int, c.n)
	ask, err := c.phase(ctx, 428, func(i int) []byte { return c.request(i, "{}") }, func(i int, body []byte) bool {
		tokens[i], bits[i] = field(body, `"token":"`, '"'), atoiField(body, `"bits":`)
		return tokens[i] != ""
	})
	if err != nil {
		return err
	}
	c.report(stdout, "1 challenges asked (428)", ask)
	if ask.ok != int64(c.n) {
		return fmt.Errorf("phase 1: %d of %d joins were asked for a challenge", ask.ok, c.n)
	}
	start := time.Now()
	bodies := solveAll(tokens, bits)
	hist := map[int]int{}
	for _, b := range bits {
		hist[b]++
	}
	fmt.Fprintf(stdout, "2 solved: %d challenges in %.1f s (bits: %v)\n", c.n, time.Since(start).Seconds(), hist)
	if c.dump != "" {
		return os.WriteFile(c.dump, []byte(strings.Join(bodies, "\n")+"\n"), 0o600)
	}
	place, err := c.phase(ctx, 200, func(i int) []byte { return c.request(c.n+i, bodies[i]) }, func(int, []byte) bool { return true })
	if err != nil {
		return err
	}
	c.report(stdout, "3 places made (200)", place)
	combined := float64(place.ok) / (ask.elapsed + place.elapsed).Seconds()
	fmt.Fprintf(stdout, "combined: %.0f places/s with a challenge on every place (one 428 and one solved join each)\n", combined)
	for k, pid := range c.pids {
		per := (ask.cpu[k] + place.cpu[k]) / time.Duration(max(place.ok, 1))
		fmt.Fprintf(stdout, "pid %d: %.1f µs of CPU per place (%.1f asking, %.1f joining)\n", pid,
			float64(per.Nanoseconds())/1e3, micros(ask.cpu[k], place.ok), micros(place.cpu[k], place.ok))
	}
	return nil
}

func micros(d time.Duration, n int64) float64 {
	return float64(d.Nanoseconds()) / 1e3 / float64(max(n, 1))
}

func (c *capacity) report(stdout io.Writer, name string, p capacityPhase) {
	fmt.Fprintf(stdout, "%s: %d in %.2f s = %.0f/s\n", name, p.ok, p.elapsed.Seconds(), float64(p.ok)/p.elapsed.Seconds())
	for k, v := range p.other {
		fmt.Fprintf(stdout, "  unexpected %s: %d\n", k, v)
	}
}

// request is the bare or solved join of the i-th client address.
func (c *capacity) request(i int, body string) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n%s",
		c.path, c.host, address(i%(1<<17)), len(body), body)
}

// phase sends request(i) for i in [0, n) over c.concurrency connections,
// counting answers of status want that keep accepts.
func (c *capacity) phase(ctx context.Context, want int, request func(i int) []byte, keep func(i int, body []byte) bool) (capacityPhase, error) {
	reqs := make([][]byte, c.n)
	for i := range reqs {
		reqs[i] = request(i)
	}
	cpu0, err := cpuTimes(c.pids)
	if err != nil {
		return capacityPhase{}, err
	}
	var next, ok atomic.Int64
	var mu sync.Mutex
	other := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, c.concurrency)
	start := time.Now()
	for range c.concurrency {
		wg.Go(func() {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.host)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 8<<10)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= c.n {
					return
				}
				if _, err := conn.Write(reqs[i]); err != nil {
					errs <- err
					return
				}
				status, body, err := readResponse(br)
				if err != nil {
					errs <- err
					return
				}
				if status == want && keep(i, body) {
					ok.Add(1)
					continue
				}
				mu.Lock()
				other[strconv.Itoa(status)+" "+field(body, `"code":"`, '"')]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return capacityPhase{}, err
	}
	cpu1, err := cpuTimes(c.pids)
	if err != nil {
		return capacityPhase{}, err
	}
	p := capacityPhase{elapsed: elapsed, ok: ok.Load(), other: other}
	for k := range cpu1 {
		p.cpu = append(p.cpu, cpu1[k]-cpu0[k])
	}
	return p, ctx.Err()
}

// readResponse reads one HTTP/1.1 response with a Content-Length, as the
// gateway's JSON answers have.
func readResponse(br *bufio.Reader) (status int, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if name, v, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(name), "Content-Length") {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("an answer without Content-Length")
	}
	body = make([]byte, length)
	_, err = io.ReadFull(br, body)
	return status, body, err
}

// field is the text in b after key up to end, or "".
func field(b []byte, key string, end byte) string {
	_, rest, ok := bytes.Cut(b, []byte(key))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte{end})
	return string(v)
}

func atoiField(b []byte, key string) int {
	_, rest, _ := bytes.Cut(b, []byte(key))
	n := 0
	for _, d := range rest {
		if d < '0' || d > '9' {
			break
		}
		n = n*10 + int(d-'0')
	}
	return n
}

// solveAll solves every challenge on every core, returning the solved
// joins' bodies.
func solveAll(tokens []string, bits []int) []string {
	out := make([]string, len(tokens))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(tokens); i = int(next.Add(1) - 1) {
				for n := 0; ; n++ {
					s := strconv.Itoa(n)
					if admission.LeadingZeroBits(tokens[i], s) >= bits[i] {
						out[i] = `{"challenge":"` + tokens[i] + `","solution":"` + s + `"}`
						break
					}
				}
			}
		})
	}
	wg.Wait()
	return out
}

// cpuTimes reads the CPU time (user + system) the processes pids have used.
func cpuTimes(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil, fmt.Errorf("-pids: %w", err)
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return nil, fmt.Errorf("-pids: unreadable /proc/%d/stat", pid)
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		out[i] = time.Duration(u+s) * time.Second / 100 // USER_HZ
	}
	return out, nil
}

// parseCapacityTarget splits the gateway's base URL for raw requests.
func parseCapacityTarget(target, room string) (host, path string, err error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", "", fmt.Errorf("-target %q: capacity needs an http://host:port URL", target)
	}
	return u.Host, strings.TrimSuffix(u.Path, "/") + "/api/v1/rooms/" + room + "/join", nil
}
