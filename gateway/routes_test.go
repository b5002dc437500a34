package gateway_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/gateway"
)

// sidestepRoutes are the routes of the issue that found the holes.
const sidestepRoutes = "/checkout/=launch,/vip=launch"

// sidestepPaths are spellings of paths, each judged as origins may read it:
// protected (launch), open (no route), or unreadable (refused). Every way
// in, reverse proxy and forward auth alike, must agree with this table.
var sidestepPaths = []struct {
	path, want string
}{
	// Case: case-insensitive routers serve these as /checkout/ and /vip.
	{"/CHECKOUT/cart", "launch"},
	{"/Checkout/cart", "launch"},
	{"/VIP", "launch"},
	{"/v%C4%B1p", "launch"},              // "vıp": .NET upper-cases ı to I
	{"/chec%E2%84%AAout/cart", "launch"}, // the Kelvin sign is a k
	// ;params: servlet containers drop them.
	{"/checkout;a/cart", "launch"},
	{"/checkout;/cart", "launch"},
	{"/about/..;/checkout/cart", "launch"}, // Tomcat's ..; is ..
	// Trailing dots and spaces: Windows drops them.
	{"/checkout./cart", "launch"},
	{"/checkout%20/cart", "launch"},
	{"/checkout%2e/cart", "launch"},
	// Escapes: decoded once, twice, or an escaped "?" re-parsed.
	{"/%63heckout/cart", "launch"},
	{"/%2563heckout/cart", "launch"},
	{"/checkout%3F/cart", "launch"},
	{"/checkout%23/cart", "launch"},
	// Separators: "\" on Windows, an escaped "/" decoded or kept.
	{`/checkout\cart`, "launch"},
	{"/about/..%2fcheckout/cart", "launch"},
	{"/about%5c..%5ccheckout/cart", "launch"},
	{"/checkout/..%2fabout", "launch"}, // Go's ServeMux: still under /checkout/
	{"/static/../checkout/pay", "launch"},
	{"//checkout/cart", "launch"},
	{"/%EF%BD%83heckout/cart", "launch"}, // fullwidth c, Windows' best fit
	// Unreadable: never taken for unprotected.
	{"/checkout%00/cart", "unreadable"},
	{"/checkout%0a/cart", "unreadable"},
	{"/%25252563heckout/cart", "unreadable"},
	{"/about%zz", "unreadable"},
	// Open, however spelled, and not caught by the rules above.
	{"/about", ""},
	{"/About;checkout/", ""},
	{"/checkout-faq", ""},
	{"/vi", ""},
	{"/%2561bout", ""},
	{"/files/100%25.pdf", ""},
	{"/about%3Fnext=/checkout/", ""},
}

func TestRoutesReadEverySpelling(t *testing.T) {
	t.Parallel()
	rs, err := gateway.ParseRoutes(sidestepRoutes)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sidestepPaths {
		rooms, err := rs.Rooms(c.path)
		got := strings.Join(rooms, ",")
		if errors.Is(err, gateway.ErrUnreadablePath) {
			got = "unreadable"
		} else if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if got != c.want {
			t.Errorf("Rooms(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestRoutesRooms(t *testing.T) {
	t.Parallel()
	rs, err := gateway.ParseRoutes("/Shop/=shop,/shop/cart/=cart,/=lobby")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		uri  string
		want []string
	}{
		{"/shop/x", []string{"shop"}},
		{"/SHOP/CART/x?y=1", []string{"cart"}},
		{"/shop/cart", []string{"cart"}},
		{"/news", []string{"lobby"}},
		{"http://example.com/shop/cart/pay", []string{"cart"}},
		{"HTTPS://example.com", []string{"lobby"}},
		// A servlet container reads the cart, any other origin the shop:
		// the visitor needs both admissions.
		{"/shop/cart;jsessionid=1", []string{"shop", "cart"}},
	} {
		got, err := rs.Rooms(c.uri)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Rooms(%q) = %q, %v; want %q", c.uri, got, err, c.want)
		}
	}
}

// TestRoutesRefuseCostlyPaths: a path with many oddities, or a long one
// with some, would cost many readings; it is refused instead. A long plain
// path is judged as any other.
func TestRoutesRefuseCostlyPaths(t *testing.T) {
	t.Parallel()
	rs, err := gateway.ParseRoutes(sidestepRoutes)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("/abcdefgh", 600)
	for _, c := range []struct {
		uri  string
		want error
	}{
		{`/checkout\x;y/z./%2F%3F`, gateway.ErrUnreadablePath}, // five kinds of oddity
		{`/checkout\x;y/z./%2F`, nil},                          // four
		{"/checkout" + long + "/x;y", gateway.ErrUnreadablePath},
		{"/checkout" + long[:3000] + "/x;y", nil},
		{"/checkout" + long + long, nil},
	} {
		rooms, err := rs.Rooms(c.uri)
		if err != c.want || err == nil && !slices.Equal(rooms, []string{"launch"}) {
			t.Errorf("Rooms(%.40q... %d bytes) = %q, %v; want launch or %v", c.uri, len(c.uri), rooms, err, c.want)
		}
	}
}

func TestParseRoutesPrefixes(t *testing.T) {
	t.Parallel()
	rs, err := gateway.ParseRoutes("/Checkout/*=launch, /caf%C3%A9/=cafe")
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Prefix != "/checkout/" || rs[1].Prefix != "/café/" {
		t.Fatalf("prefixes %+v, want decoded and lower-cased", rs)
	}
	for _, bad := range []string{
		"/checkout/=a,/CHECKOUT/=b", // one prefix, since matching ignores case
		"/a;b/=x", `/a\b=x`, "/a?b=x", "/a%zz=x", "/a%00=x", "/100%25/=x", "/a%20=x", "/v1%2e/=x",
		"/a/../b=x", "/a//b=x", "/./a=x", "/v1./=x",
	} {
		if _, err := gateway.ParseRoutes(bad); err == nil {
			t.Errorf("ParseRoutes(%q) accepted", bad)
		}
	}
}

// TestPathsNobodyCanSidestep sends the table through every way in: the
// reverse proxy, and forward auth with the original URI in each header and
// in Envoy's path form. Without an admission a protected path is sent to the
// waiting room and an unreadable one refused; with one it passes.
func TestPathsNobodyCanSidestep(t *testing.T) {
	t.Parallel()
	s := newProxyStack(t, sidestepRoutes)
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	s.putRoom("other", `{"passthrough": true}`)
	launch := "cg_a_launch=" + s.admitted("launch")
	other := "cg_a_other=" + s.do("POST", "/api/v1/rooms/other/join", "").json(t)["admission_token"].(string)
	addr := strings.TrimPrefix(s.srv.URL, "http://")

	for _, c := range sidestepPaths {
		// The reverse proxy, from the raw request line: Go's server itself
		// refuses an escape that does not decode.
		for _, ck := range []string{"", other, launch} {
			want := 200
			switch {
			case c.want == "unreadable":
				want = 400
			case c.want == "launch" && ck != launch:
				want = 401
			}
			res := rawRequest(t, addr, "GET", c.path, "Accept: application/json", "Cookie: "+ck)
			if res.status != want {
				t.Errorf("reverse proxy %s, cookie %.10q: %d, want %d", c.path, ck, res.status, want)
			}
			if want == 401 && !strings.Contains(res.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/launch") {
				t.Errorf("reverse proxy %s: waiting room %q", c.path, res.header.Get("X-Crowdgate-Waiting-Room"))
			}
		}

		// Forward auth: as nginx, Traefik or Caddy, ingress-nginx (an
		// absolute URL), and Envoy send it.
		for _, way := range []struct{ target, header string }{
			{"/auth/v1/check", "X-Original-URI: " + c.path},
			{"/auth/v1/check", "X-Forwarded-Uri: " + c.path},
			{"/auth/v1/check", "X-Envoy-Original-Path: " + c.path},
			{"/auth/v1/check", "X-Original-URL: http://" + addr + c.path},
			{"/auth/v1/check" + c.path, "X-Envoy-Path-Form: 1"},
		} {
			if strings.HasPrefix(c.path, "/about%zz") && way.header == "X-Envoy-Path-Form: 1" {
				continue // Go's server refuses the request line itself (400)
			}
			for _, ck := range []string{"", other, launch} {
				want := 200
				switch {
				case c.want == "unreadable":
					want = 403
				case c.want == "launch" && ck != launch:
					want = 401
				}
				res := rawRequest(t, addr, "GET", way.target, way.header, "Cookie: "+ck)
				if res.status != want {
					t.Errorf("check %s %s, cookie %.10q: %d, want %d", way.target, way.header, ck, res.status, want)
				}
				if want == 401 && !strings.Contains(res.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/launch") {
					t.Errorf("check %s %s: waiting room %q", way.target, way.header, res.header.Get("X-Crowdgate-Waiting-Room"))
				}
			}
		}
	}
}

// TestForwardAuthRoomParamAddsNeverReplaces: with an original URI, room=
// is one more room to be admitted to, never the routes' room swapped for
// another. Behind Caddy's forward_auth as its docs show it, the client's
// own query reaches the check, room= included.
func TestForwardAuthRoomParamAddsNeverReplaces(t *testing.T) {
	t.Parallel()
	s := newStack(t, "/checkout/=launch")
	s.putRoom("launch", `{"admit_per_minute": 60000}`)
	s.putRoom("open", `{"passthrough": true}`)
	open := "cg_a_open=" + s.do("POST", "/api/v1/rooms/open/join", "").json(t)["admission_token"].(string)
	qt := s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	time.Sleep(5 * time.Millisecond)
	s.admit("launch")
	launch := "cg_a_launch=" + s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+qt).json(t)["admission_token"].(string)

	for _, c := range []struct {
		name, target string
		h            []string
		want         int
	}{
		{"nginx, room= of another room", "/auth/v1/check?room=open", []string{"X-Original-URI", "/checkout/cart", "Cookie", open}, 401},
		{"caddy, the client's room=", "/auth/v1/check?room=open", []string{"X-Forwarded-Uri", "/checkout/pay?room=open", "Cookie", open}, 401},
		{"room= and routes agree", "/auth/v1/check?room=launch", []string{"X-Original-URI", "/checkout/cart", "Cookie", launch}, 200},
		{"admitted to both", "/auth/v1/check?room=open", []string{"X-Original-URI", "/checkout/cart", "Cookie", open + "; " + launch}, 200},
		{"room= on an open path still counts", "/auth/v1/check?room=launch", []string{"X-Original-URI", "/about", "Cookie", open}, 401},
		{"room= alone, as the contract has it", "/auth/v1/check?room=open", []string{"Cookie", open}, 200},
	} {
		r := s.do("GET", c.target, "", c.h...)
		if r.status != c.want {
			t.Errorf("%s: %d, want %d", c.name, r.status, c.want)
		}
		if r.status == 401 && !strings.Contains(r.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/launch") {
			t.Errorf("%s: waiting room %q, want launch's", c.name, r.header.Get("X-Crowdgate-Waiting-Room"))
		}
	}
}

// TestForwardAuthEveryHeaderValue: a proxy that appends its own
// X-Forwarded-Uri after the client's is judged by both, not by the first.
func TestForwardAuthEveryHeaderValue(t *testing.T) {
	t.Parallel()
	s := newStack(t, "/checkout/=launch")
	s.putRoom("launch", `{"admit_per_minute": 0}`)
	if r := s.do("GET", "/auth/v1/check", "", "X-Forwarded-Uri", "/about", "X-Forwarded-Uri", "/checkout/pay"); r.status != 401 {
		t.Fatalf("second X-Forwarded-Uri ignored: %d", r.status)
	}
}

type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawRequest sends the request line exactly as given, so that escapes,
// dot segments and backslashes reach the server untouched, with "Name:
// value" header lines (an empty value leaves the header out).
func rawRequest(t *testing.T, addr, method, target string, headers ...string) rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for _, h := range headers {
		if name, v, _ := strings.Cut(h, ":"); strings.TrimSpace(v) != "" {
			req += name + ":" + v + "\r\n"
		}
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rawResponse{res.StatusCode, res.Header, string(b)}
}

// BenchmarkRoutesRooms is the cost of judging one path, as every
// forward-auth check and proxied request does: an ordinary path, and one
// whose characters make several readings possible.
func BenchmarkRoutesRooms(b *testing.B) {
	rs, err := gateway.ParseRoutes("/checkout/=launch,/events/coldplay/=launch,/vip=vip,/api/v2/orders/=launch")
	if err != nil {
		b.Fatal(err)
	}
	for _, uri := range []string{"/checkout/pay?seat=12", "/static/app.3f2a.js", "/Checkout;a/../%2563art./x"} {
		b.Run(uri, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rs.Rooms(uri); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForwardAuthOriginalURI is BenchmarkForwardAuthHandler with the
// room found from the original URI, as nginx, Traefik and Caddy ask.
func BenchmarkForwardAuthOriginalURI(b *testing.B) {
	s := newStack(b, "/checkout/=launch,/events/coldplay/=launch,/vip=vip")
	s.putRoom("launch", `{"passthrough": true}`)
	at := s.do("POST", "/api/v1/rooms/launch/join", "").json(b)["admission_token"].(string)
	h := s.srv.Config.Handler
	req := httptest.NewRequest("GET", "/auth/v1/check", nil)
	req.Header.Set("X-Original-URI", "/checkout/pay?seat=12")
	req.Header.Set("Authorization", "Bearer "+at)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
