package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// hostConfig declares the rooms of the host-route tests and one route; the
// others come from CROWDGATE_ROUTES.
const hostConfig = `rooms:
  shop: {passthrough: true}
  tickets: {passthrough: true}
  launch: {passthrough: true}
routes:
  - "*.tickets.example.com/=tickets"   # quoted: YAML reads a leading * as an alias
`

const hostEnvRoutes = "shop.example.com/=shop,/checkout/=launch"

// TestHostRoutesOnThreeInstancesOneRedis: routes from CROWDGATE_ROUTES and
// the config file, on three instances of one Redis: an admission made on
// any passes forward auth for its own host on every one.
func TestHostRoutesOnThreeInstancesOneRedis(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	checkHostRoutes(t, "unix://"+strings.TrimPrefix(rs.Addr, "unix:"), 3)
}

// TestHostRoutesOnRedisCluster: the same on Redis Cluster, with one
// instance and with three.
func TestHostRoutesOnRedisCluster(t *testing.T) {
	addrs := queuetest.RunCluster(t)
	checkHostRoutes(t, strings.Join(addrs, ","), 1)
	checkHostRoutes(t, strings.Join(addrs, ","), 3)
}

func checkHostRoutes(t *testing.T, redisURL string, instances int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crowdgate.yaml")
	if err := os.WriteFile(path, []byte(hostConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CROWDGATE_REDIS_URL": redisURL, "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path, "CROWDGATE_ROUTES": hostEnvRoutes}
	var insts []*instance
	for range instances {
		insts = append(insts, startServe(t, env))
	}
	cookies := map[string]string{}
	for i, room := range []string{"shop", "tickets", "launch"} {
		inst := insts[i%len(insts)] // admitted on one instance, checked on all
		code, j := call(t, "POST", inst.base+"/api/v1/rooms/"+room+"/join", "")
		at, _ := j["admission_token"].(string)
		if code != 200 || at == "" {
			t.Fatalf("join %s: %d %v", room, code, j)
		}
		cookies[room] = "cg_a_" + room + "=" + at
	}
	for i, inst := range insts {
		for _, c := range []struct {
			host, uri, cookie string
			want              int
		}{
			{"shop.example.com", "/x", "shop", 200},
			{"shop.example.com", "/x", "tickets", 401},
			{"Shop.Example.com.:443", "/x", "tickets", 401},
			{"a.tickets.example.com", "/x", "tickets", 200},
			{"a.tickets.example.com", "/x", "shop", 401},
			{"tickets.example.com", "/x", "", 200},
			{"open.example.com", "/x", "", 200},
			{"open.example.com", "/checkout/pay", "", 401},
			{"open.example.com", "/checkout/pay", "launch", 200},
			{"shop.example.com..", "/x", "shop", 403},
		} {
			status, room := check(t, inst.base, c.host, c.uri, cookies[c.cookie])
			if status != c.want {
				t.Errorf("instance %d of %d: %s%s with %q's admission: %d (%s), want %d", i+1, len(insts), c.host, c.uri, c.cookie, status, room, c.want)
			}
		}
	}
}

// check asks inst's forward auth about uri on host, as nginx's deploy
// file does, and returns the status and the waiting room it names.
func check(t *testing.T, base, host, uri, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/auth/v1/check", nil)
	req.Header.Set("X-Original-URI", uri)
	req.Header.Set("X-Forwarded-Host", host)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("X-Crowdgate-Waiting-Room")
}

// TestBadHostRoutesStopTheStart: a bad route, in CROWDGATE_ROUTES, --route
// or the config file, stops serve before it changes anything, with an
// error that says what to write instead.
func TestBadHostRoutesStopTheStart(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	redisURL := "unix://" + strings.TrimPrefix(rs.Addr, "unix:")
	dir := t.TempDir()
	for i, c := range []struct {
		routes, file, says string
	}{
		{"bücher.example/=shop", "", "punycode"},
		{"shop.example.com:8443/=shop", "", "without a scheme or a port"},
		{"shop.example.com=shop", "", "a whole host is host/=room"},
		{"*/=shop", "", "wildcard"},
		{"shop.example.com/a/=shop,SHOP.example.com./A/*=launch", "", "given twice"},
		{"", "routes:\n  - shop.example.com/=shop\n  - Shop.Example.Com/=launch\n", "given twice"},
		{"shop.example.com/=shop", "routes: [\"shop.example.com/=launch\"]\n", "--route and --config"},
		{"", "routes:\n  - host: shop.example.com\n", "cannot unmarshal"},
		{"", "routes: [\"a/=shop\"]\nroute: [\"b/=shop\"]\n", "unknown field"},
		{"", "routes: [\"shop.example.com:80/=shop\"]\n", "without a scheme or a port"},
	} {
		path := filepath.Join(dir, "c"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(path, []byte("rooms:\n  untouched: {passthrough: true}\n"+c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"CROWDGATE_REDIS_URL": redisURL, "CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_CONFIG": path, "CROWDGATE_ROUTES": c.routes}
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("routes %q, file %q: %v; want an error saying %q", c.routes, c.file, err, c.says)
		}
	}
	// The same as a flag.
	err := run(context.Background(), []string{"serve", "--route", "/a/=shop", "--route", "*.example.com/a/=x,*.EXAMPLE.com/a=y,*.example.com/A/=z"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--route: ") || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("--route given twice: %v", err)
	}
	// Nothing was written: the rooms of those files do not exist.
	inst := startServe(t, map[string]string{"CROWDGATE_REDIS_URL": redisURL, "CROWDGATE_ADMIN_TOKEN": "tok"})
	if code, m := call(t, "GET", inst.base+"/admin/v1/rooms/untouched", "", "Authorization", "Bearer tok"); code != 404 {
		t.Fatalf("a refused start created a room: %d %v", code, m)
	}
}
