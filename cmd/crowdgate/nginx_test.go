package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// nginxConf is the shipped configuration the test runs as is.
const nginxConf = "../../deploy/nginx-forward-auth.conf"

// TestNginxForwardAuth puts Debian's nginx, configured by
// deploy/nginx-forward-auth.conf, in front of a test origin with a real
// `crowdgate serve` as its auth server, and walks a fan through it: sent to
// the waiting room, queued, admitted, and let through to the origin.
func TestNginxForwardAuth(t *testing.T) {
	bin := nginxBinary(t)
	rs := queuetest.Run(t)
	env := map[string]string{
		"CROWDGATE_ADMIN_TOKEN": "tok",
		"CROWDGATE_ROUTES":      "/checkout/=launch,/vip/=vip,/shop/=shop",
	}
	if rs.Real {
		env["CROWDGATE_REDIS_URL"] = "unix://" + strings.TrimPrefix(rs.Addr, "unix:")
	} // else: the embedded store
	cg := startServe(t, env)

	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every X-Crowdgate-* header the site received, whatever its spelling.
		var seen []string
		for k, v := range r.Header {
			if strings.Contains(strings.ToLower(k), "crowdgate") && k != "X-Crowdgate-Queue-Id" {
				seen = append(seen, k+"="+strings.Join(v, "|"))
			}
		}
		slices.Sort(seen)
		w.Header().Set("X-Seen-Crowdgate", strings.Join(seen, " "))
		fmt.Fprintf(w, "origin %s %s queue=%s", r.Method, r.RequestURI, r.Header.Get("X-Crowdgate-Queue-Id"))
	}))
	t.Cleanup(origin.Close)

	ngx := startNginx(t, bin, strings.TrimPrefix(cg.base, "http://"), origin.Listener.Addr().String())
	base := "http://" + ngx
	admin := []string{"Authorization", "Bearer tok"}
	if code, m := call(t, "PUT", cg.base+"/admin/v1/rooms/launch", `{"admit_per_minute": 0}`, admin...); code != 201 {
		t.Fatalf("create room: %d %v", code, m)
	}

	// A fan without a token is sent to the waiting room, back to the page
	// they asked for once admitted.
	res := proxyGet(t, nil, base+"/checkout/pay?seat=12")
	wantRoom := base + "/rooms/launch?return_to=" + url.QueryEscape("/checkout/pay?seat=12")
	if res.code != http.StatusFound || res.header.Get("Location") != wantRoom {
		t.Fatalf("no token: %d Location %q, want 302 to %q", res.code, res.header.Get("Location"), wantRoom)
	}
	if res.header.Get("Cache-Control") != "no-store" || res.header.Get("X-Crowdgate-Waiting-Room") != wantRoom {
		t.Fatalf("no token: headers %v", res.header)
	}
	// An API client gets the contract's 401 and the page's URL instead.
	res = proxyGet(t, nil, base+"/checkout/pay", "Accept", "application/json")
	var e struct{ Error struct{ Code string } }
	if res.code != 401 || json.Unmarshal([]byte(res.body), &e) != nil || e.Error.Code != "unauthorized" ||
		res.header.Get("X-Crowdgate-Waiting-Room") == "" || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		t.Fatalf("API client: %d %v %s", res.code, res.header, res.body)
	}

	if res = proxyGet(t, nil, base+"/checkout/pay", "Accept", "text/html, application/json"); res.code != http.StatusFound {
		t.Fatalf("a browser that also takes JSON: %d", res.code)
	}

	// Paths no room protects go straight to the origin, and the client
	// cannot pose as an admitted visitor to it.
	res = proxyGet(t, nil, base+"/about", "X-Crowdgate-Queue-Id", "forged")
	if res.code != 200 || res.body != "origin GET /about queue=" {
		t.Fatalf("unprotected: %d %q", res.code, res.body)
	}

	// nginx, not the client, says which URI is being checked; and the URI
	// is judged as the origin will read it.
	for _, tc := range []struct {
		target  string
		headers []string
		want    int
	}{
		{"/checkout/pay", []string{"X-Original-URI: /about", "X-Forwarded-Uri: /about", "X-Envoy-Original-Path: /about"}, 302},
		{"/about", []string{"X-Original-URI: /checkout/pay"}, 200},
		{"/static/../checkout/pay", nil, 302},
		{"/%63heckout/pay", nil, 302},
		{"/checkout", nil, 302},
		{"/vip/lounge", nil, 302},
		{"/_crowdgate_check", nil, 404},
	} {
		code, loc := rawGet(t, ngx, tc.target, tc.headers...)
		if code != tc.want || (code == 302 && !strings.HasPrefix(loc, base+"/rooms/")) {
			t.Errorf("GET %s %v: %d %q, want %d", tc.target, tc.headers, code, loc, tc.want)
		}
	}

	// The fan walks the whole way through nginx: the waiting-room page,
	// a place, the WebSocket, the admission, and back to the page asked for.
	jar, token, _ := walkFan(t, ngx, cg.base, "launch", wantRoom, "/checkout/pay?seat=12")
	walkQuietRoom(t, base, cg.base)
	res = proxyGet(t, jar, base+"/checkout/pay?seat=12", "X-Crowdgate-Queue-Id", "forged")
	if res.code != 200 || !strings.HasPrefix(res.body, "origin GET /checkout/pay?seat=12 queue=") || strings.HasSuffix(res.body, "queue=") || strings.HasSuffix(res.body, "forged") {
		t.Fatalf("admitted fan: %d %q", res.code, res.body)
	}
	// The same token as a bearer (an app), and only for its own room.
	if res = proxyGet(t, nil, base+"/checkout/pay", "Authorization", "Bearer "+token); res.code != 200 {
		t.Fatalf("bearer: %d %s", res.code, res.body)
	}
	if res = proxyGet(t, jar, base+"/vip/lounge"); res.code != http.StatusFound || !strings.HasPrefix(res.header.Get("Location"), base+"/rooms/vip?") {
		t.Fatalf("launch token on the vip room's path: %d %v", res.code, res.header)
	}
	if res = proxyGet(t, nil, base+"/checkout/pay", "Authorization", "Bearer "+token+"x"); res.code != http.StatusFound {
		t.Fatalf("tampered token: %d", res.code)
	}
	if code, _ := rawGet(t, ngx, "/static/../checkout/pay", "Cookie: cg_a_launch="+token); code != 200 {
		t.Fatalf("admitted fan on a dotted path: %d", code)
	}

	// No spelling of a protected path gets past nginx without an admission,
	// however the origin would read it (docs/routes.md); with one, each gets
	// through to the origin as the client spelled it. nginx refuses some
	// itself (400).
	admitted := "Cookie: cg_a_launch=" + token
	for _, tc := range []struct {
		target, room string
		nginx400     bool
	}{
		{"/CHECKOUT/cart", "launch", false},
		{"/Checkout/cart", "launch", false},
		{"/checkout;a/cart", "launch", false},
		{"/checkout;/cart", "launch", false},
		{"/checkout./cart", "launch", false},
		{"/%2563heckout/cart", "launch", false},
		{"/checkout%3F/cart", "launch", false},
		{"/checkout%00/cart", "launch", true},
		{"/checkout%zz/cart", "launch", true},
		{`/checkout\cart`, "launch", false},
		{"/about/..;/checkout/cart", "launch", false},
		{"/checkout/..%2fabout", "launch", false},
		{"/checkout%20/cart", "launch", false},
		{"/VIP/lounge", "vip", false},
	} {
		code, h := rawDo(t, ngx, tc.target, "Accept: text/html")
		switch {
		case tc.nginx400:
			if code != 400 {
				t.Errorf("GET %s: %d, want nginx's 400", tc.target, code)
			}
			continue
		case code != 302 || strings.TrimSuffix(strings.SplitAfter(h.Get("Location"), "?")[0], "?") != base+"/rooms/"+tc.room:
			t.Errorf("GET %s without an admission: %d %q, want 302 to room %s", tc.target, code, h.Get("Location"), tc.room)
		}
		want := 200
		if tc.room != "launch" {
			want = 302
		}
		if code, h = rawDo(t, ngx, tc.target, admitted); code != want || want == 200 && h.Get("X-Seen-Crowdgate") != "X-Crowdgate-Room=launch" {
			t.Errorf("GET %s with launch's admission: %d (site saw %q), want %d", tc.target, code, h.Get("X-Seen-Crowdgate"), want)
		}
	}

	// The check's room= is not the client's to set: nginx sends it no query.
	if code, m := call(t, "PUT", cg.base+"/admin/v1/rooms/open", `{"passthrough": true}`, admin...); code != 201 {
		t.Fatalf("create room: %d %v", code, m)
	}
	res = proxyGet(t, nil, "POST "+base+"/api/v1/rooms/open/join")
	var open struct {
		AdmissionToken string `json:"admission_token"`
	}
	if res.code != 200 || json.Unmarshal([]byte(res.body), &open) != nil || open.AdmissionToken == "" {
		t.Fatalf("join open: %d %s", res.code, res.body)
	}
	if code, loc := rawGet(t, ngx, "/checkout/pay?room=open", "Cookie: cg_a_open="+open.AdmissionToken); code != 302 || !strings.HasPrefix(loc, base+"/rooms/launch?") {
		t.Errorf("room=open with open's admission: %d %q, want 302 to launch's room", code, loc)
	}

	// The site's X-Crowdgate-* headers come from Crowdgate only: a client's
	// own, underscore spellings included, never reach it.
	forged := []string{"X-Crowdgate-Room: forged", "X_Crowdgate_Queue_Id: forged", "x_crowdgate_room: forged",
		"X-Crowdgate-Fail-Open: 1", "X-Crowdgate-Queue_Id: forged", "X-Crowdgate-User: forged", "X_Crowdgate_User: forged",
		"X.Crowdgate.Room: forged", "X~Crowdgate~User: forged", "X-Crowdgate.Queue-Id: forged"}
	if code, h := rawDo(t, ngx, "/about", forged...); code != 200 || h.Get("X-Seen-Crowdgate") != "" {
		t.Errorf("unprotected path with forged headers: %d, the site saw %q", code, h.Get("X-Seen-Crowdgate"))
	}
	if code, h := rawDo(t, ngx, "/checkout/pay", append(forged, admitted)...); code != 200 || h.Get("X-Seen-Crowdgate") != "X-Crowdgate-Room=launch" {
		t.Errorf("admitted, with forged headers: %d, the site saw %q", code, h.Get("X-Seen-Crowdgate"))
	}
	// An admission made with an enqueue token: the site learns the user id.
	member := "Cookie: cg_a_launch=" + userAdmission(t, cg.base, "launch", "fan-7")
	if code, h := rawDo(t, ngx, "/checkout/pay", append(forged, member)...); code != 200 || h.Get("X-Seen-Crowdgate") != "X-Crowdgate-Room=launch X-Crowdgate-User=fan-7" {
		t.Errorf("admitted with a user id, with forged headers: %d, the site saw %q", code, h.Get("X-Seen-Crowdgate"))
	}

	// Without Crowdgate nginx fails closed, for every path behind the check.
	if err := cg.stop(); err != nil {
		t.Fatalf("stop crowdgate: %v", err)
	}
	for _, p := range []string{"/checkout/pay", "/about"} {
		if res = proxyGet(t, jar, base+p); res.code != http.StatusInternalServerError {
			t.Fatalf("%s with Crowdgate down: %d %q", p, res.code, res.body)
		}
	}
}

// caddyfile is the shipped Caddy configuration.
const caddyfile = "../../deploy/caddy/Caddyfile"

// TestCaddyForwardAuth puts Caddy, configured by deploy/caddy/Caddyfile (only
// its CHANGE lines rewritten), in front of a test origin with a real
// `crowdgate serve` as its auth server, and walks a fan through it as
// TestNginxForwardAuth does: sent to the waiting room, queued, admitted and
// let through to the page asked for. Every spelling of a protected path is
// stopped, the check gets neither the client's query nor its X-Crowdgate-*
// headers, the site gets Crowdgate's and never a placeholder's text, and
// without Crowdgate nobody passes. It needs the caddy binary (Debian's
// package; CI installs it) and skips without it.
func TestCaddyForwardAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("proxy test: skipped with -short")
	}
	bin, err := exec.LookPath("caddy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("caddy not found and CI is set: install it (apt-get install caddy)")
		}
		t.Skip("needs caddy")
	}
	cg, origin := proxyTestStack(t)
	addr := startCaddy(t, bin, strings.TrimPrefix(cg.base, "http://"), origin.Listener.Addr().String())
	base := "http://" + addr

	admin := []string{"Authorization", "Bearer tok"}
	for room, conf := range map[string]string{"launch": `{"admit_per_minute": 0}`, "open": `{"passthrough": true}`} {
		if code, m := call(t, "PUT", cg.base+"/admin/v1/rooms/"+room, conf, admin...); code != 201 {
			t.Fatalf("create room %s: %d %v", room, code, m)
		}
	}

	// Browsers are sent to the waiting room, back to the page they asked
	// for once admitted; API clients get the contract's 401 and the page's
	// URL instead.
	res := proxyGet(t, nil, base+"/checkout/pay?seat=12", "Accept", "text/html")
	want := base + "/rooms/launch?return_to=" + url.QueryEscape("/checkout/pay?seat=12")
	if res.code != 302 || res.header.Get("Location") != want || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("browser without a token: %d %q %v, want 302 to %q", res.code, res.header.Get("Location"), res.header, want)
	}
	for _, accept := range []string{"", "*/*", "text/html, application/json"} {
		if res = proxyGet(t, nil, base+"/checkout/pay", "Accept", accept); res.code != 302 {
			t.Errorf("Accept %q without a token: %d, want 302", accept, res.code)
		}
	}
	res = proxyGet(t, nil, base+"/checkout/pay", "Accept", "application/json")
	var e struct{ Error struct{ Code string } }
	if res.code != 401 || json.Unmarshal([]byte(res.body), &e) != nil || e.Error.Code != "unauthorized" ||
		res.header.Get("X-Crowdgate-Waiting-Room") == "" || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		t.Fatalf("API client without a token: %d %v %s", res.code, res.header, res.body)
	}

	// Paths no room protects go straight to the origin. The check never
	// gets the client's query: Caddy's forward_auth as its docs write it
	// would pass room= on, and /about?room=launch would then be stopped.
	if res = proxyGet(t, nil, base+"/about?room=launch&x=1"); res.code != 200 || res.body != "origin /about?room=launch&x=1" {
		t.Fatalf("unprotected path with room=: %d %q", res.code, res.body)
	}

	// Caddy, not the client, says which URI is checked, and every spelling
	// of a protected path is judged as the origin may read it
	// (docs/routes.md). Go's HTTP server, under Caddy, refuses a malformed
	// escape itself (400); Crowdgate refuses a path it cannot read safely
	// (403), and Caddy passes that on.
	oddPaths := []struct {
		target, room string
		refused      int
	}{
		{"/checkout", "launch", 0},
		{"/CHECKOUT/cart", "launch", 0},
		{"/Checkout/cart", "launch", 0},
		{"/%63heckout/pay", "launch", 0},
		{"/%2563heckout/cart", "launch", 0},
		{"/checkout;a/cart", "launch", 0},
		{"/checkout;/cart", "launch", 0},
		{"/checkout./cart", "launch", 0},
		{"/checkout%3F/cart", "launch", 0},
		{"/checkout%2Fcart", "launch", 0},
		{"/checkout%2fcart", "launch", 0},
		{"/static/../checkout/pay", "launch", 0},
		{"/static/%2e%2e/checkout/pay", "launch", 0},
		{"/about/..;/checkout/cart", "launch", 0},
		{"/checkout/..%2fabout", "launch", 0},
		{"/checkout//cart", "launch", 0},
		{"//checkout/cart", "launch", 0},
		{`/checkout\cart`, "launch", 0},
		{"/checkout%5Ccart", "launch", 0},
		{"/checkout%20/cart", "launch", 0},
		{"/checkout%00/cart", "launch", 403},
		{"/checkout%zz/cart", "launch", 400},
		{"/VIP/lounge", "vip", 0},
	}
	for _, tc := range oddPaths {
		code, h := rawDo(t, addr, tc.target, "Accept: text/html", "X-Original-URI: /about", "X-Forwarded-Uri: /about", "X-Envoy-Original-Path: /about")
		switch {
		case tc.refused != 0 && code != tc.refused:
			t.Errorf("GET %s: %d, want %d", tc.target, code, tc.refused)
		case tc.refused == 0 && (code != 302 || roomPage(h.Get("Location")) != base+"/rooms/"+tc.room):
			t.Errorf("GET %s without an admission: %d %q, want 302 to room %s", tc.target, code, h.Get("Location"), tc.room)
		}
	}
	if code, _ := rawGet(t, addr, "/about", "X-Original-URI: /checkout/pay", "X-Forwarded-Uri: /checkout/pay"); code != 200 {
		t.Errorf("/about with a client's URI headers naming /checkout/pay: %d, want 200", code)
	}

	// The fan walks the whole way through Caddy.
	_, launch, res := walkFan(t, addr, cg.base, "launch", want, "/checkout/pay?seat=12")
	walkQuietRoom(t, base, cg.base)
	if seen := res.header.Get("X-Seen-Crowdgate"); res.body != "origin /checkout/pay?seat=12" || !strings.HasPrefix(seen, "X-Crowdgate-Queue-Id=") || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch") {
		t.Fatalf("admitted fan: %q, the site saw %q", res.body, seen)
	}
	admitted := "Cookie: cg_a_launch=" + launch
	for _, tc := range oddPaths {
		wantCode := cmp.Or(tc.refused, 200)
		if tc.room != "launch" {
			wantCode = 302
		}
		if code, h := rawDo(t, addr, tc.target, "Accept: text/html", admitted); code != wantCode || code == 200 && !strings.HasSuffix(h.Get("X-Seen-Crowdgate"), " X-Crowdgate-Room=launch") {
			t.Errorf("GET %s with launch's admission: %d (the site saw %q), want %d", tc.target, code, h.Get("X-Seen-Crowdgate"), wantCode)
		}
	}
	if res = proxyGet(t, nil, base+"/checkout/pay", "Authorization", "Bearer "+launch); res.code != 200 {
		t.Errorf("bearer: %d %s", res.code, res.body)
	}
	if res = proxyGet(t, nil, base+"/checkout/pay", "Accept", "text/html", "Authorization", "Bearer "+launch+"x"); res.code != 302 {
		t.Errorf("tampered token: %d", res.code)
	}

	// room= cannot pick the room either: with the open room's admission,
	// a launch path still wants launch's.
	res = proxyGet(t, nil, "POST "+base+"/api/v1/rooms/open/join")
	var open struct {
		AdmissionToken string `json:"admission_token"`
	}
	if res.code != 200 || json.Unmarshal([]byte(res.body), &open) != nil || open.AdmissionToken == "" {
		t.Fatalf("join open: %d %s", res.code, res.body)
	}
	if code, loc := rawGet(t, addr, "/checkout/pay?room=open", "Accept: text/html", "Cookie: cg_a_open="+open.AdmissionToken); code != 302 || !strings.HasPrefix(loc, base+"/rooms/launch?") {
		t.Errorf("room=open with open's admission: %d %q, want 302 to launch's room", code, loc)
	}

	// The site's X-Crowdgate-* headers come from Crowdgate only: a client's
	// own, in every spelling, never reach it, and a header Crowdgate did
	// not set reaches it neither as the client's nor as a placeholder's
	// text.
	forged := []string{"X-Crowdgate-Room: forged", "X_Crowdgate_Queue_Id: forged", "x_crowdgate-room: forged", "X-Crowdgate-Queue_Id: forged",
		"X-Crowdgate-User: forged", "X_Crowdgate_User: forged", "X_CROWDGATE_ROOM: forged", "X-Crowdgate-Fail-Open: 1", "X.Crowdgate.Room: forged", "X~Crowdgate~User: forged", "X-Crowdgate.Queue-Id: forged"}
	if code, h := rawDo(t, addr, "/about", forged...); code != 200 || h.Get("X-Seen-Crowdgate") != "" {
		t.Errorf("unprotected path with forged headers: %d, the site saw %q", code, h.Get("X-Seen-Crowdgate"))
	}
	code, h := rawDo(t, addr, "/checkout/pay", append(forged, admitted)...)
	seen := h.Get("X-Seen-Crowdgate")
	if code != 200 || strings.Contains(seen, "forged") || strings.Contains(seen, "{") || !strings.HasPrefix(seen, "X-Crowdgate-Queue-Id=") || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch") || strings.Count(seen, "=") != 2 {
		t.Errorf("admitted, with forged headers: %d, the site saw %q", code, seen)
	}
	// An admission made with an enqueue token: the site learns the user id.
	code, h = rawDo(t, addr, "/checkout/pay", append(forged, "Cookie: cg_a_launch="+userAdmission(t, cg.base, "launch", "fan-7"))...)
	if seen := h.Get("X-Seen-Crowdgate"); code != 200 || strings.Contains(seen, "forged") || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch X-Crowdgate-User=fan-7") {
		t.Errorf("admitted with a user id, with forged headers: %d, the site saw %q", code, seen)
	}

	// Without Crowdgate Caddy fails closed, for every path behind the check.
	if err := cg.stop(); err != nil {
		t.Fatalf("stop crowdgate: %v", err)
	}
	for _, p := range []string{"/checkout/pay", "/about"} {
		if code, _ := rawGet(t, addr, p, admitted); code != http.StatusBadGateway {
			t.Errorf("%s with Crowdgate down: %d, want 502", p, code)
		}
	}
}

// roomPage is a waiting-room URL without its query (return_to).
func roomPage(loc string) string {
	page, _, _ := strings.Cut(loc, "?")
	return page
}

// startCaddy runs the shipped Caddyfile, its CHANGE lines pointed at
// crowdgate, origin and a free loopback port, and returns that address once
// Caddy listens.
func startCaddy(t *testing.T, bin, crowdgate, origin string) string {
	t.Helper()
	b, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	conf := string(b)
	for _, r := range [][2]string{
		{":80 {", "http://" + addr + " {"},
		{"127.0.0.1:8080", crowdgate},
		{"127.0.0.1:9000", origin},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("%s has no %q: keep the test's placeholders in step", caddyfile, r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte("{\n\tadmin off\n}\n"+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if !nginxListening(addr, exited) {
		_ = cmd.Process.Kill()
		t.Fatalf("caddy did not start:\n%s", out)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("caddy:\n%s", out)
		}
	})
	return addr
}

// The client names the URI to check in these headers only when a proxy
// forwards them unfiltered; the shipped Traefik and Envoy configurations
// must never let a client's own reach Crowdgate.
var clientURIHeaders = []string{"x-original-uri", "x-envoy-original-path", "x-forwarded-uri"}

// TestCaddyConfig checks deploy/caddy/Caddyfile where Caddy is not
// installed (TestCaddyForwardAuth runs it where it is): the check gets no
// client query, and a client's X-Crowdgate-* headers, in every spelling,
// and URI headers are removed before it.
func TestCaddyConfig(t *testing.T) {
	b, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	check := strings.Index(conf, "rewrite /auth/v1/check?\n")
	if check < 0 {
		t.Fatal(`no "rewrite /auth/v1/check?": without the "?" Caddy sends the client's query with the check`)
	}
	for _, line := range []string{
		"request_header -*Crowdgate*", "request_header -*crowdgate*",
		"request_header -X-Original-URI", "request_header -X-Envoy-Original-Path",
		"header_up X-Forwarded-Uri {uri}",
		"request_header X-Crowdgate-Room {rp.header.X-Crowdgate-Room}",
		"request_header X-Crowdgate-Queue-Id {rp.header.X-Crowdgate-Queue-Id}",
		"request_header X-Crowdgate-User {rp.header.X-Crowdgate-User}",
	} {
		i := strings.Index(conf, line+"\n")
		if i < 0 {
			t.Errorf("no %q", line)
		} else if strings.HasPrefix(line, "request_header -") && i > check {
			t.Errorf("%q comes after the check", line)
		}
	}
}

func readYAMLFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// yamlAt walks nested YAML maps; a missing key fails the test.
func yamlAt(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not a map", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: missing", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

// nameSet is a YAML list of names as a set, lower-cased.
func nameSet(list any) map[string]bool {
	set := map[string]bool{}
	l, _ := list.([]any)
	for _, s := range l {
		if s, ok := s.(string); ok {
			set[strings.ToLower(s)] = true
		}
	}
	return set
}

// walkFan takes a browser from the waiting-room page the proxy at addr sent
// it to (page, for target) back to target, every request through the proxy
// but the organizer's, which goes to Crowdgate at cg: the page and its
// assets, a place in room's line (created closed), turned away while it
// waits, the line followed over a WebSocket until the organizer opens the
// gate, the status call that sets the admission cookie, and target again,
// which now reaches the origin. It returns the fan's cookies, its admission
// token and the origin's answer.
func walkFan(t *testing.T, addr, cg, room, page, target string) (http.CookieJar, string, proxyReply) {
	t.Helper()
	base := "http://" + addr
	res := proxyGet(t, nil, page)
	if res.code != 200 || !strings.Contains(res.body, `data-room="`+room+`"`) || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Fatalf("waiting room page %s: %d %v", page, res.code, res.header)
	}
	for _, attr := range []string{`<link rel="stylesheet" href="`, `<script src="`} {
		i := strings.Index(res.body, attr)
		if i < 0 {
			t.Fatalf("page has no %s", attr)
		}
		asset, _, _ := strings.Cut(res.body[i+len(attr):], `"`)
		if a := proxyGet(t, nil, base+asset); a.code != 200 {
			t.Fatalf("asset %s: %d", asset, a.code)
		}
	}

	// The page's first request: a place, and the fan waits.
	jar, _ := cookiejar.New(nil)
	res = proxyGet(t, jar, "POST "+base+"/api/v1/rooms/"+room+"/join")
	var place struct {
		Status         string
		Position       int
		QueueToken     string `json:"queue_token"`
		AdmissionToken string `json:"admission_token"`
	}
	if res.code != 200 || json.Unmarshal([]byte(res.body), &place) != nil || place.Status != "waiting" || place.Position != 1 {
		t.Fatalf("join: %d %s", res.code, res.body)
	}
	if res = proxyGet(t, jar, base+target, "Accept", "text/html"); res.code != http.StatusFound {
		t.Fatalf("a waiting fan was let through: %d", res.code)
	}

	// The page follows the line over a WebSocket, and learns of the
	// admission there when the organizer opens the gate.
	ws := dialWebSocket(t, addr, "/ws/v1/rooms/"+room, "Cookie: cg_q_"+room+"="+place.QueueToken, "Origin: "+base)
	if m := ws.next(t); m["type"] != "position" || m["position"] != 1.0 {
		t.Fatalf("first frame: %v", m)
	}
	if code, m := call(t, "PATCH", cg+"/admin/v1/rooms/"+room, `{"admit_per_minute": 60000}`, "Authorization", "Bearer tok"); code != 200 {
		t.Fatalf("open the gate: %d %v", code, m)
	}
	for m := ws.next(t); m["type"] != "admitted"; m = ws.next(t) {
		if m["type"] != "position" {
			t.Fatalf("frame while waiting: %v", m)
		}
	}

	// The page asks once more, which sets the admission cookie, and goes
	// back: now the fan reaches the origin.
	res = proxyGet(t, jar, base+"/api/v1/rooms/"+room+"/status")
	if res.code != 200 || json.Unmarshal([]byte(res.body), &place) != nil || place.Status != "admitted" || place.AdmissionToken == "" {
		t.Fatalf("status after admission: %d %s", res.code, res.body)
	}
	res = proxyGet(t, jar, base+target, "Accept", "text/html")
	if res.code != 200 || !strings.HasPrefix(res.body, "origin ") {
		t.Fatalf("admitted fan on %s: %d %q", target, res.code, res.body)
	}
	return jar, place.AdmissionToken, res
}

// nginxBinary finds nginx, or skips the test; CI insists on it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("proxy test: skipped with -short")
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				return p
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatal("nginx not found and CI is set: install it (apt-get install nginx)")
		}
		t.Skip("needs nginx")
	}
	return bin
}

// renderNginx returns the shipped configuration with Crowdgate, the origin
// and the listen address replaced, wrapped in a main context that keeps
// everything (pid, logs, temp files) in dir.
func renderNginx(t *testing.T, dir, crowdgate, origin, listen string) string {
	t.Helper()
	b, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;", "server " + crowdgate + ";"},
		{"server 127.0.0.1:9000;", "server " + origin + ";"},
		{"listen 80;", "listen " + listen + ";"},
	} {
		if n := strings.Count(conf, r[0]); n != 1 {
			t.Fatalf("%s has %q %d times, want once: keep the test's placeholders in step", nginxConf, r[0], n)
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	// One process, in the foreground, as whoever runs the test: nothing
	// to switch users for and nothing left behind if the test dies.
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
lock_file %[1]s/nginx.lock;
error_log %[1]s/error.log notice;
events { worker_connections 1024; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, conf)
}

// startNginx runs nginx with the rendered configuration on a free loopback
// port and returns its address once it accepts connections.
func startNginx(t *testing.T, bin, crowdgate, origin string) string {
	t.Helper()
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(renderNginx(t, dir, crowdgate, origin, addr)), 0o600); err != nil {
			t.Fatal(err)
		}
		out := &syncBuffer{}
		cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if nginxListening(addr, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: finish what is in flight
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("nginx error log:\n%s", log)
				}
			})
			return addr
		}
		_ = cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		if attempt < 2 && strings.Contains(string(log)+out.String(), "in use") {
			continue // the port was taken between Close and nginx's bind
		}
		t.Fatalf("nginx did not start:\n%s%s", out, log)
	}
}

// nginxListening waits until addr accepts connections, or the process exits.
func nginxListening(addr string, exited <-chan error) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

type proxyReply struct {
	code   int
	header http.Header
	body   string
}

// proxyGet sends "URL" or "METHOD URL" with header name/value pairs, without
// following redirects, keeping cookies in jar when it is not nil.
func proxyGet(t *testing.T, jar http.CookieJar, target string, header ...string) proxyReply {
	t.Helper()
	method := "GET"
	if m, u, ok := strings.Cut(target, " "); ok {
		method, target = m, u
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return proxyReply{res.StatusCode, res.Header, string(b)}
}

// rawGet sends the request line exactly as given, so that dot segments and
// escapes reach nginx untouched, with "Name: value" header lines, and
// returns the status and Location.
func rawGet(t *testing.T, addr, target string, headers ...string) (int, string) {
	t.Helper()
	code, h := rawDo(t, addr, target, headers...)
	return code, h.Get("Location")
}

// rawDo is rawGet returning the response's headers.
func rawDo(t *testing.T, addr, target string, headers ...string) (int, http.Header) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode, res.Header
}

// wsConn is the reading half of a WebSocket client, enough to follow the
// server's frames: the server sends, the client only listens.
type wsConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialWebSocket(t *testing.T, addr, path string, headers ...string) *wsConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The accept value for the sample key of RFC 6455, section 1.3.
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		t.Fatalf("WebSocket through nginx: %d %v %s", res.StatusCode, res.Header, b)
	}
	return &wsConn{c: c, br: br}
}

// next returns the next text frame as JSON, skipping control frames.
func (w *wsConn) next(t *testing.T) map[string]any {
	t.Helper()
	for {
		_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		op, payload, err := readFrame(w.br)
		if err != nil {
			t.Fatalf("WebSocket frame: %v", err)
		}
		switch op {
		case 0x1:
			var m map[string]any
			if err := json.Unmarshal(payload, &m); err != nil {
				t.Fatalf("frame %q: %v", payload, err)
			}
			return m
		case 0x8:
			t.Fatalf("WebSocket closed: %q", payload)
		}
	}
}

// readFrame reads one unfragmented, unmasked frame (what a server sends).
func readFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, errors.New("fragmented or masked frame")
	}
	n := uint64(h[1] & 0x7f)
	if n >= 126 {
		ext := make([]byte, 2) // 126: a 16-bit length follows; 127: 64-bit
		if n == 127 {
			ext = make([]byte, 8)
		}
		if _, err := io.ReadFull(br, ext); err != nil {
			return 0, nil, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	if n > 1<<16 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}

// walkQuietRoom checks, through the proxy at base, that a quiet
// traffic-triggered room lets a newcomer through to the site at once and
// that the proxy hands the browser the admission cookie the check set
// (docs/organizer.md#always-on-queue-only-when-busy); with the cookie the
// visitor passes again without a new one.
func walkQuietRoom(t *testing.T, base, cgBase string) {
	t.Helper()
	if code, m := call(t, "PUT", cgBase+"/admin/v1/rooms/shop", `{"admit_per_minute": 600, "trigger": {"active_users": 100}}`,
		"Authorization", "Bearer tok"); code != 201 {
		t.Fatalf("create the triggered room: %d %v", code, m)
	}
	var res proxyReply
	var cookie string
	// Until the instance's cache holds the new room, the check sends the
	// newcomer to the waiting room and makes nothing.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res = proxyGet(t, nil, base+"/shop/basket", "Accept", "text/html")
		for _, c := range (&http.Response{Header: res.header}).Cookies() {
			if c.Name == "cg_a_shop" && c.Value != "" {
				cookie = c.Value
			}
		}
		if res.code == 200 || time.Now().After(deadline) {
			break
		}
	}
	if res.code != 200 || !strings.Contains(res.body, "origin ") || !strings.Contains(res.body, "/shop/basket") || cookie == "" {
		t.Fatalf("a newcomer to a quiet room: %d %q, admission cookie %q", res.code, res.body, cookie)
	}
	again := proxyGet(t, nil, base+"/shop/basket", "Accept", "text/html", "Cookie", "cg_a_shop="+cookie)
	if again.code != 200 || again.header.Get("Set-Cookie") != "" {
		t.Fatalf("with the cookie: %d, Set-Cookie %q", again.code, again.header.Get("Set-Cookie"))
	}
}

// proxyTestStack starts, for a proxy's test, `crowdgate serve` protecting
// /checkout/, /vip/ and /shop/ on a private Redis, and an origin that
// answers "origin <URI>" and names in X-Seen-Crowdgate every X-Crowdgate-*
// header it received, whatever its spelling.
func proxyTestStack(t *testing.T) (*instance, *httptest.Server) {
	t.Helper()
	rs := queuetest.Run(t)
	env := map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_ROUTES": "/checkout/=launch,/vip/=vip,/shop/=shop"}
	if rs.Real {
		env["CROWDGATE_REDIS_URL"] = "unix://" + strings.TrimPrefix(rs.Addr, "unix:")
	}
	cg := startServe(t, env)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for k, v := range r.Header {
			if strings.Contains(strings.ToLower(k), "crowdgate") {
				seen = append(seen, k+"="+strings.Join(v, "|"))
			}
		}
		slices.Sort(seen)
		w.Header().Set("X-Seen-Crowdgate", strings.Join(seen, " "))
		fmt.Fprintf(w, "origin %s", r.RequestURI)
	}))
	t.Cleanup(origin.Close)
	return cg, origin
}
