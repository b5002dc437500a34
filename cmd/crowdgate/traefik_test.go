package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The shipped Traefik configuration: static, and the dynamic file it loads.
const (
	traefikStatic  = "../../deploy/traefik/traefik.yml"
	traefikDynamic = "../../deploy/traefik/dynamic/crowdgate.yml"
)

// TestTraefikForwardAuth puts Traefik, configured by deploy/traefik (only its
// CHANGE lines rewritten), in front of a test origin with a real
// `crowdgate serve` as its auth server, and walks a fan through it as
// TestNginxForwardAuth does. It needs a traefik binary on PATH and skips
// without one, in CI too: Traefik is not a Debian package, and CI installs
// only those. TestTraefikConfig checks the files on every run. It passed
// against Traefik v3.7.13 built from its module (docs/operations.md).
func TestTraefikForwardAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("proxy test: skipped with -short")
	}
	bin, err := exec.LookPath("traefik")
	if err != nil {
		t.Skip("needs traefik on PATH (not a Debian package, so not in CI)")
	}
	cg, origin := proxyTestStack(t)
	addr := startTraefik(t, bin, cg.base, origin.URL)
	base := "http://" + addr

	admin := []string{"Authorization", "Bearer tok"}
	for room, conf := range map[string]string{"launch": `{"admit_per_minute": 0}`, "vip": `{"admit_per_minute": 0}`, "open": `{"passthrough": true}`} {
		if code, m := call(t, "PUT", cg.base+"/admin/v1/rooms/"+room, conf, admin...); code != 201 {
			t.Fatalf("create room %s: %d %v", room, code, m)
		}
	}

	// Browsers go to the waiting room of the room that protects the page,
	// and come back to that very page (the check's own 302:
	// redirect=browser).
	signin := base + "/rooms/launch?return_to=" + url.QueryEscape("/checkout/pay?seat=12")
	for _, accept := range []string{"text/html", "", "*/*", "text/html, application/json"} {
		if res := proxyGet(t, nil, base+"/checkout/pay?seat=12", "Accept", accept); res.code != 302 || res.header.Get("Location") != signin {
			t.Errorf("Accept %q without a token: %d %q, want 302 to %s", accept, res.code, res.header.Get("Location"), signin)
		}
	}
	if res := proxyGet(t, nil, base+"/vip/lounge", "Accept", "text/html"); res.code != 302 || res.header.Get("Location") != base+"/rooms/vip?return_to=%2Fvip%2Flounge" {
		t.Errorf("browser on vip's path: %d %q", res.code, res.header.Get("Location"))
	}
	// API clients get the contract's 401, with the URL of the room's page
	// that leads back to the page they asked for.
	for _, p := range []string{"/checkout/pay?seat=12", "/vip/lounge"} {
		res := proxyGet(t, nil, base+p, "Accept", "application/json")
		var e struct{ Error struct{ Code string } }
		if res.code != 401 || json.Unmarshal([]byte(res.body), &e) != nil || e.Error.Code != "unauthorized" ||
			!strings.HasPrefix(res.header.Get("X-Crowdgate-Waiting-Room"), base+"/rooms/") ||
			!strings.HasSuffix(res.header.Get("X-Crowdgate-Waiting-Room"), "?return_to="+url.QueryEscape(p)) {
			t.Errorf("API client on %s without a token: %d %v %s", p, res.code, res.header, res.body)
		}
	}
	// Paths no room protects reach the origin, whatever the client's query
	// says.
	if res := proxyGet(t, nil, base+"/about?room=launch&x=1"); res.code != 200 || res.body != "origin /about?room=launch&x=1" {
		t.Errorf("unprotected path with room=: %d %q", res.code, res.body)
	}

	// No spelling of a protected path gets past Traefik without an
	// admission; with one, each reaches the origin.
	odd := []string{"/checkout", "/CHECKOUT/cart", "/%63heckout/pay", "/%2563heckout/cart", "/checkout;a/cart", "/checkout./cart",
		"/checkout%3F/cart", "/checkout%2Fcart", "/static/../checkout/pay", "/static/%2e%2e/checkout/pay", "/about/..;/checkout/cart",
		"/checkout/..%2fabout", "//checkout/cart", "/checkout%20/cart", `/checkout\cart`}
	for _, p := range odd {
		if code, h := rawDo(t, addr, p, "Accept: text/html", "X-Original-URI: /about", "X-Forwarded-Uri: /about"); code != 302 && code != 401 && code != 400 && code != 403 {
			t.Errorf("GET %s without an admission: %d (the site saw %q), want it stopped", p, code, h.Get("X-Seen-Crowdgate"))
		}
	}

	// The fan walks the whole way through Traefik.
	_, launch, res := walkFan(t, addr, cg.base, "launch", signin, "/checkout/pay?seat=12")
	if seen := res.header.Get("X-Seen-Crowdgate"); res.body != "origin /checkout/pay?seat=12" || !strings.HasPrefix(seen, "X-Crowdgate-Queue-Id=") || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch") {
		t.Fatalf("admitted fan: %q, the site saw %q", res.body, seen)
	}
	// A quiet traffic-triggered room lets a newcomer through in the check,
	// and Traefik hands the browser its admission cookie.
	walkQuietRoom(t, base, cg.base)
	admitted := "Cookie: cg_a_launch=" + launch
	for _, p := range odd {
		if code, h := rawDo(t, addr, p, admitted); code != 200 && code != 400 && code != 403 || code == 200 && !strings.HasSuffix(h.Get("X-Seen-Crowdgate"), " X-Crowdgate-Room=launch") {
			t.Errorf("GET %s with launch's admission: %d (the site saw %q)", p, code, h.Get("X-Seen-Crowdgate"))
		}
	}
	// Another room's admission is no admission here: a browser waits in
	// vip's line (as behind nginx), an API client gets the 401.
	if code, loc := rawGet(t, addr, "/vip/lounge", "Accept: text/html", admitted); code != 302 || loc != base+"/rooms/vip?return_to=%2Fvip%2Flounge" {
		t.Errorf("a browser with launch's admission on vip's path: %d %q", code, loc)
	}
	if code, _ := rawGet(t, addr, "/vip/lounge", "Accept: application/json", admitted); code != 401 {
		t.Errorf("an API client with launch's admission on vip's path: %d", code)
	}

	// The site's X-Crowdgate-* headers come from Crowdgate only, in every
	// spelling.
	forged := []string{"X-Crowdgate-Room: forged", "X_Crowdgate_Queue_Id: forged", "x_crowdgate-room: forged", "X-Crowdgate-Queue_Id: forged",
		"X-Crowdgate-User: forged", "X_Crowdgate_User: forged", "X-Crowdgate-Fail-Open: 1", "X.Crowdgate.Room: forged",
		"X~Crowdgate~User: forged", "X-Crowdgate.Queue-Id: forged"}
	if code, h := rawDo(t, addr, "/about", forged...); code != 200 || h.Get("X-Seen-Crowdgate") != "" {
		t.Errorf("unprotected path with forged headers: %d, the site saw %q", code, h.Get("X-Seen-Crowdgate"))
	}
	code, h := rawDo(t, addr, "/checkout/pay", append(forged, admitted)...)
	if seen := h.Get("X-Seen-Crowdgate"); code != 200 || strings.Contains(seen, "forged") || strings.Count(seen, "=") != 2 || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch") {
		t.Errorf("admitted, with forged headers: %d, the site saw %q", code, seen)
	}
	code, h = rawDo(t, addr, "/checkout/pay", append(forged, "Cookie: cg_a_launch="+userAdmission(t, cg.base, "launch", "fan-7"))...)
	if seen := h.Get("X-Seen-Crowdgate"); code != 200 || strings.Contains(seen, "forged") || !strings.HasSuffix(seen, " X-Crowdgate-Room=launch X-Crowdgate-User=fan-7") {
		t.Errorf("admitted with a user id, with forged headers: %d, the site saw %q", code, seen)
	}

	// Without Crowdgate Traefik fails closed, for every path behind the check.
	if err := cg.stop(); err != nil {
		t.Fatalf("stop crowdgate: %v", err)
	}
	for _, p := range []string{"/checkout/pay", "/about"} {
		if code, _ := rawGet(t, addr, p, admitted); code != http.StatusInternalServerError {
			t.Errorf("%s with Crowdgate down: %d, want 500", p, code)
		}
	}
}

// startTraefik runs the shipped configuration, its CHANGE lines pointed at
// crowdgate, origin (base URLs), a free loopback port and a directory of its
// own, and returns the address once Traefik routes to Crowdgate and the
// origin.
func startTraefik(t *testing.T, bin, crowdgate, origin string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	render := func(src, dst string, r [][2]string, extra string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		conf := string(b)
		for _, r := range r {
			if !strings.Contains(conf, r[0]) {
				t.Fatalf("%s has no %q: keep the test's placeholders in step", src, r[0])
			}
			conf = strings.ReplaceAll(conf, r[0], r[1])
		}
		if err := os.WriteFile(dst, []byte(conf+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dynamic"), 0o700); err != nil {
		t.Fatal(err)
	}
	render(traefikDynamic, filepath.Join(dir, "dynamic", "crowdgate.yml"), [][2]string{
		{"http://127.0.0.1:8080", crowdgate},
		{"http://127.0.0.1:9000", origin},
		{"[cg_a_launch]", "[cg_a_launch, cg_a_vip, cg_a_shop]"}, // proxyTestStack's rooms
	}, "")
	static := filepath.Join(dir, "traefik.yml")
	render(traefikStatic, static, [][2]string{
		{`address: ":80"`, `address: "` + addr + `"`},
		{"directory: /etc/traefik/dynamic", "directory: " + filepath.Join(dir, "dynamic")},
	}, "\nglobal:\n  checkNewVersion: false\n  sendAnonymousUsage: false\n")

	out := &syncBuffer{}
	cmd := exec.Command(bin, "--configFile="+static)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("traefik:\n%s", out)
		}
	})
	if !nginxListening(addr, exited) {
		t.Fatalf("traefik did not start:\n%s", out)
	}
	// The file provider loads the routers after the entry point listens.
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; {
		jwks, err1 := client.Get("http://" + addr + "/.well-known/jwks.json")
		about, err2 := client.Get("http://" + addr + "/about")
		if err1 == nil && err2 == nil {
			_ = jwks.Body.Close()
			_ = about.Body.Close()
			if jwks.StatusCode == 200 && about.StatusCode == 200 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("traefik does not route to Crowdgate and the origin:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTraefikConfig checks deploy/traefik on every run (TestTraefikForwardAuth
// runs it only where a traefik binary is on PATH): every entry point drops
// alias spellings of headers, every router names services and middlewares
// that exist, every path of the site is checked by Crowdgate with the right
// headers in and out, browsers are redirected by the check itself
// (redirect=browser: back to the exact page, API clients still get the
// 401), and the check's admission cookies reach the browser.
func TestTraefikConfig(t *testing.T) {
	var static map[string]any
	readYAMLFile(t, traefikStatic, &static)
	if yamlAt(t, static, "providers", "file", "directory") == nil {
		t.Error("traefik.yml: no file provider")
	}
	for name, ep := range yamlAt(t, static, "entryPoints").(map[string]any) {
		// A client's X_Crowdgate_Room or X.Crowdgate.Room would reach the
		// site beside Crowdgate's X-Crowdgate-Room otherwise.
		epHTTP, _ := ep.(map[string]any)["http"].(map[string]any)
		if s := epHTTP["aliasHeadersStrategy"]; s != "delete" && s != "reject" {
			t.Errorf("entry point %s: aliasHeadersStrategy %v, want delete", name, s)
		}
	}

	var dyn map[string]any
	readYAMLFile(t, traefikDynamic, &dyn)
	services := yamlAt(t, dyn, "http", "services").(map[string]any)
	middlewares := yamlAt(t, dyn, "http", "middlewares").(map[string]any)
	routers := yamlAt(t, dyn, "http", "routers").(map[string]any)
	cg := yamlAt(t, services, "crowdgate", "loadBalancer", "servers").([]any)[0].(map[string]any)["url"].(string)
	priority := func(r any) int {
		p, _ := r.(map[string]any)["priority"].(float64)
		return int(p)
	}
	var catchAll []string
	for name, r := range routers {
		if _, ok := services[yamlAt(t, r, "service").(string)]; !ok {
			t.Errorf("router %s: no service %v", name, yamlAt(t, r, "service"))
		}
		mws, _ := r.(map[string]any)["middlewares"].([]any) // optional
		for _, mw := range mws {
			if _, ok := middlewares[mw.(string)]; !ok {
				t.Fatalf("router %s: no middleware %v", name, mw)
			}
		}
		if yamlAt(t, r, "service") != "site" {
			continue
		}
		// Every router to the site: a client's X-Crowdgate-* go first,
		// then the check (the last middleware).
		if len(mws) < 2 {
			t.Errorf("router %s reaches the site unchecked", name)
			continue
		}
		removed := map[string]bool{}
		if h, ok := middlewares[mws[0].(string)].(map[string]any)["headers"].(map[string]any); ok {
			crh, _ := h["customRequestHeaders"].(map[string]any)
			for k, v := range crh {
				if v == "" {
					removed[strings.ToLower(k)] = true
				}
			}
		}
		for _, h := range []string{"x-crowdgate-queue-id", "x-crowdgate-room", "x-crowdgate-user", "x-crowdgate-fail-open"} {
			if !removed[h] {
				t.Errorf("router %s: a client's %s reaches the site", name, h)
			}
		}
		if _, ok := middlewares[mws[len(mws)-1].(string)].(map[string]any)["forwardAuth"].(map[string]any); !ok {
			t.Errorf("router %s: the last middleware is not Crowdgate's check", name)
		}
		if yamlAt(t, r, "rule") == "PathPrefix(`/`)" {
			catchAll = append(catchAll, name)
		}
	}
	// Every path of the site is checked, below Crowdgate's own paths.
	if len(catchAll) != 1 || priority(routers[catchAll[0]]) >= priority(routers["crowdgate"]) {
		t.Fatalf("routers to the site for every path: %v; want one, below crowdgate's priority", catchAll)
	}

	for name, mw := range middlewares {
		fa, ok := mw.(map[string]any)["forwardAuth"].(map[string]any)
		if !ok {
			continue
		}
		// The check redirects browsers itself, to the room's page and back
		// to the exact URI asked for: Traefik's authSigninURL cannot.
		if fa["address"] != cg+"/auth/v1/check?redirect=browser" {
			t.Errorf("middleware %s: address %v, want %s/auth/v1/check?redirect=browser", name, fa["address"], cg)
		}
		if _, ok := fa["authSigninURL"]; ok {
			t.Errorf("middleware %s: authSigninURL sends fans to a fixed page and API clients a 302", name)
		}
		in := nameSet(fa["authRequestHeaders"])
		if !in["cookie"] || !in["authorization"] || !in["accept"] {
			t.Errorf("middleware %s: authRequestHeaders %v lack the token's headers or Accept", name, fa["authRequestHeaders"])
		}
		for _, h := range clientURIHeaders {
			if len(in) == 0 || in[h] {
				t.Errorf("middleware %s: a client's %s reaches Crowdgate", name, h)
			}
		}
		if out := nameSet(fa["authResponseHeaders"]); !out["x-crowdgate-queue-id"] || !out["x-crowdgate-room"] || !out["x-crowdgate-user"] {
			t.Errorf("middleware %s: X-Crowdgate-Queue-Id, -Room and -User are not passed on", name)
		}
		// Traefik passes on the check's cookies by exact name: cg_a_{room}.
		cookies, _ := fa["addAuthCookiesToResponse"].([]any)
		if len(cookies) == 0 {
			t.Errorf("middleware %s: no addAuthCookiesToResponse: a quiet triggered room's admission never reaches the browser", name)
		}
		for _, c := range cookies {
			if cookie, _ := c.(string); !regexp.MustCompile(`^cg_a_[a-z0-9][a-z0-9-]{0,63}$`).MatchString(cookie) {
				t.Errorf("middleware %s: addAuthCookiesToResponse names %v, not an admission cookie cg_a_{room}", name, c)
			}
		}
	}
}
