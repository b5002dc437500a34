package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNginxBypass: through the shipped nginx file, a room's secret header
// and path rules let requests to the origin without an admission, and a
// wrong secret or a path that reads as another goes to the waiting room.
// (A network rule needs a client that is not the proxy, which one box
// cannot play: gateway/bypass_test.go covers it with X-Forwarded-For.)
func TestNginxBypass(t *testing.T) {
	t.Parallel()
	bin := nginxBinary(t)
	cg := startServe(t, map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok", "CROWDGATE_ROUTES": "/checkout/=launch"})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s room=%s", r.RequestURI, r.Header.Get("X-Crowdgate-Room"))
	}))
	t.Cleanup(origin.Close)
	ngx := startNginx(t, bin, strings.TrimPrefix(cg.base, "http://"), origin.Listener.Addr().String())
	base := "http://" + ngx
	const secret = "monitor-0123456789abcdef"
	room := `{"admit_per_minute": 0, "bypass": {"paths": ["/checkout/health"], "header": {"name": "X-Monitor-Key", "secret": "` + secret + `"}}}`
	if code, m := call(t, "PUT", cg.base+"/admin/v1/rooms/launch", room, "Authorization", "Bearer tok"); code != http.StatusCreated {
		t.Fatalf("create room: %d %v", code, m)
	}
	for _, tc := range []struct {
		target string
		header []string
		want   int
	}{
		{"/checkout/pay", nil, http.StatusFound},
		{"/checkout/pay", []string{"X-Monitor-Key", secret}, http.StatusOK},
		{"/checkout/pay", []string{"X-Monitor-Key", "wrong-" + secret}, http.StatusFound},
		{"/checkout/health", nil, http.StatusOK},
		{"/checkout/health/../pay", nil, http.StatusFound},
	} {
		res := proxyGet(t, nil, base+tc.target, tc.header...)
		if res.code != tc.want || tc.want == http.StatusOK && res.body != "origin "+tc.target+" room=" {
			t.Errorf("GET %s %v: %d %q, want %d", tc.target, tc.header, res.code, res.body, tc.want)
		}
	}
}
