package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestBypassCIDRsAreReadStrictly: networks and single addresses are read;
// anything that could mean something else is refused with a reason.
func TestBypassCIDRsAreReadStrictly(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":      "10.0.0.0/8",
		"2001:db8::/32":   "2001:db8::/32",
		"203.0.113.7":     "203.0.113.7/32",
		"2001:db8::1":     "2001:db8::1/128",
		"192.0.2.64/26":   "192.0.2.64/26",
		"198.51.100.9/32": "198.51.100.9/32",
	} {
		p, err := queue.ParseBypassCIDR(in)
		if err != nil || p.String() != want {
			t.Errorf("%q: %v %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{
		"", "10.0.0.1/8", "0.0.0.0/0", "::/0", "::ffff:10.0.0.0/104", "fe80::1%eth0", "10.0.0.0/33",
		"10.0.0/8", "example.com", " 10.0.0.0/8", "10.0.0.0/8,", "10.0.0.0/-1",
	} {
		if p, err := queue.ParseBypassCIDR(in); err == nil {
			t.Errorf("%q: read as %v, want refused", in, p)
		}
	}
}

// TestBypassRulesAreValidated: every way a room's bypass rules can be
// wrong is refused as an invalid room, and sound ones pass.
func TestBypassRulesAreValidated(t *testing.T) {
	secret := strings.Repeat("s", queue.MinBypassSecretBytes)
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	var manyNets []netip.Prefix
	for i := range queue.MaxBypassRules + 1 {
		manyNets = append(manyNets, netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i)))
	}
	net8 := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for name, b := range map[string]queue.Bypass{
		"too many networks":         queue.NewBypass(manyNets, nil, "", ""),
		"a network twice":           queue.NewBypass(append(net8, net8...), nil, "", ""),
		"an unmasked network":       queue.NewBypass([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}, nil, "", ""),
		"everyone":                  queue.NewBypass([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, nil, "", ""),
		"too many paths":            queue.NewBypass(nil, many(queue.MaxBypassRules+1, func(i int) string { return fmt.Sprintf("/p%d", i) }), "", ""),
		"a path twice":              queue.NewBypass(nil, []string{"/health", "/health"}, "", ""),
		"a relative path":           queue.NewBypass(nil, []string{"health"}, "", ""),
		"an empty path":             queue.NewBypass(nil, []string{"/health", ""}, "", ""),
		"a long path":               queue.NewBypass(nil, []string{"/" + strings.Repeat("a", queue.MaxBypassPath)}, "", ""),
		"an escape":                 queue.NewBypass(nil, []string{"/static%2F"}, "", ""),
		"a dot segment":             queue.NewBypass(nil, []string{"/static/../"}, "", ""),
		"a double slash":            queue.NewBypass(nil, []string{"//static/"}, "", ""),
		"a wildcard":                queue.NewBypass(nil, []string{"/static/*"}, "", ""),
		"a query":                   queue.NewBypass(nil, []string{"/health?x"}, "", ""),
		"a trailing dot":            queue.NewBypass(nil, []string{"/health."}, "", ""),
		"a backslash":               queue.NewBypass(nil, []string{`/static\`}, "", ""),
		"a control character":       queue.NewBypass(nil, []string{"/a\x7f"}, "", ""),
		"a header without a secret": queue.NewBypass(nil, nil, "X-Monitor-Key", ""),
		"a secret without a header": queue.NewBypass(nil, nil, "", secret),
		"a short secret":            queue.NewBypass(nil, nil, "X-Monitor-Key", secret[1:]),
		"a long secret":             queue.NewBypass(nil, nil, "X-Monitor-Key", strings.Repeat("s", queue.MaxBypassSecretBytes+1)),
		"a secret with a space":     queue.NewBypass(nil, nil, "X-Monitor-Key", secret+" x"),
		"a non-canonical name":      queue.NewBypass(nil, nil, "x-monitor-key", secret),
		"an underscore":             queue.NewBypass(nil, nil, "X_Monitor_Key", secret),
		"a name not a token":        queue.NewBypass(nil, nil, "X-Monitor Key", secret),
		"a long name":               queue.NewBypass(nil, nil, "X"+strings.Repeat("-a", queue.MaxBypassHeaderName), secret),
		"a digit first":             queue.NewBypass(nil, nil, "1-Key", secret),
		"Crowdgate's own":           queue.NewBypass(nil, nil, "X-Crowdgate-Room", secret),
		"a hop-by-hop header":       queue.NewBypass(nil, nil, "Connection", secret),
		"TE":                        queue.NewBypass(nil, nil, "Te", secret),
		"Authorization":             queue.NewBypass(nil, nil, "Authorization", secret),
		"Cookie":                    queue.NewBypass(nil, nil, "Cookie", secret),
		"a proxy's":                 queue.NewBypass(nil, nil, "X-Forwarded-For", secret),
		"the original URI":          queue.NewBypass(nil, nil, "X-Original-Uri", secret),
		"a body's":                  queue.NewBypass(nil, nil, "Content-Length", secret),
	} {
		r := queue.Room{Name: "x", Bypass: b}.WithDefaults()
		if err := r.Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	ok := queue.NewBypass([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		[]string{"/health", "/static/", "/à-propos"}, "X-Monitor-Key", secret)
	if err := (queue.Room{Name: "x", Bypass: ok}.WithDefaults()).Validate(); err != nil {
		t.Errorf("sound rules refused: %v", err)
	}
}

// TestBypassRulesMatch: networks cover their addresses (IPv4-mapped ones
// too), the header needs exactly the secret, and a path rule covers its
// path, or everything under it when it ends in "/", case and all.
func TestBypassRulesMatch(t *testing.T) {
	secret := "correct-horse-battery"
	b := queue.NewBypass([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		[]string{"/health", "/static/"}, "X-Monitor-Key", secret)
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "2001:db8::7": true,
		"11.0.0.1": false, "2001:db9::1": false, "": false,
	} {
		a, _ := netip.ParseAddr(addr)
		if got := b.Covers(a); got != want {
			t.Errorf("Covers(%q) = %v, want %v", addr, got, want)
		}
	}
	for _, c := range []struct {
		values []string
		want   bool
	}{
		{[]string{secret}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{secret + "x"}, false},
		{[]string{secret[:len(secret)-1]}, false},
		{[]string{strings.ToUpper(secret)}, false},
		{[]string{secret, secret}, false},
	} {
		if got := b.HasSecret(c.values); got != c.want {
			t.Errorf("HasSecret(%q) = %v, want %v", c.values, got, c.want)
		}
	}
	if (queue.Bypass{}).HasSecret([]string{""}) {
		t.Error("no header rule took an empty value")
	}
	for p, want := range map[string]bool{
		"/health": true, "/health/": false, "/healthz": false, "/Health": false,
		"/static/": true, "/static/a.css": true, "/static/a/b.js": true, "/static": false, "/STATIC/a.css": false, "/": false,
	} {
		if got := b.CoversPath(p); got != want {
			t.Errorf("CoversPath(%q) = %v, want %v", p, got, want)
		}
	}
	if got := b.CIDRs(); len(got) != 2 || got[1] != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("CIDRs() = %v", got)
	}
	if got := b.Paths(); len(got) != 2 || got[0] != "/health" {
		t.Errorf("Paths() = %v", got)
	}
	if (queue.Bypass{}).CIDRs() != nil || (queue.Bypass{}).Paths() != nil || !(queue.Bypass{}).IsZero() || b.IsZero() {
		t.Error("the zero Bypass is not empty, or b is")
	}
}

// TestBypassRulesAreStoredAndCounted: a room's rules come back from the
// store as they went in (a room stays comparable), a PATCH of other
// fields keeps them, and the counts each instance adds show in the
// room's stats, by rule.
func TestBypassRulesAreStoredAndCounted(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		want := queue.Room{Name: "by", AdmitPerMinute: 60, Bypass: queue.NewBypass(
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
			[]string{"/health", "/static/"}, "X-Monitor-Key", "0123456789abcdef")}.WithDefaults()
		mustRoom(t, s, want)
		got, err := s.GetRoom(ctx, "by")
		if err != nil {
			t.Fatal(err)
		}
		if got.Bypass != want.Bypass {
			t.Fatalf("stored %+v, want %+v", got.Bypass, want.Bypass)
		}
		next := got
		next.AdmitPerMinute = 120
		if err := s.UpdateRoom(ctx, got, next); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetRoom(ctx, "by"); got.Bypass != want.Bypass || got.AdmitPerMinute != 120 {
			t.Fatalf("after a PATCH of the rate: %+v", got)
		}
		if st, err := s.Stats(ctx, "by"); err != nil || st.Bypassed != nil {
			t.Fatalf("counts before any: %v %v", st.Bypassed, err)
		}
		for range 2 {
			if err := s.AddBypasses(ctx, map[string]map[string]int64{"by": {queue.BypassCIDR: 2, queue.BypassPath: 5}}); err != nil {
				t.Fatal(err)
			}
		}
		st, err := s.Stats(ctx, "by")
		if err != nil {
			t.Fatal(err)
		}
		if st.Bypassed[queue.BypassCIDR] != 4 || st.Bypassed[queue.BypassPath] != 10 || st.Bypassed[queue.BypassHeader] != 0 {
			t.Fatalf("counts %v", st.Bypassed)
		}
		// Cleared: the field goes empty, and reads back as no rules.
		cleared := next
		cleared.Bypass = queue.Bypass{}
		if err := s.UpdateRoom(ctx, next, cleared); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetRoom(ctx, "by"); !got.Bypass.IsZero() {
			t.Fatalf("cleared rules read back as %+v", got.Bypass)
		}
	})
}
