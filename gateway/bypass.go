package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// A room's bypass rules (queue/bypass.go) let some requests through forward
// auth and the reverse proxy without an admission: from the room's
// networks, with its secret header, or to its paths. Such a request is not
// a visitor: it takes no place and no active-user slot, gets no admission
// cookie, and the origin is told nothing about it (no X-Crowdgate-Room).
// Each one is counted, by rule, in crowdgate_bypass_total and in the
// room's stats. Package guard, which checks admissions inside an origin,
// has no bypass rules: the origin decides itself which of its handlers it
// guards, and guard never reads a room's configuration.

// errBypassed is enter's answer for a request a bypass rule lets through.
var errBypassed = errors.New("gateway: passed by a bypass rule")

// bypassed reports whether one of room's bypass rules lets the request
// through, and counts it if so. Rules are read from the controller's
// cache, so they hold while the store is unreachable.
func (s *Server) bypassed(c echo.Context, room string, forwardAuth bool) bool {
	rm, err := s.ctl.Room(c.Request().Context(), room)
	if err != nil || rm.Bypass.IsZero() {
		return false
	}
	rule := bypassRule(c, rm.Bypass, forwardAuth, s.bypassAddr(c, forwardAuth))
	if rule == "" {
		return false
	}
	s.ctl.CountBypass(room, rule)
	return true
}

// bypassRule is the rule of b that lets the request through ("" for none),
// judged in the order of queue.BypassRules; addr is the client's address
// (see bypassAddr).
func bypassRule(c echo.Context, b queue.Bypass, forwardAuth bool, addr netip.Addr) string {
	r := c.Request()
	switch {
	case b.Header != "" && b.HasSecret(r.Header[b.Header]):
		return queue.BypassHeader
	case b.Covers(addr):
		return queue.BypassCIDR
	case pathsBypassed(r, b, forwardAuth):
		return queue.BypassPath
	}
	return ""
}

// bypassAddr is the client address that networks are judged by: the one
// the rest of the gateway uses (behind --trusted-proxies, the forwarded
// one), but only when it is the client's. A forward-auth check comes from
// the proxy, so its address is the client's only when the proxy is one of
// --trusted-proxies and says whom it asks for (X-Forwarded-For); and a
// trusted proxy that forwards no X-Forwarded-For leaves its own address.
// Otherwise the zero Addr, which no network covers: a rule covering the
// proxy's own address must not let everyone through.
func (s *Server) bypassAddr(c echo.Context, forwardAuth bool) netip.Addr {
	r := c.Request()
	trusted := s.fromTrustedProxy(r)
	if forwardAuth && !trusted || trusted && len(r.Header["X-Forwarded-For"]) == 0 {
		return netip.Addr{}
	}
	return realAddr(c)
}

// pathsBypassed reports whether b's paths cover the request: for the
// reverse proxy its path, for forward auth every original URI the check
// names (the proxy's and any a client added; at least one), each under
// every reading the routes give it (see Routes.Rooms). A client can add
// spellings to lift a protection; it must not lift it with them.
func pathsBypassed(r *http.Request, b queue.Bypass, forwardAuth bool) bool {
	if !b.HasPaths() {
		return false
	}
	if !forwardAuth {
		return readingsCovered(r.URL.EscapedPath(), b)
	}
	n := 0
	for _, h := range originalURIHeaders {
		for _, v := range r.Header[h] {
			if !readingsCovered(v, b) {
				return false
			}
			n++
		}
	}
	if strings.HasPrefix(r.URL.Path, checkPathPrefix) {
		if !readingsCovered(pathFormPath(r), b) {
			return false
		}
		n++
	}
	return n > 0
}

// readingsCovered reports whether every reading of uri's path (as
// appendRooms reads it) is one of b's paths, or under one ending in "/". A
// path that cannot be read safely, or costs more than an ordinary one to
// read, is covered by none.
func readingsCovered(uri string, b queue.Bypass) bool {
	raw := requestPath(uri)
	forks, err := readingsOf(raw)
	if err != nil {
		return false
	}
	if n := bits.OnesCount8(uint8(forks)); n > maxForks || n > 0 && len(raw)<<n > readingBudget {
		return false
	}
	for sub := reading(0); ; sub = ((sub | ^forks) + 1) & forks {
		if !b.CoversPath(read(raw, sub)) {
			return false
		}
		if sub == forks {
			return true
		}
	}
}

// bypassHeaders are the secret headers of rooms' bypass rules, which the
// reverse proxy keeps from the origin (stripBypassHeaders): the secret is
// Crowdgate's to check, not the origin's to log.
func (s *Server) bypassHeaders(ctx context.Context, rooms []string) []string {
	var out []string
	for _, room := range rooms {
		if rm, err := s.ctl.Room(ctx, room); err == nil && rm.Bypass.Header != "" {
			out = append(out, rm.Bypass.Header)
		}
	}
	return out
}

// stripBypassHeaders removes from h, the headers the reverse proxy sends
// the origin for in, the bypassHeaders of the rooms that protect it. On a
// path no room protects there is no rule, and nothing to remove.
func stripBypassHeaders(in *http.Request, h http.Header) {
	if call, ok := in.Context().Value(proxyCallKey{}).(*proxyCall); ok {
		for _, name := range call.strip {
			delete(h, name)
		}
	}
}

// checkBypass refuses bypass rules applyBypass cannot represent: networks
// that do not parse, and lists or paths past their bounds. Room.Validate
// sees the rest.
func checkBypass(b *api.BypassRequest) error {
	if b == nil {
		return nil
	}
	if b.CIDRs != nil {
		if len(*b.CIDRs) > queue.MaxBypassRules {
			return invalidRoom(fmt.Sprintf("bypass.cidrs: at most %d networks", queue.MaxBypassRules))
		}
		for _, c := range *b.CIDRs {
			if _, err := queue.ParseBypassCIDR(c); err != nil {
				return invalidRoom(err.Error())
			}
		}
	}
	if b.Paths != nil {
		if len(*b.Paths) > queue.MaxBypassRules {
			return invalidRoom(fmt.Sprintf("bypass.paths: at most %d paths", queue.MaxBypassRules))
		}
		for _, p := range *b.Paths {
			if err := queue.ValidBypassPath(p); err != nil {
				return invalidRoom(err.Error())
			}
		}
	}
	return nil
}

// applyBypass returns cur with the rules b gives (see api.BypassRequest).
func applyBypass(b api.BypassRequest, cur queue.Bypass) queue.Bypass {
	cidrs, paths, header, secret := cur.CIDRs(), cur.Paths(), cur.Header, cur.Secret
	if b.CIDRs != nil {
		cidrs = cidrs[:0:0]
		for _, c := range *b.CIDRs {
			if p, err := queue.ParseBypassCIDR(c); err == nil { // checkBypass refused the others
				cidrs = append(cidrs, p)
			}
		}
	}
	if b.Paths != nil {
		paths = *b.Paths
	}
	if h := b.Header; h != nil {
		if h.Name != nil {
			header = http.CanonicalHeaderKey(*h.Name)
			if header == "" {
				secret = ""
			}
		}
		switch {
		case h.Secret != nil:
			secret = *h.Secret
		case h.SecretSet != nil && !*h.SecretSet:
			secret = ""
		}
	}
	return queue.NewBypass(cidrs, paths, header, secret)
}

// toBypass is a room's bypass rules as organizers read them: never the
// secret.
func toBypass(b queue.Bypass) api.Bypass {
	out := api.Bypass{CIDRs: []string{}, Paths: append([]string{}, b.Paths()...), Header: api.BypassHeader{Name: b.Header, SecretSet: b.Secret != ""}}
	for _, p := range b.CIDRs() {
		out.CIDRs = append(out.CIDRs, p.String())
	}
	return out
}

// toBypassCounts is what a room's bypass rules let through, for its stats:
// nil for a room that has no rules and never let anything through.
func toBypassCounts(b queue.Bypass, counts map[string]int64) *api.BypassCounts {
	if b.IsZero() && counts == nil {
		return nil
	}
	return &api.BypassCounts{CIDR: counts[queue.BypassCIDR], Header: counts[queue.BypassHeader], Path: counts[queue.BypassPath]}
}

// keepsBypassSecret reports whether b asks to keep the room's stored
// bypass secret (secret_set true, no secret): a document read back from
// GET, which shows only that a secret is set.
func keepsBypassSecret(b api.RoomRequest) bool {
	h := b.Bypass
	return h != nil && h.Header != nil && h.Header.Secret == nil && h.Header.SecretSet != nil && *h.Header.SecretSet
}

// keepBypassSecret gives r, a room a PUT replaces, the stored room's
// bypass secret when the document asks to keep it.
func (s *Server) keepBypassSecret(ctx context.Context, b api.RoomRequest, r *queue.Room) error {
	if !keepsBypassSecret(b) || r.Bypass.Header == "" {
		return nil
	}
	cur, err := s.cfg.Store.GetRoom(ctx, r.Name)
	if err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
		return err
	}
	if cur.Bypass.Secret == "" {
		return invalidRoom("bypass.header.secret_set is true but no secret is stored: give secret")
	}
	r.Bypass = queue.NewBypass(r.Bypass.CIDRs(), r.Bypass.Paths(), r.Bypass.Header, cur.Bypass.Secret)
	return nil
}
