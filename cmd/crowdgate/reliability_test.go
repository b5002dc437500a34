package main

// The reliability suite: a real `crowdgate serve` (in-process, or a child
// process where it must be killed) on a real Redis that the test breaks,
// while simulated fans keep using it. Each scenario prints its figures as
// a sentence and as one line
//
//	RELIABILITY {"scenario":"...","figures":{...}}
//
// that CI collects (docs/reliability.md keeps the figures measured): with
// CROWDGATE_RELIABILITY_OUT set, the line is also appended to that file, so
// the figures survive a plain `go test ./...`. Run it alone with
//
//	go test -v -run '^TestReliability' ./cmd/crowdgate
//
// It is skipped under -short.

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/webhooksig"
)

func reliability(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("the reliability suite breaks Redis and gateways and waits for failovers: not with -short")
	}
}

// report logs a scenario's figures, for people and for CI.
func report(t *testing.T, scenario string, figures map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"scenario": scenario, "figures": figures})
	t.Logf("RELIABILITY %s", b)
	if path := os.Getenv("CROWDGATE_RELIABILITY_OUT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("figures not written: %v", err)
			return
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "RELIABILITY %s\n", b); err != nil {
			t.Errorf("figures not written: %v", err)
		}
	}
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// simulatedCrowd is where the suite's fans come from: loopback, exempt from
// the rooms' per-address limits and challenges, which are not what it
// rehearses (the whole crowd would be one address).
const simulatedCrowd = "127.0.0.0/8"

// fanHTTP is the fans' client: a fan gives up on an answer after 10 s.
var fanHTTP = &http.Client{Timeout: 10 * time.Second}

// reply is one answer a fan got, or the error instead.
type reply struct {
	code       int
	body       map[string]any
	retryAfter string
	err        error
	start, end time.Time
}

func (r reply) ok() bool { return r.err == nil && r.code/100 == 2 }

// clean reports whether a failure is one the contract allows while Redis
// is away: 503 with Retry-After, or no answer at all from a gateway that is
// gone (a load balancer sends the fan elsewhere).
func (r reply) clean() bool {
	return r.ok() || r.err != nil || r.code == http.StatusServiceUnavailable && r.retryAfter != ""
}

func (r reply) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %v", r.code, r.body)
}

func ask(method, url, body string, header ...string) reply {
	r := reply{start: time.Now()}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := fanHTTP.Do(req)
	if err != nil {
		r.err, r.end = err, time.Now()
		return r
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r.code, r.retryAfter, r.end = res.StatusCode, res.Header.Get("Retry-After"), time.Now()
	_ = json.Unmarshal(b, &r.body)
	return r
}

// fan is a place someone holds.
type fan struct {
	token string
	at    time.Time // when the join was acknowledged
}

// probe is one try of a fan's two everyday requests: a new join and the
// status of a place already held.
type probe struct {
	join, status reply
}

func (p probe) ok() bool { return p.join.ok() && p.status.ok() }

// prober sends probes to a room through the gateways every few
// milliseconds, as a crowd does, and keeps every answer.
type prober struct {
	mu     sync.Mutex
	probes []probe
	joined []fan
	stop   chan struct{}
	wg     sync.WaitGroup
}

// startProber probes room every `every` through the gateways bases
// returns (a load balancer: round-robin over the live ones), asking the
// status of one of held at random. At most 32 probes are in flight.
func startProber(room string, held []fan, every time.Duration, bases func() []string) *prober {
	p := &prober{stop: make(chan struct{})}
	sem := make(chan struct{}, 32)
	var n atomic.Uint64
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // 32 stuck already: the figures say so
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() { <-sem }()
				bs := bases()
				base := bs[int(n.Add(1))%len(bs)]
				var pr probe
				pr.join = ask("POST", base+"/api/v1/rooms/"+room+"/join", "")
				h := held[rand.IntN(len(held))]
				pr.status = ask("GET", base+"/api/v1/rooms/"+room+"/status", "", "Authorization", "Bearer "+h.token)
				p.mu.Lock()
				defer p.mu.Unlock()
				p.probes = append(p.probes, pr)
				if pr.join.ok() {
					p.joined = append(p.joined, fan{token: pr.join.body["queue_token"].(string), at: pr.join.end})
				}
			}()
		}
	}()
	return p
}

func (p *prober) halt() {
	close(p.stop)
	p.wg.Wait()
}

// firstOK returns the end of the first fully successful probe that began
// at or after from; false if none has yet.
func (p *prober) firstOK(from time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, pr := range p.probes {
		if pr.ok() && !pr.join.start.Before(from) && (first.IsZero() || pr.status.end.Before(first)) {
			first = pr.status.end
		}
	}
	return first, !first.IsZero()
}

// waitOK waits up to limit for a successful probe begun at or after from.
func (p *prober) waitOK(t *testing.T, from time.Time, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if at, ok := p.firstOK(from); ok {
			return at
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no successful join and status within %v", limit)
	return time.Time{}
}

// tally counts the requests that failed, those that failed outside the
// contract (anything but 503 with Retry-After, or a gateway gone), and the
// slowest answer.
func (p *prober) tally() (requests, failed, unclean int, slowest time.Duration, sample string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.probes {
		for _, r := range []reply{pr.join, pr.status} {
			requests++
			if !r.ok() {
				failed++
			}
			if !r.clean() {
				unclean++
				sample = r.String()
			}
			slowest = max(slowest, r.end.Sub(r.start))
		}
	}
	return
}

// lost asks every gateway-acknowledged place back and returns how many are
// gone.
func lost(t *testing.T, base, room string, fans []fan) int {
	t.Helper()
	n := 0
	for _, f := range fans {
		var r reply
		for try := 0; try < 50; try++ {
			if r = ask("GET", base+"/api/v1/rooms/"+room+"/status", "", "Authorization", "Bearer "+f.token); r.code != 503 && r.err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.code == 404 {
			n++
		} else if !r.ok() {
			t.Errorf("status of a place: %v", r)
		}
	}
	return n
}

// joinFans makes n places in room through base.
func joinFans(t *testing.T, base, room string, n int) []fan {
	t.Helper()
	var fans []fan
	for range n {
		r := ask("POST", base+"/api/v1/rooms/"+room+"/join", "")
		if !r.ok() {
			t.Fatalf("join: %v", r)
		}
		fans = append(fans, fan{token: r.body["queue_token"].(string), at: r.end})
	}
	return fans
}

func mustAdmin(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	r := ask(method, url, body, "Authorization", "Bearer tok")
	if !r.ok() {
		t.Fatalf("%s %s: %v", method, url, r)
	}
	return r.body
}

// TestReliabilityClusterFailover: a Redis Cluster master dies (SIGKILL),
// or hangs (SIGSTOP: its sockets stay open and nothing answers, as with a
// host that vanished from the network), while fans join and ask their
// status. The cluster promotes its replica (cluster-node-timeout 3 s), and
// the gateway serves that room's fans again within 2 s of the promotion
// (5 s for a frozen master, below), without losing any place it
// acknowledged before the master went.
func TestReliabilityClusterFailover(t *testing.T) {
	reliability(t)
	for _, how := range []string{"killed", "frozen"} {
		t.Run(how, func(t *testing.T) { clusterFailover(t, how) })
	}
}

func clusterFailover(t *testing.T, how string) {
	cl := queuetest.StartCluster(t, queuetest.ClusterConfig{Replicas: 1, NodeTimeout: 3 * time.Second})
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": strings.Join(cl.Addrs, ","), "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd})
	mustAdmin(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`)
	held := joinFans(t, inst.base, "launch", 20)
	master := cl.MasterOf(t, "cg:{launch}:q")
	replicas := cl.ReplicasOf(t, master)

	p := startProber("launch", held, 25*time.Millisecond, func() []string { return []string{inst.base} })
	time.Sleep(500 * time.Millisecond)
	broken := time.Now()
	if how == "killed" {
		cl.Kill(master)
	} else {
		cl.Freeze(t, master)
	}
	_, promoted := queuetest.WaitPromoted(t, replicas, 30*time.Second)
	back := p.waitOK(t, broken, 90*time.Second)
	time.Sleep(300 * time.Millisecond)
	p.halt()

	requests, failed, unclean, slowest, sample := p.tally()
	var before []fan
	for _, f := range append(held, p.joined...) {
		if f.at.Before(broken) {
			before = append(before, f)
		}
	}
	lostBefore := lost(t, inst.base, "launch", before)
	report(t, "cluster_master_"+how, map[string]any{
		"cluster_node_timeout_ms":          3000,
		"promoted_after_ms":                ms(promoted.Sub(broken)),
		"serving_again_after_promotion_ms": ms(back.Sub(promoted)),
		"requests":                         requests, "failed": failed, "failed_not_503": unclean, "slowest_answer_ms": ms(slowest),
		"places_checked": len(before), "places_lost": lostBefore,
	})
	t.Logf("master %s; replica promoted %v later; serving again %v after the promotion; %d of %d requests failed (%d not a 503 with Retry-After), slowest answer %v; %d places acknowledged before, %d lost",
		how, promoted.Sub(broken).Round(time.Millisecond), back.Sub(promoted).Round(time.Millisecond), failed, requests, unclean, slowest.Round(time.Millisecond), len(before), lostBefore)
	// A dead master refuses at once; a frozen one fails a command only
	// when the read times out, and go-redis tries the same node twice
	// before it asks the slot map again: two read timeouts (2 s each),
	// during which the store's two pipeline workers wait with it.
	limit := 2 * time.Second
	if how == "frozen" {
		limit = 2*readTimeout + clusterReload
	}
	if d := back.Sub(promoted); d > limit {
		t.Errorf("serving again %v after the promotion, want at most %v", d, limit)
	}
	if unclean > 0 {
		t.Errorf("%d answers were neither a success nor a 503 with Retry-After, e.g. %s", unclean, sample)
	}
	if lostBefore > 0 {
		t.Errorf("%d places acknowledged before the master went are gone", lostBefore)
	}
}

// TestReliabilitySentinelFailover: the Redis master watched by three
// sentinels dies (SIGKILL); the sentinels promote the replica, and the
// gateway (--redis redis-sentinel://...) serves again within 2 s of their
// +switch-master, without losing a place acknowledged before.
func TestReliabilitySentinelFailover(t *testing.T) {
	reliability(t)
	sen := queuetest.StartSentinel(t, queuetest.SentinelConfig{})
	url := "redis-sentinel://" + strings.Join(sen.Sentinels, ",") + "/" + sen.MasterName
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": url, "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd})
	mustAdmin(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`)
	held := joinFans(t, inst.base, "launch", 20)
	switched := sen.WatchSwitch(t)

	p := startProber("launch", held, 25*time.Millisecond, func() []string { return []string{inst.base} })
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	sen.Kill(sen.Master)
	var sw queuetest.Switch
	select {
	case sw = <-switched:
	case <-time.After(60 * time.Second):
		t.Fatalf("the sentinels did not switch the master within 60 s:\n%s", sen.Log())
	}
	back := p.waitOK(t, killed, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	p.halt()

	requests, failed, unclean, slowest, sample := p.tally()
	var before []fan
	for _, f := range append(held, p.joined...) {
		if f.at.Before(killed) {
			before = append(before, f)
		}
	}
	lostBefore := lost(t, inst.base, "launch", before)
	report(t, "sentinel_failover", map[string]any{
		"down_after_ms":                 1000,
		"switched_after_kill_ms":        ms(sw.At.Sub(killed)),
		"serving_again_after_switch_ms": ms(back.Sub(sw.At)),
		"requests":                      requests, "failed": failed, "failed_not_503": unclean, "slowest_answer_ms": ms(slowest),
		"places_checked": len(before), "places_lost": lostBefore,
	})
	t.Logf("master killed; +switch-master %v later; serving again %v after the switch; %d of %d requests failed (%d not a 503 with Retry-After), slowest answer %v; %d places acknowledged before the kill, %d lost",
		sw.At.Sub(killed).Round(time.Millisecond), back.Sub(sw.At).Round(time.Millisecond), failed, requests, unclean, slowest.Round(time.Millisecond), len(before), lostBefore)
	if d := back.Sub(sw.At); d > 2*time.Second {
		t.Errorf("serving again %v after +switch-master, want at most 2 s", d)
	}
	if unclean > 0 {
		t.Errorf("%d answers were neither a success nor a 503 with Retry-After, e.g. %s", unclean, sample)
	}
	if lostBefore > 0 {
		t.Errorf("%d places acknowledged before the master died are gone", lostBefore)
	}
}

// TestReliabilityRedisKilled: the one Redis, with its AOF fsynced on every
// write (appendfsync always, as deploy/ configures it), is killed (SIGKILL)
// in the middle of a stream of joins and restarted a second later. Every
// join a gateway acknowledged is still in line afterwards; in between,
// fans get 503 with Retry-After; the gateway serves again right after
// Redis is back.
func TestReliabilityRedisKilled(t *testing.T) {
	reliability(t)
	aof := []string{"--appendonly", "yes", "--appendfsync", "always"}
	rs := queuetest.Run(t, aof...)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd})
	mustAdmin(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`)
	held := joinFans(t, inst.base, "launch", 20)

	p := startProber("launch", held, 10*time.Millisecond, func() []string { return []string{inst.base} })
	time.Sleep(time.Second)
	killed := time.Now()
	rs.Stop()
	time.Sleep(time.Second)
	rs.Start(t, aof...)
	restarted := time.Now()
	back := p.waitOK(t, restarted, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	p.halt()

	requests, failed, unclean, slowest, sample := p.tally()
	all := append(held, p.joined...)
	gone := lost(t, inst.base, "launch", all)
	report(t, "redis_killed", map[string]any{
		"appendfsync": "always", "down_ms": ms(restarted.Sub(killed)),
		"serving_again_after_restart_ms": ms(back.Sub(restarted)),
		"requests":                       requests, "failed": failed, "failed_not_503": unclean, "slowest_answer_ms": ms(slowest),
		"places_checked": len(all), "places_lost": gone,
	})
	t.Logf("Redis killed and restarted from its AOF %v later; serving again %v after the restart; %d of %d requests failed (%d not a 503 with Retry-After), slowest answer %v; %d acknowledged places checked, %d lost",
		restarted.Sub(killed).Round(time.Millisecond), back.Sub(restarted).Round(time.Millisecond), failed, requests, unclean, slowest.Round(time.Millisecond), len(all), gone)
	if gone > 0 {
		t.Errorf("%d acknowledged joins were lost", gone)
	}
	if unclean > 0 {
		t.Errorf("%d answers were neither a success nor a 503 with Retry-After, e.g. %s", unclean, sample)
	}
	if d := back.Sub(restarted); d > 2*time.Second {
		t.Errorf("serving again %v after Redis came back, want at most 2 s", d)
	}
}

// TestReliabilityRedisFrozen: the one Redis stops answering for 6 s
// (SIGSTOP: its sockets stay open, as with a long blocking command, a
// swapping host or a paused VM). Fans get 503 with Retry-After, none waits
// without bound, /readyz says so within its 1 s, and the gateway serves
// again as soon as Redis does.
func TestReliabilityRedisFrozen(t *testing.T) {
	reliability(t)
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd})
	mustAdmin(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`)
	held := joinFans(t, inst.base, "launch", 20)

	p := startProber("launch", held, 25*time.Millisecond, func() []string { return []string{inst.base} })
	time.Sleep(500 * time.Millisecond)
	frozen := time.Now()
	if err := queuetest.Freeze(rs.Process()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queuetest.Thaw(rs.Process()) })
	time.Sleep(time.Second)
	ready := ask("GET", inst.base+"/readyz", "")
	time.Sleep(5 * time.Second)
	if err := queuetest.Thaw(rs.Process()); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	back := p.waitOK(t, thawed, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	p.halt()

	requests, failed, unclean, slowest, sample := p.tally()
	all := append(held, p.joined...)
	gone := lost(t, inst.base, "launch", all)
	report(t, "redis_frozen", map[string]any{
		"frozen_ms": ms(thawed.Sub(frozen)), "readyz_code": ready.code, "readyz_ms": ms(ready.end.Sub(ready.start)),
		"serving_again_after_thaw_ms": ms(back.Sub(thawed)),
		"requests":                    requests, "failed": failed, "failed_not_503": unclean, "slowest_answer_ms": ms(slowest),
		"places_checked": len(all), "places_lost": gone,
	})
	t.Logf("Redis frozen for %v; /readyz answered %d in %v; serving again %v after the thaw; %d of %d requests failed (%d not a 503 with Retry-After), slowest answer %v; %d places checked, %d lost",
		thawed.Sub(frozen).Round(time.Millisecond), ready.code, ready.end.Sub(ready.start).Round(time.Millisecond), back.Sub(thawed).Round(time.Millisecond),
		failed, requests, unclean, slowest.Round(time.Millisecond), len(all), gone)
	if ready.code != 503 || ready.end.Sub(ready.start) > time.Second {
		t.Errorf("/readyz during the freeze: %v in %v, want 503 within 1 s", ready, ready.end.Sub(ready.start))
	}
	if failed == 0 {
		t.Error("no request failed while Redis was frozen for 6 s: the freeze did not bite")
	}
	if unclean > 0 {
		t.Errorf("%d answers were neither a success nor a 503 with Retry-After, e.g. %s", unclean, sample)
	}
	// A request waits for one of the store's pipeline workers, which wait
	// on Redis up to 5 s a batch: so far the wait has no bound of its
	// own, and the slowest answer is as long as the freeze.
	if slowest > thawed.Sub(frozen)+readTimeout {
		t.Errorf("an answer took %v", slowest)
	}
	if gone > 0 {
		t.Errorf("%d places were lost", gone)
	}
	if d := back.Sub(thawed); d > 2*time.Second {
		t.Errorf("serving again %v after the thaw, want at most 2 s", d)
	}
}

// TestReliabilityGatewayKilled: three gateway processes sell one event
// behind one room on one Redis; mid-sale one is killed (SIGKILL). For a
// second, until its health check notices, the load balancer still sends
// fans to it, and retries those that get no answer on another gateway. Nobody
// loses a place, the room keeps its admission rate, every fan admitted
// buys and pays for one ticket, and the books balance.
func TestReliabilityGatewayKilled(t *testing.T) {
	reliability(t)
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	const secret = "reliability-webhook-secret"
	env := map[string]string{
		"CROWDGATE_REDIS_URL":   "unix://" + strings.TrimPrefix(rs.Addr, "unix:"),
		"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd, "CROWDGATE_SANDBOX_WEBHOOK_SECRET": secret,
	}
	gws := []*process{startProcess(t, env), startProcess(t, env), startProcess(t, env)}
	var dead atomic.Bool
	live := func() []string {
		if dead.Load() {
			return []string{gws[0].base, gws[2].base}
		}
		return []string{gws[0].base, gws[1].base, gws[2].base}
	}
	// lb sends a request to the next gateway, and to the one after when a
	// gateway does not answer at all, as a load balancer with retries does.
	var rr atomic.Uint64
	var failedOver atomic.Int64
	lb := func(method, path, body string, header ...string) reply {
		var r reply
		for try := 0; try < 3; try++ {
			bs := live()
			r = ask(method, bs[int(rr.Add(1))%len(bs)]+path, body, header...)
			if r.err == nil {
				return r
			}
			failedOver.Add(1)
		}
		return r
	}

	const fans, rate = 60, 300 // 5 a second: 12 s to let everyone in
	mustAdmin(t, "PUT", gws[0].base+"/admin/v1/rooms/sale", `{"admit_per_minute": 0}`)
	mustAdmin(t, "PUT", gws[0].base+"/admin/v1/events/gig", `{"room":"sale","ticket_types":[{"id":"ga","name":"GA","capacity":1000,"price_minor":100,"currency":"INR","per_order_limit":1}]}`)
	var tokens []string
	for _, f := range joinFans(t, gws[0].base, "sale", fans) {
		tokens = append(tokens, f.token)
	}

	type outcome struct {
		admitted time.Time
		order    string
		problem  string
	}
	outcomes := make([]outcome, fans)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	start := time.Now()
	mustAdmin(t, "PATCH", gws[0].base+"/admin/v1/rooms/sale", fmt.Sprintf(`{"admit_per_minute": %d}`, rate))
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outcomes[i]
			bearer := "Bearer " + tok
			var at string
			for at == "" { // wait in line, asking every 300 ms
				select {
				case <-stop:
					o.problem = "never admitted"
					return
				case <-time.After(300 * time.Millisecond):
				}
				r := lb("GET", "/api/v1/rooms/sale/status", "", "Authorization", bearer)
				switch {
				case r.code == 404:
					o.problem = "lost the place"
					return
				case r.ok() && r.body["status"] == "admitted":
					o.admitted, at = time.Now(), r.body["admission_token"].(string)
				}
			}
			// buy: each step retried until it answers (the same
			// Idempotency-Key, an idempotent checkout, a webhook
			// delivered again), as a browser and a provider do
			admitted := "Bearer " + at
			var hold, order, payment string
			for try := 0; hold == "" && try < 20; try++ {
				if r := lb("POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`, "Authorization", admitted, "Idempotency-Key", fmt.Sprintf("fan-%d", i)); r.code == 201 {
					hold = r.body["hold_id"].(string)
				}
			}
			for try := 0; hold != "" && order == "" && try < 20; try++ {
				if r := lb("POST", "/api/v1/holds/"+hold+"/checkout", `{"provider":"sandbox"}`, "Authorization", admitted); r.code == 201 {
					order, payment = r.body["order_id"].(string), r.body["payment"].(map[string]any)["id"].(string)
				}
			}
			if order == "" {
				o.problem = "no order"
				return
			}
			body := fmt.Sprintf(`{"id":"evt_%s","type":"payment.succeeded","payment_id":"%s"}`, order, payment)
			for try := 0; try < 20; try++ {
				sig := webhooksig.Sign([]byte(secret), time.Now(), []byte(body))
				if r := lb("POST", "/api/v1/payments/sandbox/webhook", body, "Crowdgate-Signature", sig); r.ok() {
					o.order = order
					return
				}
			}
			o.problem = "payment not delivered"
		}()
	}

	time.Sleep(4 * time.Second)
	killed := time.Now()
	admittedAtKill := mustAdmin(t, "GET", gws[0].base+"/admin/v1/rooms/sale", "")["stats"].(map[string]any)["admitted_total"].(float64)
	gws[1].kill()
	time.Sleep(time.Second) // the load balancer's health check notices
	dead.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		close(stop)
		<-done
	}

	var last time.Time
	problems := map[string]int{}
	var orders []string
	for _, o := range outcomes {
		if o.problem != "" {
			problems[o.problem]++
			continue
		}
		orders = append(orders, o.order)
		if o.admitted.After(last) {
			last = o.admitted
		}
	}
	paid := 0
	for _, id := range orders {
		if r := lb("GET", "/api/v1/orders/"+id, ""); r.ok() && r.body["status"] == "paid" {
			paid++
		}
	}
	ev := mustAdmin(t, "GET", gws[0].base+"/admin/v1/events/gig", "")
	totals := ev["totals"].(map[string]any)
	audit := mustAdmin(t, "GET", gws[0].base+"/admin/v1/events/gig/audit", "")
	after := (float64(fans) - admittedAtKill) / last.Sub(killed).Minutes()
	before := admittedAtKill / killed.Sub(start).Minutes()
	report(t, "gateway_killed", map[string]any{
		"gateways": 3, "killed": 1, "fans": fans, "admit_per_minute": rate,
		"admitted_per_minute_before_kill": int(before), "admitted_per_minute_after_kill": int(after),
		"requests_retried_elsewhere": failedOver.Load(), "problems": problems,
		"orders_checked": len(orders), "orders_paid": paid, "sold": totals["sold"], "held": totals["held"], "books_balanced": audit["balanced"],
	})
	t.Logf("one of three gateways killed %v into the sale: %d requests went to another gateway; admissions %.0f/min before and %.0f/min after (room: %d/min); %d fans, problems %v; %d orders, %d paid, %v sold, books balanced: %v",
		killed.Sub(start).Round(time.Millisecond), failedOver.Load(), before, after, rate, fans, problems, len(orders), paid, totals["sold"], audit["balanced"])
	if len(problems) > 0 {
		t.Errorf("fans' problems: %v", problems)
	}
	if paid != fans || totals["sold"] != float64(fans) || totals["held"] != 0.0 || audit["balanced"] != true {
		t.Errorf("%d orders paid, totals %v, audit %v: want %d paid and sold, none held, balanced books", paid, totals, audit, fans)
	}
	if after < 0.8*rate || after > 1.25*rate {
		t.Errorf("admitted %.0f a minute after the kill, the room's rate is %d", after, rate)
	}
}

// TestReliabilityMixedGraceRoll: a rolling change of --grace (1m to 2m)
// across two gateways, one replaced at a time, while fans keep asking for
// their status through whichever gateway is up; the mixed pair runs across
// the start of a new liveness epoch, when a sweep runs. Nobody alive loses
// their place. (queue/roll_test.go checks the same at the store, over
// minutes of a fake clock.)
func TestReliabilityMixedGraceRoll(t *testing.T) {
	reliability(t)
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	env := map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_LIMIT_BYPASS": simulatedCrowd}
	var mu sync.Mutex
	gws := []*instance{startServe(t, env, "--grace", "1m"), startServe(t, env, "--grace", "1m")}
	bases := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, g := range gws {
			if g != nil {
				out = append(out, g.base)
			}
		}
		return out
	}
	mustAdmin(t, "PUT", gws[0].base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`)
	var fans []fan
	for i := range 40 {
		r := ask("POST", bases()[i%2]+"/api/v1/rooms/launch/join", "")
		if !r.ok() {
			t.Fatalf("join: %v", r)
		}
		fans = append(fans, fan{token: r.body["queue_token"].(string)})
	}

	// Every fan asks for their status every second, through the gateways in turn.
	var lostMu sync.Mutex
	lostFans := map[int]bool{}
	var asked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, f := range fans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
				bs := bases()
				r := ask("GET", bs[n%len(bs)]+"/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+f.token)
				asked.Add(1)
				if r.code == 404 {
					lostMu.Lock()
					lostFans[i] = true
					lostMu.Unlock()
				}
			}
		}()
	}
	// replace stops gateway i (SIGTERM's path: cancel, drain) and starts
	// its successor with grace.
	replace := func(i int, grace string) {
		mu.Lock()
		old := gws[i]
		gws[i] = nil
		mu.Unlock()
		if err := old.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		g := startServe(t, env, "--grace", grace)
		mu.Lock()
		gws[i] = g
		mu.Unlock()
	}
	time.Sleep(2 * time.Second)
	replace(1, "2m")
	// Mixed from here: 1m and 2m. Stay mixed until 3 s into the next epoch.
	next := time.UnixMilli((time.Now().UnixMilli()/queue.Epoch.Milliseconds() + 1) * queue.Epoch.Milliseconds())
	mixedFrom := time.Now()
	time.Sleep(time.Until(next) + 3*time.Second)
	mixed := time.Since(mixedFrom)
	replace(0, "2m")
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	st := mustAdmin(t, "GET", bases()[0]+"/admin/v1/rooms/launch", "")["stats"].(map[string]any)
	lostMu.Lock()
	n := len(lostFans)
	lostMu.Unlock()
	report(t, "mixed_grace_roll", map[string]any{
		"graces": "1m,2m", "mixed_ms": ms(mixed), "epoch_boundary_crossed": true, "fans": len(fans),
		"status_requests": asked.Load(), "places_lost": n, "waiting_after": st["waiting"], "abandoned_total": st["abandoned_total"],
	})
	t.Logf("roll from --grace 1m to 2m; mixed for %v across an epoch boundary; %d fans asked %d times; %d lost their place; %v waiting after, %v abandoned",
		mixed.Round(time.Millisecond), len(fans), asked.Load(), n, st["waiting"], st["abandoned_total"])
	if n > 0 || st["waiting"] != float64(len(fans)) || st["abandoned_total"] != 0.0 {
		t.Errorf("%d fans lost their place; stats %v", n, st)
	}
}
