package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// keeperConfig is a CROWDGATE_CONFIG file whose room and event a test
// sees come back: launch protects /checkout/ and sells event final.
const keeperConfig = `rooms:
  launch:
    admit_per_minute: 600
events:
  final:
    room: launch
    ticket_types:
      - {id: ga, name: General, capacity: 100, price_minor: 100, currency: INR, per_order_limit: 4}
routes:
  - /checkout/=launch
`

// TestConfigRoomsComeBackAfterRedisLosesThem: three instances started with
// one configuration file; an organizer's live change is never undone by
// them; Redis is emptied (FLUSHALL, as a Redis restarted without its data);
// the file's room and event come back by themselves, exactly once across
// the three instances (one creation counted, one event.created in the
// event's log), and the protected path sends fans to a waiting room that
// works again.
func TestConfigRoomsComeBackAfterRedisLosesThem(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	path := filepath.Join(t.TempDir(), "crowdgate.yaml")
	if err := os.WriteFile(path, []byte(keeperConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path,
		"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:")}
	insts := []*instance{startServe(t, env), startServe(t, env), startServe(t, env)}
	a := insts[0]
	admin := []string{"Authorization", "Bearer tok", "Content-Type", "application/json"}

	// An organizer's change stays through the keeper's passes.
	if code, m := call(t, "PATCH", a.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 120}`, admin...); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	time.Sleep(keepEvery + keepGap) // every instance has passed once since
	if _, m := call(t, "GET", a.base+"/admin/v1/rooms/launch", "", admin...); m["admit_per_minute"] != 120.0 {
		t.Fatalf("a live change was undone: rate %v", m["admit_per_minute"])
	}

	if err := rs.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// A fan on the protected path: sent to the waiting room, whose join
	// must work once the room is back.
	code, _ := call(t, "GET", insts[1].base+"/auth/v1/check", "", "X-Original-URI", "/checkout/pay")
	if code != 401 {
		t.Fatalf("check with the room gone: %d", code)
	}
	var room map[string]any
	for deadline := time.Now().Add(3 * keepEvery); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, room = call(t, "GET", insts[2].base+"/admin/v1/rooms/launch", "", admin...)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the config file's room did not come back: %d %v", code, room)
		}
	}
	if room["admit_per_minute"] != 600.0 {
		t.Errorf("room back with rate %v, want the file's 600", room["admit_per_minute"])
	}
	var ev map[string]any
	for deadline := time.Now().Add(3 * keepEvery); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, ev = call(t, "GET", a.base+"/admin/v1/events/final", "", admin...)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the config file's event did not come back: %d %v", code, ev)
		}
	}
	if tt := ev["ticket_types"].([]any)[0].(map[string]any); tt["capacity"] != 100.0 || tt["available"] != 100.0 {
		t.Errorf("event back as %v", tt)
	}
	if code, m := call(t, "POST", insts[1].base+"/api/v1/rooms/launch/join", ""); code != 200 || m["queue_token"] == nil {
		t.Fatalf("join after the room came back: %d %v", code, m)
	}

	// One instance put each back: the others found it there.
	time.Sleep(keepEvery + keepGap)
	restored := map[string]float64{}
	for _, inst := range insts {
		_, body := getText(t, inst.base+"/metrics")
		for _, kind := range []string{"room", "event"} {
			restored[kind] += metricValue(body, `crowdgate_config_restored_total{kind="`+kind+`"}`)
		}
	}
	if restored["room"] != 1 || restored["event"] != 1 {
		t.Errorf("restorations counted across the instances: %v, want one room and one event", restored)
	}
	_, logPage := call(t, "GET", a.base+"/admin/v1/events/final/log", "", admin...)
	created := 0
	entries, _ := logPage["entries"].([]any)
	for _, e := range entries {
		if e.(map[string]any)["what"] == "event.created" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("event.created %d times in the event's log since the flush, want 1: %v", created, logPage)
	}
}

// TestKeeperPutsBackWhenAsked: a request that finds a declared room
// missing (configKeeper.missing) has it put back without waiting for the
// keeper's next round; and what exists, changed live, is left alone.
func TestKeeperPutsBackWhenAsked(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	ctx := context.Background()
	store, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	core, err := booking.NewCore(rs.Client(t), booking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rooms, events, err := loadConfig([]byte(keeperConfig))
	if err != nil {
		t.Fatal(err)
	}
	k, err := newConfigKeeper(store, ctl, core, rooms, events, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	k.every = time.Hour // only an ask makes a pass
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	k.missing("launch")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, rerr := store.GetRoom(ctx, "launch")
		_, eerr := core.Event(ctx, "final")
		if rerr == nil && eerr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not put back when asked: room %v, event %v", rerr, eerr)
		}
	}
	prev, _ := store.GetRoom(ctx, "launch")
	next := prev
	next.AdmitPerMinute = 42
	if err := store.UpdateRoom(ctx, prev, next); err != nil {
		t.Fatal(err)
	}
	k.keep(ctx)
	if r, _ := store.GetRoom(ctx, "launch"); r.AdmitPerMinute != 42 {
		t.Fatalf("the keeper overwrote a live change: rate %d", r.AdmitPerMinute)
	}
	if d, _ := store.Declared(ctx, "room/launch"); d == "" {
		t.Errorf("the room put back is not recorded as declared: the next start would apply it again")
	}
}

// TestMisconfigurationIsLoudAtStart: serve logs at start, at WARN, a route
// that names a room that does not exist and a config file's schedule that
// is already past, counts the route in crowdgate_misconfigured, and logs
// a request the route turns away.
func TestMisconfigurationIsLoudAtStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crowdgate.yaml")
	doc := "rooms:\n  late:\n    queue_opens_at: \"2020-01-01T10:00:00Z\"\n    sale_starts_at: \"2020-01-01T10:30:00Z\"\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path, "CROWDGATE_ROUTES": "/vip/=ghost,/late/=late"})
	var route map[string]any
	for deadline := time.Now().Add(5 * time.Second); route == nil; time.Sleep(20 * time.Millisecond) {
		route = logLine(inst, "misconfigured: names a room that does not exist; fans it catches are sent to a waiting room that says not found")
		if route == nil && time.Now().After(deadline) {
			t.Fatalf("no misconfigured route in the log:\n%s", inst.stderr.String())
		}
	}
	if route["level"] != "WARN" || route["kind"] != "route" || route["name"] != "/vip/" || route["room"] != "ghost" {
		t.Errorf("misconfigured route logged as %v", route)
	}
	schedule := 0
	for _, l := range logLines(inst) {
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, "room from config: ") && strings.Contains(msg, "is already past") && l["level"] == "WARN" && l["room"] == "late" {
			schedule++
		}
	}
	if schedule != 2 {
		t.Errorf("%d WARN lines for the config room's past schedule, want 2 (queue_opens_at, sale_starts_at):\n%s", schedule, inst.stderr.String())
	}
	if _, body := getText(t, inst.base+"/metrics"); metricValue(body, `crowdgate_misconfigured{kind="route",name="/vip/",room="ghost"}`) != 1 {
		t.Errorf("crowdgate_misconfigured does not count the route")
	}
	if code, _ := call(t, "GET", inst.base+"/auth/v1/check", "", "X-Original-URI", "/vip/lounge"); code != 401 {
		t.Fatalf("check: %d", code)
	}
	hit := logLine(inst, "a request names a room that does not exist: it is sent to a waiting room that says not found (logged once a minute per room)")
	if hit == nil || hit["room"] != "ghost" || hit["via"] != "route" {
		t.Errorf("the request to a missing room is not logged: %v", hit)
	}
}

// logLines returns inst's log, line by line.
func logLines(inst *instance) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(inst.stderr.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			out = append(out, line)
		}
	}
	return out
}

// logLine returns inst's first log line with message msg, or nil.
func logLine(inst *instance, msg string) map[string]any {
	for _, l := range logLines(inst) {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// metricValue reads one sample, named with its labels as Prometheus writes
// them, from a /metrics page; 0 when absent.
func metricValue(page, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// getText GETs url and returns its status and body.
func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
