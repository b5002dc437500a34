package gateway

import (
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/queue"
)

// FuzzBypassPaths: a URI that a path rule covers under every reading is
// never one a route on another path protects under any reading: no
// spelling lets a bypass path reach a protected page outside it.
func FuzzBypassPaths(f *testing.F) {
	for _, c := range [][2]string{
		{"/static/", "/static/../checkout/x"}, {"/static/", "/static/%2e%2e/checkout/"}, {"/static/", `/static/..\checkout`},
		{"/static/", "/static/..;/checkout"}, {"/static/", "/static/%252e%252e/checkout"}, {"/static/", "/static/．．/checkout"},
		{"/health", "/health"}, {"/health", "/health?x=/checkout/"}, {"/health", "http://h/health"}, {"/static/", "/static/a.css"},
	} {
		f.Add(c[0], c[1])
	}
	routes, err := ParseRoutes("/checkout/=launch")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rule, uri string) {
		if queue.ValidBypassPath(rule) != nil {
			return
		}
		if r := foldCase(rule); strings.HasPrefix(r, "/checkout") || strings.HasPrefix("/checkout/", r) {
			return // the rule itself is on the protected path
		}
		b := queue.NewBypass(nil, []string{rule}, "", "")
		if !readingsCovered(uri, b) {
			return
		}
		rooms, err := routes.Rooms(uri)
		if err != nil || len(rooms) > 0 {
			t.Fatalf("%q is covered by bypass path %q, but the routes judge it %q (%v)", uri, rule, rooms, err)
		}
	})
}
