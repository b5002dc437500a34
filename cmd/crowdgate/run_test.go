package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/webhooksig"
)

// syncBuffer collects a process's output while run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one `crowdgate serve` run in-process.
type instance struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer // the log, as JSON lines
	stop   func() error
}

// startServe runs `crowdgate serve` with args on a free port and waits until
// it listens.
func startServe(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...), getenv, stdout, stderr)
	}()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop within 15 s of cancellation")
			}
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "crowdgate listening" {
				return &instance{base: "http://" + line.Addr, stdout: stdout, stderr: stderr, stop: stop}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", stderr.String())
	return nil
}

func call(t *testing.T, method, url, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// TestTwoInstancesOneRedis: two gateways on one Redis are one product: a
// place made on one is the same place on the other, admissions decided
// anywhere are honoured everywhere, and they sign with the same keys.
func TestTwoInstancesOneRedis(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	env := map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok"}
	a := startServe(t, env)
	b := startServe(t, env)
	auth := []string{"Authorization", "Bearer tok"}

	if code, m := call(t, "PUT", a.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`, auth...); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	code, j := call(t, "POST", a.base+"/api/v1/rooms/launch/join", "")
	if code != 200 || j["position"] != 1.0 {
		t.Fatalf("join on a: %d %v", code, j)
	}
	qt := j["queue_token"].(string)
	if code, m := call(t, "GET", b.base+"/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt); code != 200 || m["position"] != 1.0 {
		t.Fatalf("status on b: %d %v", code, m)
	}

	// A live change made on b reaches a's admission loop within 2 s.
	if code, m := call(t, "PATCH", b.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 6000}`, auth...); code != 200 {
		t.Fatalf("patch on b: %d %v", code, m)
	}
	var at string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, m := call(t, "GET", a.base+"/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt)
		if m["status"] == "admitted" {
			at = m["admission_token"].(string)
			break
		}
	}
	if at == "" {
		t.Fatal("not admitted within 2 s of the rate change")
	}
	if code, _ := call(t, "GET", b.base+"/auth/v1/check?room=launch", "", "Authorization", "Bearer "+at); code != 200 {
		t.Fatalf("b refused a's admission: %d", code)
	}
	_, ka := call(t, "GET", a.base+"/.well-known/jwks.json", "")
	_, kb := call(t, "GET", b.base+"/.well-known/jwks.json", "")
	if ja, _ := json.Marshal(ka); string(ja) != func() string { jb, _ := json.Marshal(kb); return string(jb) }() {
		t.Fatalf("instances publish different keys:\n%v\n%v", ka, kb)
	}

	// The origin releases the visitor through a: the token stops passing on
	// b as well, at once (b hears the revocation over Pub/Sub).
	if code, m := call(t, "POST", a.base+"/api/v1/rooms/launch/release", "", "Authorization", "Bearer "+at); code != 204 {
		t.Fatalf("release on a: %d %v", code, m)
	}
	if code, _ := call(t, "GET", a.base+"/auth/v1/check?room=launch", "", "Authorization", "Bearer "+at); code != 401 {
		t.Fatalf("a still accepts a released admission: %d", code)
	}
	released := time.Now()
	for {
		code, _ := call(t, "GET", b.base+"/auth/v1/check?room=launch", "", "Authorization", "Bearer "+at)
		if code == 401 {
			break
		}
		if time.Since(released) > time.Second {
			t.Fatal("b still accepts the released admission after 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("b refused the released admission %v after the release", time.Since(released))

	if err := a.stop(); err != nil {
		t.Fatalf("a did not stop cleanly: %v", err)
	}
	if code, _ := call(t, "GET", b.base+"/readyz", ""); code != 200 {
		t.Fatalf("b not ready after a stopped: %d", code)
	}
}

// TestRateChangeReachesThreeInstances: a rate set through one instance is
// what every instance reports and admits by within 2 s (in practice at
// once: the admission script reads the room from Redis on each decision).
func TestRateChangeReachesThreeInstances(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	env := map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok"}
	insts := []*instance{startServe(t, env), startServe(t, env), startServe(t, env)}
	auth := []string{"Authorization", "Bearer tok"}
	if code, m := call(t, "PUT", insts[0].base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`, auth...); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	tokens := make([]string, len(insts))
	for i, in := range insts {
		_, j := call(t, "POST", in.base+"/api/v1/rooms/launch/join", "")
		tokens[i] = j["queue_token"].(string)
	}
	changed := time.Now()
	if code, m := call(t, "PATCH", insts[0].base+"/admin/v1/rooms/launch", `{"admit_per_minute": 6000}`, auth...); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	for i, in := range insts {
		reported, admitted := time.Duration(0), time.Duration(0)
		for deadline := changed.Add(2 * time.Second); (reported == 0 || admitted == 0) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, m := call(t, "GET", in.base+"/admin/v1/rooms/launch", "", auth...); reported == 0 && m["admit_per_minute"] == 6000.0 {
				reported = time.Since(changed)
			}
			if _, m := call(t, "GET", in.base+"/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+tokens[i]); admitted == 0 && m["status"] == "admitted" {
				admitted = time.Since(changed)
			}
		}
		if reported == 0 || admitted == 0 {
			t.Fatalf("instance %d: rate reported after %v, its waiter admitted after %v (0: not within 2 s)", i, reported, admitted)
		}
		t.Logf("instance %d: new rate reported %v and its waiter admitted %v after the change", i, reported.Round(time.Millisecond), admitted.Round(time.Millisecond))
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	inst := startServe(t, nil, "--demo")
	out := inst.stdout.String()
	i := strings.Index(out, "admin token (generated, shown once): ")
	if i < 0 {
		t.Fatalf("no admin token in the output:\n%s", out)
	}
	token := strings.Fields(out[i+len("admin token (generated, shown once): "):])[0]
	if !strings.Contains(out, inst.base+"/api/v1/rooms/demo/join") {
		t.Fatalf("the demo does not say how to join:\n%s", out)
	}
	if code, m := call(t, "GET", inst.base+"/admin/v1/rooms/demo", "", "Authorization", "Bearer "+token); code != 200 || m["room"] != "demo" {
		t.Fatalf("demo room: %d %v", code, m)
	}
	if code, m := call(t, "POST", inst.base+"/api/v1/rooms/demo/join", ""); code != 200 || m["status"] != "waiting" {
		t.Fatalf("demo join: %d %v", code, m)
	}
	// The demo's protected page: a browser without an admission is sent to
	// the waiting room; with one it reaches the demo origin.
	if !strings.Contains(out, inst.base+"/shop/") {
		t.Fatalf("the demo does not name its protected page:\n%s", out)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(inst.base + "/shop/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 302 || !strings.Contains(res.Header.Get("Location"), "/rooms/demo?return_to=%2Fshop%2F") {
		t.Fatalf("protected page without admission: %d %v", res.StatusCode, res.Header)
	}
	if code, m := call(t, "PATCH", inst.base+"/admin/v1/rooms/demo", `{"passthrough": true}`, "Authorization", "Bearer "+token); code != 200 {
		t.Fatalf("passthrough: %d %v", code, m)
	}
	_, j := call(t, "POST", inst.base+"/api/v1/rooms/demo/join", "")
	req, _ := http.NewRequest("GET", inst.base+"/shop/", nil)
	req.Header.Set("Authorization", "Bearer "+j["admission_token"].(string))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "You're in") || !strings.Contains(string(body), "/events/demo") {
		t.Fatalf("protected page with admission: %d %s", res.StatusCode, body)
	}
	// The demo's event sells behind the room, paid through the sandbox.
	bearer := "Bearer " + j["admission_token"].(string)
	code, hold := call(t, "POST", inst.base+"/api/v1/events/demo/holds", `{"ticket_type":"ga","quantity":2}`, "Authorization", bearer)
	if code != 201 {
		t.Fatalf("demo hold: %d %v", code, hold)
	}
	code, order := call(t, "POST", inst.base+"/api/v1/holds/"+hold["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`, "Authorization", bearer)
	if code != 201 || order["status"] != "pending_payment" {
		t.Fatalf("demo checkout: %d %v", code, order)
	}
	pay := order["payment"].(map[string]any)["redirect_url"].(string)
	req, _ = http.NewRequest("POST", inst.base+pay, strings.NewReader("decision=approve"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sandbox approve: %d", res.StatusCode)
	}
	if _, o := call(t, "GET", inst.base+"/api/v1/orders/"+order["order_id"].(string), ""); o["status"] != "paid" {
		t.Fatalf("demo order after approval: %v", o)
	}
	if err := inst.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "crowdgate.yaml")
	yaml := `rooms:
  launch:
    admit_per_minute: 900
    session_seconds: 600
    queue_opens_at: "2026-12-01T10:00:00Z"
    sale_starts_at: "2026-12-01T10:30:00Z"
    mode: random_prequeue
  lobby:
    passthrough: true
events:
  final:
    room: launch
    hold_seconds: 300
    ticket_types:
      - {id: ga, name: General, capacity: 5000, price_minor: 150000, currency: INR, per_order_limit: 4}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path})
	code, m := call(t, "GET", inst.base+"/admin/v1/rooms/launch", "", "Authorization", "Bearer tok")
	if code != 200 || m["admit_per_minute"] != 900.0 || m["mode"] != "random_prequeue" || m["sale_starts_at"] != "2026-12-01T10:30:00Z" {
		t.Fatalf("launch from config: %d %v", code, m)
	}
	if code, m := call(t, "GET", inst.base+"/admin/v1/rooms/lobby", "", "Authorization", "Bearer tok"); code != 200 || m["passthrough"] != true {
		t.Fatalf("lobby from config: %d %v", code, m)
	}
	if code, m := call(t, "GET", inst.base+"/admin/v1/events/final", "", "Authorization", "Bearer tok"); code != 200 || m["room"] != "launch" || m["hold_seconds"] != 300.0 {
		t.Fatalf("event from config: %d %v", code, m)
	}

	for _, bad := range []string{
		"rooms: [1, 2]",
		"rooms:\n  launch:\n    admit_per_minute: -5\n",
		"rooms:\n  Launch: {}\n",
		"rooms:\n  launch:\n    colour: red\n",
		"events:\n  gig:\n    room: launch\n    ticket_types: []\n",
		"events:\n  gig:\n    room: launch\n    ticket_types: [{id: ga, name: GA, capacity: 1, price_minor: 1, currency: INR, per_order_limit: 1, colour: red}]\n",
		"rooms:\n  launch:\n    queue_opens_at: \"2026-12-02T10:00:00Z\"\n    sale_starts_at: \"2026-12-01T10:00:00Z\"\n",
		"\t: :",
	} {
		if _, _, err := loadConfig([]byte(bad)); err == nil {
			t.Errorf("config %q was accepted", bad)
		}
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--route", "checkout=launch"},
		{"serve", "--route", "/checkout=Launch"},
		{"serve", "--log-level", "loud"},
		{"serve", "--trusted-proxies", "10.0.0.0/33"},
		{"serve", "--limit-bypass", "10.0.0.0/8,not-a-cidr"},
		{"serve", "--redis", "not a url"},
		{"serve", "--redis", "redis-sentinel://127.0.0.1:26379"},          // no master name
		{"serve", "--redis", "redis-sentinel://127.0.0.1:26379/m?x=1"},    // unknown option
		{"serve", "--redis", "redis://127.0.0.1:6379/0?read_timeout=bad"}, // bad option
		{"serve", "--signing-key", "/nonexistent.pem"},
		{"serve", "extra"},
		{"serve", "--pprof"}, // needs --metrics-addr
		{"serve", "--metrics-addr", "nowhere"},
		{"serve", "--notify-phone-codes", "91"},
		{"serve", "--notify-phone-codes", "+91,+4x"},
		{"launch"},
		{},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestServeOnRedisCluster: `serve` given a comma list of nodes runs on
// Redis Cluster: a fan joins, is admitted and holds a ticket.
func TestServeOnRedisCluster(t *testing.T) {
	addrs := queuetest.RunCluster(t)
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": strings.Join(addrs, ","), "CROWDGATE_ADMIN_TOKEN": "tok"})
	auth := []string{"Authorization", "Bearer tok"}
	if code, m := call(t, "PUT", inst.base+"/admin/v1/rooms/launch", `{"passthrough": true}`, auth...); code != 201 {
		t.Fatalf("room: %d %v", code, m)
	}
	if code, m := call(t, "PUT", inst.base+"/admin/v1/events/gig", `{"room":"launch","ticket_types":[{"id":"ga","name":"GA","capacity":5,"price_minor":100,"currency":"INR","per_order_limit":2}]}`, auth...); code != 201 {
		t.Fatalf("event: %d %v", code, m)
	}
	_, j := call(t, "POST", inst.base+"/api/v1/rooms/launch/join", "")
	at, _ := j["admission_token"].(string)
	if code, h := call(t, "POST", inst.base+"/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":2}`, "Authorization", "Bearer "+at); code != 201 {
		t.Fatalf("hold: %d %v", code, h)
	}
	if code, e := call(t, "GET", inst.base+"/admin/v1/events/gig", "", auth...); code != 200 || e["totals"].(map[string]any)["held"] != 2.0 {
		t.Fatalf("event after the hold: %d %v", code, e)
	}
}

// TestShortSandboxSecret: a short sandbox secret is the operator's choice
// (a test setup, say): serve starts, warns, and verifies webhooks with it.
func TestShortSandboxSecret(t *testing.T) {
	t.Parallel()
	inst := startServe(t, map[string]string{"CROWDGATE_SANDBOX_WEBHOOK_SECRET": "testsecret", "CROWDGATE_ADMIN_TOKEN": "tok"})
	body := `{"id":"evt_1","type":"payment.succeeded","payment_id":"pay-nobody"}`
	for secret, want := range map[string]int{"testsecret": 404, "another-secret": 400} {
		sig := webhooksig.Sign([]byte(secret), time.Now(), []byte(body))
		// 404: the signature passed and the payment is unknown; 400: it did not.
		if code, m := call(t, "POST", inst.base+"/api/v1/payments/sandbox/webhook", body, "Crowdgate-Signature", sig); code != want {
			t.Errorf("signed with %q: %d %v, want %d", secret, code, m, want)
		}
	}
}

// logged returns the first log line of inst with message msg.
func (inst *instance) logged(t *testing.T, msg string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(inst.stderr.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return line
		}
	}
	t.Fatalf("no %q in the log:\n%s", msg, inst.stderr.String())
	return nil
}

// TestMetricsAddr: with --metrics-addr, /metrics (and with --pprof the
// profiler) is served there and no longer on --addr, where the internet may
// be; on SIGTERM that listener closes too.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	inst := startServe(t, map[string]string{"CROWDGATE_METRICS_ADDR": "127.0.0.1:0"}, "--pprof")
	metrics := "http://" + inst.logged(t, "metrics listening")["addr"].(string)
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(metrics + "/metrics"); code != 200 || !strings.Contains(body, "crowdgate_joins_unknown_room_total") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("private /metrics: %d %.300s", code, body)
	}
	if code, _ := get(metrics + "/debug/pprof/"); code != 200 {
		t.Fatalf("--pprof: /debug/pprof/ %d", code)
	}
	if code, body := get(inst.base + "/metrics"); code != 404 || strings.Contains(body, "crowdgate_") {
		t.Fatalf("/metrics on --addr with --metrics-addr set: %d %.300s", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := inst.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(metrics, "http://")); err == nil {
		c.Close()
		t.Fatal("the metrics listener outlived serve")
	}
}

// TestConnectionCapFlag: --max-conns-per-ip and its variable reach the
// gateway; 0 turns the cap off.
func TestConnectionCapFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  string
		want int
	}{
		{nil, "", 256},
		{nil, "1000", 1000},
		{[]string{"--max-conns-per-ip", "0"}, "1000", 0},
	} {
		o, err := parseOptions(tc.args, func(k string) string {
			if k == "CROWDGATE_MAX_CONNS_PER_IP" {
				return tc.env
			}
			return ""
		}, io.Discard)
		if err != nil || o.connsPerIP != tc.want {
			t.Errorf("%v with %q: %d %v, want %d", tc.args, tc.env, o.connsPerIP, err, tc.want)
		}
	}
}

// TestConfigFileSurvivesARestart: an instance that restarts with the same
// CROWDGATE_CONFIG (a rolling update mid-sale) leaves what organizers
// changed live alone; a changed declaration is applied, and a declared
// room that was deleted comes back.
func TestConfigFileSurvivesARestart(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	path := filepath.Join(t.TempDir(), "crowdgate.yaml")
	write := func(rate int) {
		t.Helper()
		doc := fmt.Sprintf("rooms:\n  launch:\n    admit_per_minute: %d\nevents:\n  final:\n    room: launch\n    ticket_types:\n      - {id: ga, name: General, capacity: 100, price_minor: 100, currency: INR, per_order_limit: 4}\n", rate)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path}
	if rs.Real {
		env["CROWDGATE_REDIS_URL"] = "unix://" + strings.TrimPrefix(rs.Addr, "unix:")
	} else {
		env["CROWDGATE_REDIS_URL"] = "redis://" + rs.Addr
	}
	restart := func() *instance {
		t.Helper()
		inst := startServe(t, env)
		t.Cleanup(func() { _ = inst.stop() })
		return inst
	}
	rate := func(inst *instance) any {
		t.Helper()
		code, m := call(t, "GET", inst.base+"/admin/v1/rooms/launch", "", "Authorization", "Bearer tok")
		if code != 200 {
			t.Fatalf("room: %d %v", code, m)
		}
		return m["admit_per_minute"]
	}
	capacity := func(inst *instance) any {
		t.Helper()
		code, m := call(t, "GET", inst.base+"/admin/v1/events/final", "", "Authorization", "Bearer tok")
		if code != 200 {
			t.Fatalf("event: %d %v", code, m)
		}
		return m["ticket_types"].([]any)[0].(map[string]any)["capacity"]
	}

	write(900)
	a := restart()
	if got := rate(a); got != 900.0 {
		t.Fatalf("first start: rate %v", got)
	}
	if code, m := call(t, "PATCH", a.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 120}`, "Authorization", "Bearer tok", "Content-Type", "application/json"); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	ev := `{"room": "launch", "ticket_types": [{"id": "ga", "name": "General", "capacity": 150, "price_minor": 100, "currency": "INR", "per_order_limit": 4}]}`
	if code, m := call(t, "PUT", a.base+"/admin/v1/events/final", ev, "Authorization", "Bearer tok", "Content-Type", "application/json"); code != 200 {
		t.Fatalf("put event: %d %v", code, m)
	}
	_ = a.stop()

	b := restart() // the same file
	if got, c := rate(b), capacity(b); got != 120.0 || c != 150.0 {
		t.Fatalf("after a restart with the same file: rate %v, capacity %v; want the live 120 and 150", got, c)
	}
	_ = b.stop()

	write(600) // the file changed: it wins for what it changed
	c := restart()
	if got := rate(c); got != 600.0 {
		t.Fatalf("after a restart with a changed file: rate %v, want 600", got)
	}
	if code, _ := call(t, "DELETE", c.base+"/admin/v1/rooms/launch", "", "Authorization", "Bearer tok"); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	_ = c.stop()
	if got := rate(restart()); got != 600.0 {
		t.Fatalf("a declared room deleted live: rate %v after a restart, want it back at 600", got)
	}
}
