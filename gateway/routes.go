package gateway

import (
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/crowdgate/crowdgate/queue"
)

// Route protects every path that starts with Prefix with the waiting room Room.
type Route struct {
	Prefix string
	Room   string
}

// Routes are path rules; the longest matching prefix wins.
type Routes []Route

// ParseRoutes reads rules of the form "prefix=room", each spec a
// comma-separated list (CROWDGATE_ROUTES, or repeated --route flags). A
// trailing "*" on a prefix is allowed and ignored: "/checkout/*" is
// "/checkout/".
func ParseRoutes(specs ...string) (Routes, error) {
	var rs Routes
	seen := map[string]bool{}
	for _, spec := range specs {
		for _, rule := range strings.Split(spec, ",") {
			rule = strings.TrimSpace(rule)
			if rule == "" {
				continue
			}
			prefix, room, ok := strings.Cut(rule, "=")
			prefix, room = strings.TrimSpace(prefix), strings.TrimSpace(room)
			if !ok || !strings.HasPrefix(prefix, "/") {
				return nil, fmt.Errorf("route %q: want path-prefix=room, the prefix starting with /", rule)
			}
			if !queue.ValidID(room) {
				return nil, fmt.Errorf("route %q: room %q is not a valid id", rule, room)
			}
			prefix = strings.TrimSuffix(prefix, "*")
			if seen[prefix] {
				return nil, fmt.Errorf("route %q: prefix %q given twice", rule, prefix)
			}
			seen[prefix] = true
			rs = append(rs, Route{Prefix: prefix, Room: room})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Prefix) > len(rs[j].Prefix) })
	return rs, nil
}

// Match returns the room protecting uri (a path, optionally with a query),
// and false when no rule covers it. The path is decoded and cleaned first, so
// "/static/../checkout" and "/%63heckout" are judged as "/checkout".
func (rs Routes) Match(uri string) (string, bool) {
	p := cleanPath(uri)
	for _, r := range rs {
		if strings.HasPrefix(p, r.Prefix) || p+"/" == r.Prefix {
			return r.Room, true
		}
	}
	return "", false
}

// cleanPath turns a request URI into the canonical path routes are matched
// against. Anything unparsable is treated as "/" so that a route on "/"
// still protects it.
func cleanPath(uri string) string {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	// An absolute-form URI (http://host/path) is judged by its path. A
	// path that merely starts with "//" is a path: origins serve it as such.
	if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
		if u, err := url.Parse(uri); err == nil {
			uri = u.EscapedPath()
		}
	}
	if p, err := url.PathUnescape(uri); err == nil {
		uri = p
	}
	uri = strings.ReplaceAll(uri, "\\", "/")
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	c := path.Clean(uri)
	if strings.HasSuffix(uri, "/") && c != "/" {
		c += "/"
	}
	return c
}
