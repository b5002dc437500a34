package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/queue"
)

// Route protects every path that starts with Prefix with the waiting room Room.
type Route struct {
	Prefix string // decoded and case-folded: paths are matched regardless of case
	Room   string
}

// Routes are path rules; the longest matching prefix wins.
type Routes []Route

// ErrUnreadablePath means a request path cannot be matched against the
// routes safely: an escape that does not decode, a control character once
// decoded, escapes still left after two decodes, or so many oddities (or so
// long a path with them) that judging it would cost far more than judging
// an ordinary one. Such a path is refused, never taken for unprotected.
var ErrUnreadablePath = errors.New("gateway: the request path cannot be read safely")

// ParseRoutes reads rules of the form "prefix=room", each spec a
// comma-separated list (CROWDGATE_ROUTES, or repeated --route flags). A
// trailing "*" on a prefix is allowed and ignored: "/checkout/*" is
// "/checkout/". Prefixes match regardless of case, so two that differ only
// in case are one prefix given twice.
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
			prefix, err := routePrefix(strings.TrimSuffix(prefix, "*"))
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", rule, err)
			}
			if seen[prefix] {
				return nil, fmt.Errorf("route %q: prefix %q given twice (prefixes match regardless of case)", rule, prefix)
			}
			seen[prefix] = true
			rs = append(rs, Route{Prefix: prefix, Room: room})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Prefix) > len(rs[j].Prefix) })
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

// Rooms returns the rooms that protect uri, a request target as a proxy
// forwards it (a path with or without its query, or an absolute URI): none
// when no route covers any reading of its path, the plain reading's room
// first. A visitor passes only with an admission for each. An unreadable
// path is ErrUnreadablePath.
//
// Origins read one path in different ways (see reading), and a route
// protects the path if it covers any of them: no spelling of a protected
// path is judged unprotected.
func (rs Routes) Rooms(uri string) ([]string, error) {
	return rs.appendRooms(nil, uri)
}

// appendRooms is Rooms appending to dst, and leaving out rooms dst holds
// already: the check keeps a small buffer on its stack.
func (rs Routes) appendRooms(dst []string, uri string) ([]string, error) {
	raw := requestPath(uri)
	forks, err := readingsOf(raw)
	if err != nil {
		return dst, err
	}
	if n := bits.OnesCount8(uint8(forks)); n > maxForks || n > 0 && len(raw)<<n > readingBudget {
		return dst, ErrUnreadablePath
	}
	// Every subset of the readings the path makes possible, the plain one
	// (none) first; a path with nothing special has just that one.
	for sub := reading(0); ; sub = ((sub | ^forks) + 1) & forks {
		if room, ok := rs.match(read(raw, sub)); ok && !slices.Contains(dst, room) {
			dst = append(dst, room)
		}
		if sub == forks {
			return dst, nil
		}
	}
}

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

// match returns the room of the longest prefix that covers p, a read path.
// A prefix with a trailing slash covers the path without it too: a route
// on "/checkout/" protects "/checkout".
func (rs Routes) match(p string) (string, bool) {
	if len(rs) == 0 {
		return "", false
	}
	// Only the start of p can meet a prefix, rs[0] being the longest. Case
	// folding shrinks a character to no less than a third of its bytes.
	if n := 4 * (len(rs[0].Prefix) + 1); len(p) > n {
		p = p[:n]
	}
	p = foldCase(p)
	for _, r := range rs {
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
	if i := strings.Index(uri, "://"); i > 0 && isScheme(uri[:i]) {
		rest := uri[i+3:]
		j := strings.IndexAny(rest, `/\`)
		if j < 0 {
			return "/"
		}
		return rest[j:]
	}
	return uri
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
