package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestDemoLine: `serve --demo` prints the dashboard and the admin token, and
// a newcomer joins a line the simulated crowd keeps: behind about demoLine
// people, told a wait of a minute or two, and the line moves (the
// newcomer's place falls, new people arrive behind). The origin the demo
// room protects says "no admission" to a request that has none, even one
// that forges Crowdgate's headers. Stopping serve stops the crowd with it.
func TestDemoLine(t *testing.T) {
	t.Parallel()
	inst := startServe(t, nil, "--demo")
	out := inst.stdout.String()
	m := regexp.MustCompile(`admin token \(generated, shown once\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no admin token in the output:\n%s", out)
	}
	token := m[1]
	for _, want := range []string{"Dashboard:          " + inst.base + "/admin", "Admin token:        " + token} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	admin := "Bearer " + token
	stats := func() map[string]any {
		t.Helper()
		code, room := call(t, "GET", inst.base+"/admin/v1/rooms/demo", "", "Authorization", admin)
		if code != http.StatusOK {
			t.Fatalf("demo room: %d %v", code, room)
		}
		return room["stats"].(map[string]any)
	}
	placesMade := func(st map[string]any) float64 { // everyone who ever had a place
		return st["waiting"].(float64) + st["admitted_total"].(float64) + st["abandoned_total"].(float64)
	}
	first := placesMade(stats())

	code, j := call(t, "POST", inst.base+"/api/v1/rooms/demo/join", "")
	pos, eta := j["position"].(float64), j["eta_seconds"].(float64)
	if code != http.StatusOK || j["status"] != "waiting" || pos < demoLine*3/4 || eta < 60 || eta > 120 {
		t.Fatalf("a newcomer: %d %v; want waiting behind about %d people, told a wait of 1 to 2 minutes", code, j, demoLine)
	}
	qt := "Bearer " + j["queue_token"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st := call(t, "GET", inst.base+"/api/v1/rooms/demo/status", "", "Authorization", qt)
		if p, _ := st["position"].(float64); p > 0 && p < pos {
			t.Logf("the newcomer's place went from %v to %v", pos, p)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the newcomer's place did not move from %v in 20 s: %v", pos, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		if st := stats(); placesMade(st) > first+1 { // more than the newcomer
			t.Logf("people arrived behind: %v", st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody arrived after the seeded line in 20 s: %v", stats())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The origin's page outside /shop/ (which no room protects), as is and
	// with a client's own Crowdgate headers, which the proxy drops.
	for _, forged := range [][]string{nil, {"X-Crowdgate-Room", "demo", "X-Crowdgate-Queue-Id", "1"}} {
		req, _ := http.NewRequest("GET", inst.base+"/", nil)
		for i := 0; i+1 < len(forged); i += 2 {
			req.Header.Set(forged[i], forged[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "No admission") || strings.Contains(string(body), "You're in") {
			t.Errorf("the origin without an admission (headers %q): %d %s", forged, res.StatusCode, body)
		}
	}
	if err := inst.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestDemoStopsOnSIGTERM: a demo, crowd and all, stops on SIGTERM and exits 0.
func TestDemoStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := startProcess(t, nil, "--demo")
	if code, _ := call(t, "GET", p.base+"/api/v1/rooms/demo/fairness", ""); code != http.StatusOK {
		t.Fatalf("the demo room: %d", code)
	}
	if code := p.terminate(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0\n%s", code, p.log.String())
	}
	if len(p.logLines("crowdgate stopped")) != 1 {
		t.Errorf("no clean stop in the log:\n%s", p.log.String())
	}
}

// TestDemoCrowd drives the crowd step by step on a clock of its own: it
// fills the line to demoLine, its places are made in the names of
// simulated users, it keeps them alive past the grace, lets people arrive
// at about the room's rate as others are admitted, and ends the visits of
// the admitted after about a minute.
func TestDemoCrowd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := queuetest.NewClock(time.Now())
	store, err := queue.NewStore(queuetest.NewClient(t), queue.Config{Now: clk.Now, Grace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: demoRoom, AdmitPerMinute: demoRate, SessionSeconds: 900}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	d := newDemoCrowd(store, ctl, 30*time.Second, slog.New(slog.DiscardHandler))
	d.now = clk.Now
	waiting := func() int64 {
		t.Helper()
		st, err := ctl.Stats(ctx, demoRoom)
		if err != nil {
			t.Fatal(err)
		}
		return st.Waiting
	}
	if err := d.fill(ctx, demoLine); err != nil || waiting() != demoLine {
		t.Fatalf("filled the line to %d (%v), want %d", waiting(), err, demoLine)
	}

	// A minute of steps with nobody admitted: nobody arrives (the line is
	// full), nobody is dropped as silent.
	for range 30 {
		clk.Add(d.step)
		if err := d.tick(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.Sweep(ctx, demoRoom); err != nil {
			t.Fatal(err)
		}
	}
	if w := waiting(); w != demoLine {
		t.Fatalf("after a minute with nobody admitted, %d waiting, want %d", w, demoLine)
	}

	// Three are admitted: they are simulated users, and one person
	// arrives per step (30 a minute, a step of 2 s) until the line is
	// full again.
	var admitted []string
	for len(admitted) < 3 { // at 30 a minute, one every 2 s
		clk.Add(2 * time.Second)
		adm, err := store.Admit(ctx, demoRoom, 1)
		if err != nil {
			t.Fatal(err)
		}
		admitted = append(admitted, adm.IDs...)
	}
	for _, id := range admitted {
		p, err := store.Status(ctx, demoRoom, id)
		if err != nil || !p.Admitted || !strings.HasPrefix(p.UserID, demoUser) {
			t.Fatalf("an admitted person of the crowd: %+v %v, want a simulated user", p, err)
		}
	}
	for want := int64(demoLine - 2); want <= demoLine; want++ {
		clk.Add(d.step)
		if err := d.tick(ctx); err != nil {
			t.Fatal(err)
		}
		if w := waiting(); w != want {
			t.Fatalf("a step after admissions: %d waiting, want %d", w, want)
		}
	}

	// Their visits end within a visit and a half of their admission.
	clk.Add(d.visit * 3 / 2)
	if err := d.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := ctl.Stats(ctx, demoRoom); err != nil || st.Active != 0 {
		t.Fatalf("after their visits: %+v %v, want nobody active", st, err)
	}
	for _, id := range admitted {
		if _, ok := d.people[id]; ok {
			t.Errorf("the crowd still counts %s after its visit", id)
		}
	}
}

// TestDemoOrigin: the demo origin says a request is admitted only when the
// proxy's headers say so, and until when only when it knows.
func TestDemoOrigin(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 12, 1, 10, 45, 0, 0, time.Local)
	h := demoOrigin(func(_ context.Context, room, id string) (time.Time, bool) {
		return until, room == "demo" && id == "1b"
	})
	for _, c := range []struct {
		name    string
		headers []string
		want    []string
		not     []string
	}{
		{"no admission", nil, []string{"No admission", `href="/shop/"`}, []string{"You're in", "queue id"}},
		{"admitted", []string{"X-Crowdgate-Room", "demo", "X-Crowdgate-Queue-Id", "1b"},
			[]string{"You're in", "room <b>demo</b>", "queue id <code>1b</code>", "valid until 10:45:00", `href="/events/demo"`}, []string{"No admission", "user"}},
		{"admitted, end unknown", []string{"X-Crowdgate-Room", "demo", "X-Crowdgate-Queue-Id", "zz"},
			[]string{"You're in", "queue id <code>zz</code>"}, []string{"valid until"}},
		{"with a user", []string{"X-Crowdgate-Room", "demo", "X-Crowdgate-Queue-Id", "1b", "X-Crowdgate-User", "<u1>"},
			[]string{"You're in", "user <code>&lt;u1&gt;</code>"}, []string{"<u1>"}},
		{"a room but no queue id", []string{"X-Crowdgate-Room", "demo"}, []string{"No admission"}, []string{"You're in"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/shop/", nil)
			for i := 0; i+1 < len(c.headers); i += 2 {
				req.Header.Set(c.headers[i], c.headers[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q:\n%s", w, body)
				}
			}
			for _, n := range c.not {
				if strings.Contains(body, n) {
					t.Errorf("the page has %q:\n%s", n, body)
				}
			}
		})
	}
}
