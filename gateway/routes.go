package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/queue"
)

// Route protects every path that starts with Prefix, on the hosts Host
// names, with the waiting room Room.
type Route struct {
	// Host is "" for every host, a host name ("shop.example.com"), or "*."
	// and a domain ("*.example.com": every name under the domain, at any
	// depth, but not the domain itself). Lower-case ASCII (an
	// internationalized name in punycode), without a port or a trailing
	// dot; an IPv6 address in brackets, in its canonical form.
	Host   string
	Prefix string // decoded and case-folded: paths are matched regardless of case
	Room   string
}

// Routes are host and path rules. Of the rules that cover a request's
// path, one naming its host wins over one whose wildcard covers its host,
// which wins over one that names no host; within each of those, the
// longest prefix wins (and, between wildcards with prefixes of one
// length, the longer domain). A rule that does not cover the path never
// hides another: "shop.example.com/vip/=vip" leaves "/checkout/=launch" in
// force on shop.example.com.
type Routes []Route

// ErrUnreadablePath means a request path cannot be matched against the
// routes safely: an escape that does not decode, a control character once
// decoded, escapes still left after two decodes, or so many oddities (or so
// long a path with them) that judging it would cost far more than judging
// an ordinary one. Such a path is refused, never taken for unprotected.
var ErrUnreadablePath = errors.New("gateway: the request path cannot be read safely")

// ErrUnreadableHost means a host a request names cannot be matched against
// rules that name hosts: anything but a host name (letters, digits, "-" and
// "_" in dot-separated labels) or a bracketed IPv6 address, with an
// optional port and trailing dot; no host at all; or more hosts than an
// ordinary request names. It is also ErrUnreadablePath, so that whatever
// refuses an unreadable path refuses an unreadable host too: never taken
// for unprotected.
var ErrUnreadableHost error = unreadableHost{}

type unreadableHost struct{}

func (unreadableHost) Error() string { return "gateway: the request's host cannot be read safely" }

func (unreadableHost) Is(target error) bool { return target == ErrUnreadablePath }

// ParseRoutes reads rules of the form "[host]/prefix=room", each spec a
// comma-separated list (CROWDGATE_ROUTES, repeated --route flags, or the
// config file's routes). A rule without a host covers every host; a host
// is a name ("shop.example.com/checkout/=launch"), "*." and a domain
// ("*.example.com/=launch": its subdomains, not itself) or a bracketed
// IPv6 address, matched regardless of case and whatever the request's
// port; a whole host is "host/=room". A trailing "*" on a prefix is
// allowed and ignored: "/checkout/*" is "/checkout/". Prefixes match
// regardless of case, so two rules that differ only in the case of their
// host or prefix are one rule given twice: an error, as is anything else
// that could not be matched as written.
func ParseRoutes(specs ...string) (Routes, error) {
	var rs Routes
	seen := map[string]bool{}
	for _, spec := range specs {
		for _, rule := range strings.Split(spec, ",") {
			rule = strings.TrimSpace(rule)
			if rule == "" {
				continue
			}
			left, room, ok := strings.Cut(rule, "=")
			left, room = strings.TrimSpace(left), strings.TrimSpace(room)
			host, prefix := "", left
			if i := strings.IndexByte(left, '/'); !strings.HasPrefix(left, "/") {
				if !ok || i <= 0 {
					return nil, fmt.Errorf("route %q: want [host]/path-prefix=room, the prefix starting with / (a whole host is host/=room)", rule)
				}
				h, err := ruleHost(left[:i])
				if err != nil {
					return nil, fmt.Errorf("route %q: %w", rule, err)
				}
				host, prefix = h, left[i:]
			}
			if !ok {
				return nil, fmt.Errorf("route %q: want [host]/path-prefix=room", rule)
			}
			if !queue.ValidID(room) {
				return nil, fmt.Errorf("route %q: room %q is not a valid id", rule, room)
			}
			prefix, err := routePrefix(strings.TrimSuffix(prefix, "*"))
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", rule, err)
			}
			switch key := host + prefix; {
			case seen[key] && host == "":
				return nil, fmt.Errorf("route %q: prefix %q given twice (prefixes match regardless of case)", rule, prefix)
			case seen[key]:
				return nil, fmt.Errorf("route %q: host %q and prefix %q given twice (hosts and prefixes match regardless of case)", rule, host, prefix)
			default:
				seen[key] = true
			}
			rs = append(rs, Route{Host: host, Prefix: prefix, Room: room})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if ca, cb := a.class(), b.class(); ca != cb {
			return ca < cb
		}
		if len(a.Prefix) != len(b.Prefix) {
			return len(a.Prefix) > len(b.Prefix)
		}
		return len(a.Host) > len(b.Host)
	})
	return rs, nil
}

// routePrefix returns a route's prefix as request paths are compared with
// it: decoded and case-folded. A prefix that no reading of a request path
// could produce (a dot segment, "//", one of ; \ ? # %, a control
// character, a segment ending in a dot or a space) is an error, not a rule
// that silently never matches.
func routePrefix(p string) (string, error) {
	d, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("prefix %q: %w", p, err)
	}
	if strings.ContainsAny(d, `;\?#%`) || hasControl(d) || !utf8.ValidString(d) {
		return "", fmt.Errorf(`prefix %q: ; \ ? # %% and control characters cannot be matched reliably`, p)
	}
	segs := strings.Split(d[1:], "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 || seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q: write it without empty, . or .. segments", p)
		}
		if seg != "" && (seg[len(seg)-1] == '.' || seg[len(seg)-1] == ' ') {
			return "", fmt.Errorf("prefix %q: some origins drop a segment's trailing dots and spaces; write it without", p)
		}
	}
	return foldCase(d), nil
}

// Host classes, in the order they win.
const (
	exactHost = iota
	wildcardHost
	anyHost
)

func (r Route) class() int {
	switch {
	case r.Host == "":
		return anyHost
	case r.Host[0] == '*':
		return wildcardHost
	}
	return exactHost
}

// on reports whether the rule applies on host, a host as readHost returns
// it ("" for none: only rules that name no host apply).
func (r Route) on(host string) bool {
	switch {
	case r.Host == "":
		return true
	case r.Host[0] == '*':
		return len(host) > len(r.Host)-1 && strings.HasSuffix(host, r.Host[1:])
	}
	return r.Host == host
}

// ruleHost returns the host of a rule as requests' hosts are compared
// with it, or an error that says how to write it.
func ruleHost(h string) (string, error) {
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			return "", fmt.Errorf("host %q: write an internationalized name in punycode, as browsers send it (xn--...)", h)
		}
	}
	wild := strings.HasPrefix(h, "*.")
	name := h
	if wild {
		name = h[2:]
	}
	switch {
	case strings.Contains(name, "*"):
		return "", fmt.Errorf(`host %q: a wildcard is "*." and a domain, "*.example.com": one leading label, nothing else (a rule without a host covers every host)`, h)
	case strings.Contains(strings.TrimPrefix(name, "["), "]:") || !strings.HasPrefix(name, "[") && strings.Contains(name, ":"):
		return "", fmt.Errorf("host %q: write host/path, without a scheme or a port (a host is matched whatever the request's port)", h)
	}
	n, ok := readHost(name)
	if !ok || n == "" {
		return "", fmt.Errorf(`host %q: not a host name (letters, digits, "-" and "_" in dot-separated labels) or a bracketed IPv6 address`, h)
	}
	if wild {
		if n[0] == '[' {
			return "", fmt.Errorf("host %q: a wildcard covers the names under a domain, not an address", h)
		}
		return "*." + n, nil
	}
	return n, nil
}

// readHost returns h, a host as a request names it (a Host header's
// value, an absolute URI's authority), as rules are compared with it:
// lower case, without its port and one trailing dot, an IPv6 address in
// its canonical form; "" for "". ok is false when h is anything else (see
// ErrUnreadableHost): percent escapes, characters beyond ASCII, empty
// labels, a zone, a port that is not a number.
func readHost(h string) (host string, ok bool) {
	if h == "" {
		return "", true
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || !isPort(h[end+1:]) {
			return "", false
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false
		}
		return "[" + a.String() + "]", true
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !isPort(h[i:]) {
			return "", false
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if !isHostName(h) {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h), true
		}
	}
	return h, true
}

// isPort reports whether s is empty or ":" and up to five digits.
func isPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isHostName reports whether h is dot-separated labels of 1 to 63 letters,
// digits, "-" and "_", 253 bytes at most.
func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c|0x20 && c|0x20 <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

// namesHosts reports whether some rule names a host. When none does, a
// request's hosts are not read at all: every rule covers every host.
func (rs Routes) namesHosts() bool {
	for _, r := range rs {
		if r.Host != "" {
			return true
		}
	}
	return false
}

// maxHosts is how many hosts that rules tell apart a request may name
// (its Host, X-Forwarded-Host, an absolute original URI's): a proxy or
// two name one or two. Each costs one more match per reading of the path.
const maxHosts = 8

// addHost appends to hosts raw, a host as a request names it (see
// readHost), unless hosts holds it already. A host that no rule names is
// added as "", where only rules that name no host apply. An unreadable
// host is ErrUnreadableHost; an empty one is left out. When no rule names
// a host, hosts are never read, and addHost does nothing.
func (rs Routes) addHost(hosts []string, raw string) ([]string, error) {
	if raw == "" || !rs.namesHosts() {
		return hosts, nil
	}
	h, ok := readHost(raw)
	if !ok {
		return hosts, ErrUnreadableHost
	}
	if !rs.named(h) {
		h = ""
	}
	if slices.Contains(hosts, h) {
		return hosts, nil
	}
	if len(hosts) == maxHosts {
		return hosts, ErrUnreadableHost
	}
	return append(hosts, h), nil
}

// addHostList is addHost for each host of a comma-separated list, as
// proxies append to X-Forwarded-Host.
func (rs Routes) addHostList(hosts []string, list string) ([]string, error) {
	if !rs.namesHosts() {
		return hosts, nil
	}
	for h := range strings.SplitSeq(list, ",") {
		var err error
		if hosts, err = rs.addHost(hosts, strings.TrimSpace(h)); err != nil {
			return hosts, err
		}
	}
	return hosts, nil
}

// addURIHost is addHost for the host of uri, a request target, when it is
// an absolute URI ("http://user@host:port/path"); a path names no host.
func (rs Routes) addURIHost(hosts []string, uri string) ([]string, error) {
	authority, ok := uriAuthority(uri)
	if !ok {
		return hosts, nil
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	return rs.addHost(hosts, authority)
}

// named reports whether a rule names host (exactly or by a wildcard).
func (rs Routes) named(host string) bool {
	for _, r := range rs {
		if r.Host != "" && r.on(host) {
			return true
		}
	}
	return false
}

// Rooms returns the rooms that protect uri, a request target as a proxy
// forwards it (a path with or without its query, or an absolute URI): none
// when no route covers any reading of its path, the plain reading's room
// first. A visitor passes only with an admission for each. An unreadable
// path is ErrUnreadablePath. An absolute URI is judged on its host too; a
// path alone, by the rules that name no host (RoomsOn judges it on a
// request's host).
//
// Origins read one path in different ways (see reading), and a route
// protects the path if it covers any of them: no spelling of a protected
// path is judged unprotected.
func (rs Routes) Rooms(uri string) ([]string, error) {
	var buf [1]string
	hosts, err := rs.addURIHost(buf[:0], uri)
	if err != nil {
		return nil, err
	}
	return rs.appendRooms(nil, hosts, uri)
}

// RoomsOn is Rooms for a request to host, as its Host header names it
// (port and all): the rooms of uri on host and, when uri is absolute, on
// the host it names too. A host that is unreadable, or none where some
// rule names a host, is ErrUnreadableHost: an origin would serve such a
// request from a site Crowdgate cannot tell.
func (rs Routes) RoomsOn(host, uri string) ([]string, error) {
	var buf [2]string
	hosts, err := rs.addHost(buf[:0], host)
	if err == nil {
		hosts, err = rs.addURIHost(hosts, uri)
	}
	if err == nil && len(hosts) == 0 && rs.namesHosts() {
		err = ErrUnreadableHost
	}
	if err != nil {
		return nil, err
	}
	return rs.appendRooms(nil, hosts, uri)
}

// appendRooms is Rooms on each of hosts (as addHost gives them; none: by
// the rules that name no host), appending to dst and leaving out rooms dst
// holds already: the check keeps a small buffer on its stack.
func (rs Routes) appendRooms(dst []string, hosts []string, uri string) ([]string, error) {
	raw := requestPath(uri)
	forks, err := readingsOf(raw)
	if err != nil {
		return dst, err
	}
	if n := bits.OnesCount8(uint8(forks)); n > maxForks || n > 0 && len(raw)<<n > readingBudget {
		return dst, ErrUnreadablePath
	}
	if len(hosts) == 0 {
		hosts = noHost[:]
	}
	longest := 0
	for _, r := range rs {
		longest = max(longest, len(r.Prefix))
	}
	// Every subset of the readings the path makes possible, the plain one
	// (none) first; a path with nothing special has just that one.
	for sub := reading(0); ; sub = ((sub | ^forks) + 1) & forks {
		p := read(raw, sub)
		for _, host := range hosts {
			if room, ok := rs.match(host, p, longest); ok && !slices.Contains(dst, room) {
				dst = append(dst, room)
			}
		}
		if sub == forks {
			return dst, nil
		}
	}
}

var noHost = [1]string{""}

// A crafted path must cost about what an ordinary one does, so one that
// needs more than maxForks of the readings is unreadable, and so is one
// whose readings add up to more than readingBudget bytes (its length times
// their number): with one reading besides the plain one (2 combinations) a
// path may be 4 KiB long, with three (8) 1 KiB. Ordinary paths need none,
// and are judged whatever their length.
const (
	maxForks      = 4
	readingBudget = 8 << 10
)

// match returns the room of the first rule (in the order ParseRoutes
// sorts them: see Routes) that applies on host and covers p, a read path;
// longest is the length of the longest prefix. A prefix with a trailing
// slash covers the path without it too: a route on "/checkout/" protects
// "/checkout".
func (rs Routes) match(host, p string, longest int) (string, bool) {
	if len(rs) == 0 {
		return "", false
	}
	// Only the start of p can meet a prefix. Case folding shrinks a
	// character to no less than a third of its bytes.
	if n := 4 * (longest + 1); len(p) > n {
		p = p[:n]
	}
	p = foldCase(p)
	for _, r := range rs {
		if !r.on(host) {
			continue
		}
		if strings.HasPrefix(p, r.Prefix) || len(r.Prefix) == len(p)+1 && r.Prefix[len(p)] == '/' && strings.HasPrefix(r.Prefix, p) {
			return r.Room, true
		}
	}
	return "", false
}

// A reading is one way an origin may read a request path: the set of
// normalizations it applies after decoding it once. A path is judged under
// every combination of those its characters make possible.
type reading uint8

const (
	decodedTwice  reading = 1 << iota // decoded a second time (behind a decoding proxy, or by the framework)
	slashesKept                       // an escaped "/" or "\" stays inside its segment (Go's ServeMux, Apache's default)
	backslashes                       // "\" separates segments (IIS and other Windows servers)
	queryCut                          // a decoded "?" or "#" ends the path (origins that parse the decoded path again)
	paramsDropped                     // ";params" are dropped from each segment (servlet containers)
	dotsDropped                       // trailing dots and spaces are dropped from each segment (Windows)
	widthFolded                       // fullwidth forms are read as ASCII (Windows' "best fit" mapping)
)

// requestPath is the path of a request target: the query and fragment cut
// off, an absolute URI ("http://host/path") reduced to its path. Anything
// else is taken as a path, "//" at its start included: origins serve it as
// one.
func requestPath(uri string) string {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	if authority, ok := uriAuthority(uri); ok {
		rest := uri[strings.Index(uri, "://")+3+len(authority):]
		if rest == "" {
			return "/"
		}
		return rest
	}
	return uri
}

// uriAuthority returns the authority of uri ("user@host:port") when it is
// an absolute URI, as requestPath reads one: up to the first "/" or "\"
// (or "?" or "#").
func uriAuthority(uri string) (string, bool) {
	i := strings.Index(uri, "://")
	if i <= 0 || !isScheme(uri[:i]) {
		return "", false
	}
	rest := uri[i+3:]
	if j := strings.IndexAny(rest, `/\?#`); j >= 0 {
		rest = rest[:j]
	}
	return rest, true
}

// isScheme reports whether s is a URI scheme (RFC 3986, section 3.1).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c|0x20 && c|0x20 <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// readingsOf returns the readings that raw's characters make possible, or
// ErrUnreadablePath.
func readingsOf(raw string) (reading, error) {
	forks, control := triggers(raw)
	fullest := raw
	if strings.IndexByte(raw, '%') >= 0 {
		once, err := url.PathUnescape(raw)
		if err != nil {
			return 0, ErrUnreadablePath
		}
		fullest = once
		if hasEscape(once) {
			forks |= decodedTwice
			fullest = unescape(once, false)
			if hasEscape(fullest) {
				return 0, ErrUnreadablePath // three levels of escapes: no origin means that
			}
		}
		if hasEscapedSeparator(raw) || forks&decodedTwice != 0 && hasEscapedSeparator(once) {
			forks |= slashesKept
		}
		f, c := triggers(once)
		forks, control = forks|f, control || c
		f, c = triggers(fullest)
		forks, control = forks|f, control || c
	}
	if control {
		return 0, ErrUnreadablePath
	}
	if forks&widthFolded != 0 {
		f, _ := triggers(strings.Map(narrow, fullest))
		forks |= f
	}
	return forks, nil
}

// triggers returns the readings that s's characters make possible, and
// whether it holds a control character. It may name a reading that turns
// out to change nothing: that costs one more match, never a wrong answer.
func triggers(s string) (forks reading, control bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			forks |= backslashes
		case '?', '#':
			forks |= queryCut
		case ';':
			forks |= paramsDropped
		case '.', ' ':
			if (i+1 == len(s) || isSegmentEnd(s[i+1])) && !isDotSegment(s, i) {
				forks |= dotsDropped
			}
		case 0xEF: // U+FF01 to U+FF5E are EF BC 81 to EF BD 9E
			if i+1 < len(s) && (s[i+1] == 0xBC || s[i+1] == 0xBD) {
				forks |= widthFolded
			}
		default:
			if c < 0x20 || c == 0x7f {
				control = true
			}
		}
	}
	return forks, control
}

// isSegmentEnd reports whether c may end a segment in some reading.
func isSegmentEnd(c byte) bool {
	return c == '/' || c == '\\' || c == ';' || c == '?' || c == '#'
}

// isDotSegment reports whether the segment that ends at s[i] is "." or "..".
func isDotSegment(s string, i int) bool {
	j := i
	for j >= 0 && s[j] == '.' {
		j--
	}
	return 1 <= i-j && i-j <= 2 && (j < 0 || s[j] == '/' || s[j] == '\\')
}

// read returns raw as the given reading reads it: decoded, normalized, and
// cleaned of dot segments and "//". It makes one pass over the decoded
// path: a crafted path has up to 2^maxForks readings.
func read(raw string, sub reading) string {
	p := raw
	if strings.IndexByte(p, '%') >= 0 {
		p = unescape(p, sub&slashesKept != 0)
		if sub&decodedTwice != 0 {
			p = unescape(p, sub&slashesKept != 0)
		}
	}
	if sub&(widthFolded|backslashes|queryCut|paramsDropped|dotsDropped) == 0 {
		return cleanPath(p)
	}
	b := make([]byte, 0, len(p))
	seg, param := 0, false // where the segment starts in b; inside its ;params
	for i := 0; i < len(p); {
		c, n := p[i], 1
		if c >= utf8.RuneSelf && sub&widthFolded != 0 {
			r, size := utf8.DecodeRuneInString(p[i:])
			if m := narrow(r); m != r {
				c, n = byte(m), size
			}
		}
		i += n
		switch {
		case c == '\\' && sub&backslashes != 0, c == '/':
			b = append(endSegment(b, seg, sub), '/')
			seg, param = len(b), false
		case (c == '?' || c == '#') && sub&queryCut != 0:
			i = len(p)
		case param:
		case c == ';' && sub&paramsDropped != 0:
			param = true
		default:
			b = append(b, c)
		}
	}
	return cleanPath(string(endSegment(b, seg, sub)))
}

// endSegment drops the trailing dots and spaces of the segment b[seg:] in
// the readings that do ("..." and ".. " step up on Windows).
func endSegment(b []byte, seg int, sub reading) []byte {
	if sub&dotsDropped == 0 {
		return b
	}
	s := b[seg:]
	if string(s) == "." || string(s) == ".." {
		return b
	}
	n := len(s)
	for n > 0 && (s[n-1] == '.' || s[n-1] == ' ') {
		n--
	}
	if n == 0 && bytes.Contains(s, dotDot) {
		return append(b[:seg], dotDot...)
	}
	return b[:seg+n]
}

var dotDot = []byte("..")

// cleanPath resolves dot segments and "//" as origins do, keeping a
// trailing slash.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if c == "/" || !strings.HasSuffix(p, "/") {
		return c
	}
	if strings.HasPrefix(p, c) && p[len(c)] == '/' {
		return p[:len(c)+1] // no allocation for the common "/checkout/"
	}
	return c + "/"
}

// unescape decodes every valid %XX escape of s and leaves anything else as
// it is; with keepSeparators, escaped "/" and "\" stay escaped.
func unescape(s string, keepSeparators bool) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			if !keepSeparators || v != '/' && v != '\\' {
				b = append(b, v)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// hasEscape reports whether s still holds a %XX escape.
func hasEscape(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0 && i+2 < len(s); {
		if isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// hasEscapedSeparator reports whether s holds %2F or %5C, in any case.
func hasEscapedSeparator(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && (s[i+1] == '2' && s[i+2]|0x20 == 'f' || s[i+1] == '5' && s[i+2]|0x20 == 'c') {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// narrow maps the fullwidth forms of ASCII (U+FF01 to U+FF5E) to ASCII.
func narrow(r rune) rune {
	if 0xFF01 <= r && r <= 0xFF5E {
		return r - 0xFEE0
	}
	return r
}

// foldCase maps s to the form paths and prefixes are compared in: letters
// that a case-insensitive origin may take for one another become one. For
// ASCII that is lower case; beyond it, a letter becomes the lower case of
// its upper case, so the Kelvin sign is "k", and "ı" and "ſ" (whose upper
// cases are I and S) are "i" and "s".
func foldCase(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	return strings.ToLower(s)
}
