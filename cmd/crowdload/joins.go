package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
)

// joinsCmd drives new joins at a room's gate (queue/gate.go), as a script or
// as a crowd behind one address:
//
//   - -mode bot: -concurrency loops join for -seconds without cookies (every
//     join asks for a new place), from -addresses client addresses; with
//     -solve they solve each challenge they are given, else they give up on
//     it. It reports places got (in all and within the first 30 s), refusals
//     by code, and joins per second.
//   - -mode fans: -fans people behind one shared address each join once, at
//     a random moment within -spread, solving any challenge and waiting out
//     any Retry-After, like the page; it reports how many got a place and
//     when the last did.
//   - -mode capacity: the server's side of a room with a challenge on every
//     new place, the solving apart (capacity.go): -places challenges asked,
//     solved, then used, over -concurrency raw connections; -pids names the
//     gateway's and Redis's processes to report their CPU per place. With
//     -challenge off, bare joins make the places: the figure to compare.
//
// With -users N (bot and fans), every join brings an enqueue token signed
// with -enqueue-secret (HS256, the room's) for one of N user ids, as the
// organizer's site would hand its signed-in fans: the room makes at most
// one place per user id, and the bot reports how many distinct places its
// joins got.
//
// Addresses reach the gateway as X-Forwarded-For (198.18.0.0/15, the
// benchmarking range), so run the gateway with --trusted-proxies
// 127.0.0.1/32.
func joinsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("joins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of the gateway")
	token := fs.String("admin-token", "", "admin bearer token: create the room first (replaced if it exists)")
	room := fs.String("room", "gate", "room")
	mode := fs.String("mode", "bot", "bot or fans")
	challenge := fs.String("challenge", "auto", "the room's challenge setting, with -admin-token")
	bits := fs.Int("bits", 0, "the room's challenge_bits, with -admin-token (0: the default)")
	solve := fs.Bool("solve", false, "bot: solve challenges (fans always do)")
	seconds := fs.Int("seconds", 30, "bot: how long to run")
	concurrency := fs.Int("concurrency", 64, "bot: joins in flight")
	addresses := fs.Int("addresses", 1, "bot: client addresses to spread over")
	fans := fs.Int("fans", 1000, "fans: how many")
	spread := fs.Duration("spread", 30*time.Second, "fans: arrivals spread uniformly over this")
	placesN := fs.Int("places", 100000, "capacity: places to make")
	pidList := fs.String("pids", "", "capacity: comma-separated pids (the gateway's, Redis's) whose CPU time to report")
	dump := fs.String("dump", "", "capacity: write the solved joins' bodies to this file, one a line, instead of sending them (for wrk and deploy/bench/solved.lua)")
	users := fs.Int("users", 0, "bot, fans: sign every join an enqueue token for one of this many user ids (0: none)")
	enqueueSecret := fs.String("enqueue-secret", "", "with -users: the room's HS256 enqueue-token secret (at least 32 bytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seconds <= 0 || *seconds > 600 || *concurrency <= 0 || *addresses <= 0 || *addresses > 1<<17 || *fans <= 0 || *fans > 100000 {
		return errors.New("-seconds 1..600, -concurrency > 0, -addresses 1..131072, -fans 1..100000")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *concurrency + *fans, MaxConnsPerHost: 0}
	if *users < 0 || *users > 0 && len(*enqueueSecret) < 32 {
		return errors.New("-users needs -enqueue-secret of at least 32 bytes")
	}
	j := &joiner{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: *target + "/api/v1/rooms/" + *room + "/join",
		room: *room, users: *users, secret: []byte(*enqueueSecret)}
	if *token != "" {
		c := &client{http: j.http, token: *token}
		body := fmt.Sprintf(`{"admit_per_minute": 0, "challenge": %q, "challenge_bits": %d}`, *challenge, *bits)
		if *mode == "capacity" {
			// Paused, so no admissions run meanwhile, at a rate whose surge
			// level the run stays under: the challenges asked in phase 1
			// are still hard enough when used in phase 3.
			ch := "always"
			if *challenge == "off" {
				ch = "off"
			}
			body = fmt.Sprintf(`{"admit_per_minute": 1000000, "paused": true, "challenge": %q, "challenge_bits": %d}`, ch, *bits)
		}
		if *users > 0 {
			body = strings.TrimSuffix(body, "}") + fmt.Sprintf(`, "enqueue_token": {"required": true, "hs256_secret": %q}}`, *enqueueSecret)
		}
		if err := c.do(ctx, "PUT", *target+"/admin/v1/rooms/"+*room, body, true, nil); err != nil {
			return err
		}
	}
	switch *mode {
	case "bot":
		return j.bot(ctx, stdout, *seconds, *concurrency, *addresses, *solve)
	case "fans":
		return j.crowd(ctx, stdout, *fans, *spread)
	case "capacity":
		host, path, err := parseCapacityTarget(*target, *room)
		if err != nil {
			return err
		}
		c := &capacity{host: host, path: path, n: *placesN, concurrency: *concurrency, plain: *challenge == "off", dump: *dump}
		for _, f := range strings.Split(*pidList, ",") {
			if f = strings.TrimSpace(f); f != "" {
				pid, err := strconv.Atoi(f)
				if err != nil {
					return fmt.Errorf("-pids: %q is not a pid", f)
				}
				c.pids = append(c.pids, pid)
			}
		}
		if *placesN <= 0 || *placesN > 1_000_000 {
			return errors.New("-places 1..1000000")
		}
		return c.run(ctx, stdout)
	}
	return fmt.Errorf("-mode %q: want bot, fans or capacity", *mode)
}

type joiner struct {
	http *http.Client
	url  string
	// With users > 0, every join brings an enqueue token for one of that
	// many user ids, signed with secret for room.
	room   string
	users  int
	secret []byte
}

// body is a join's body: the solution of ch (nil: none) and, with
// -users, an enqueue token for user id u<user mod users>.
func (j *joiner) body(ch *api.Challenge, user int64) []byte {
	var b api.JoinRequest
	if ch != nil {
		b.Challenge, b.Solution = ch.Token, solve(ch)
	}
	if j.users > 0 {
		now := time.Now()
		uid := "u" + strconv.FormatInt(user%int64(j.users), 10)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: uid, Audience: jwt.ClaimStrings{j.room},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}).SignedString(j.secret)
		if err != nil {
			panic(err) // HS256 with a []byte key does not fail
		}
		b.EnqueueToken = tok
	}
	if b == (api.JoinRequest{}) {
		return nil
	}
	out, _ := json.Marshal(b)
	return out
}

// address is client address i of the benchmarking range.
func address(i int) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+i>>16, i>>8&255, i&255)
}

// answer is one join's outcome.
type answer struct {
	status     int
	queueID    string
	code       string
	challenge  *api.Challenge
	retryAfter time.Duration
}

// join posts one cookie-less join from addr with body.
func (j *joiner) join(ctx context.Context, addr string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", j.url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	res, err := j.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	a := answer{status: res.StatusCode}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil {
		a.retryAfter = time.Duration(s) * time.Second
	}
	if res.StatusCode != http.StatusOK {
		var e api.ErrorResponse
		_ = json.Unmarshal(b, &e)
		a.code, a.challenge = e.Error.Code, e.Challenge
	} else {
		var t api.Ticket
		_ = json.Unmarshal(b, &t)
		a.queueID = t.QueueID
	}
	return a, nil
}

// solve finds the nonce, as the page's pow.js does.
func solve(ch *api.Challenge) string {
	for n := 0; ; n++ {
		s := strconv.Itoa(n)
		if admission.LeadingZeroBits(ch.Token, s) >= ch.Bits {
			return s
		}
	}
}

func (j *joiner) bot(ctx context.Context, stdout io.Writer, seconds, concurrency, addresses int, solve bool) error {
	start := time.Now()
	end := start.Add(time.Duration(seconds) * time.Second)
	var places, placesIn30, requests, next atomic.Int64
	var mu sync.Mutex
	codes := map[string]int64{}
	distinct := map[string]bool{}
	bitsSeen := map[int]int64{}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				n := next.Add(1)
				addr := address(int(n) % addresses)
				a, err := j.join(ctx, addr, j.body(nil, n))
				requests.Add(1)
				if err == nil && a.status == http.StatusPreconditionRequired && solve && a.challenge != nil {
					mu.Lock()
					bitsSeen[a.challenge.Bits]++
					mu.Unlock()
					a, err = j.join(ctx, addr, j.body(a.challenge, n))
					requests.Add(1)
				}
				mu.Lock()
				switch {
				case err != nil:
					codes["transport_error"]++
				case a.status == http.StatusOK:
					places.Add(1)
					distinct[a.queueID] = true
					if time.Since(start) <= 30*time.Second {
						placesIn30.Add(1)
					}
				default:
					codes[strconv.Itoa(a.status)+" "+a.code]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "bot: %d s, %d addresses, concurrency %d, solve %v\n", seconds, addresses, concurrency, solve)
	fmt.Fprintf(stdout, "places: %d (%.0f/s); within the first 30 s: %d; distinct places: %d\n", places.Load(), float64(places.Load())/el, placesIn30.Load(), len(distinct))
	fmt.Fprintf(stdout, "requests: %d (%.0f/s)\n", requests.Load(), float64(requests.Load())/el)
	for _, k := range sortedKeys(codes) {
		fmt.Fprintf(stdout, "refused %s: %d\n", k, codes[k])
	}
	for b := range 40 {
		if n := bitsSeen[b]; n > 0 {
			fmt.Fprintf(stdout, "challenges of %d bits: %d\n", b, n)
		}
	}
	return nil
}

func (j *joiner) crowd(ctx context.Context, stdout io.Writer, fans int, spread time.Duration) error {
	const addr = "198.18.200.1"
	start := time.Now()
	done := make([]time.Duration, fans)
	var got, challenged, limited atomic.Int64
	var mu sync.Mutex
	bitsSeen := map[int]int64{}
	var wg sync.WaitGroup
	for i := range fans {
		wg.Go(func() {
			t := time.NewTimer(time.Duration(rand.Int64N(int64(spread) + 1)))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			body := j.body(nil, int64(i))
			for ctx.Err() == nil && time.Since(start) < 10*time.Minute {
				a, err := j.join(ctx, addr, body)
				body = j.body(nil, int64(i))
				switch {
				case err != nil:
					time.Sleep(time.Second)
				case a.status == http.StatusOK:
					got.Add(1)
					done[i] = time.Since(start)
					return
				case a.status == http.StatusPreconditionRequired && a.challenge != nil:
					challenged.Add(1)
					mu.Lock()
					bitsSeen[a.challenge.Bits]++
					mu.Unlock()
					body = j.body(a.challenge, int64(i))
				case a.status == http.StatusTooManyRequests:
					limited.Add(1)
					time.Sleep(a.retryAfter + time.Duration(rand.Int64N(int64(time.Second))))
				default:
					time.Sleep(time.Second)
				}
			}
		})
	}
	wg.Wait()
	sort.Slice(done, func(a, b int) bool { return done[a] < done[b] })
	fmt.Fprintf(stdout, "fans: %d behind one address, arriving over %v\n", fans, spread)
	fmt.Fprintf(stdout, "got a place: %d; challenges solved: %d; 429s waited out: %d\n", got.Load(), challenged.Load(), limited.Load())
	if got.Load() > 0 {
		fmt.Fprintf(stdout, "last place at %.1f s after the first arrival window opened\n", done[len(done)-1].Seconds())
	}
	for b := range 40 {
		if n := bitsSeen[b]; n > 0 {
			fmt.Fprintf(stdout, "challenges of %d bits: %d\n", b, n)
		}
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
