package queue

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bypass rules (Room.Bypass) let some requests past a room without an
// admission: a monitoring probe, a partner's server, the site's static
// files. A bypassed request is not a visitor: it takes no place, counts as
// no active user and gets no admission. The gateway judges them (forward
// auth and the reverse proxy, gateway/bypass.go); the room keeps the rules
// and, in its stats hash, how many requests each kind of rule let through.
const (
	// BypassCIDR: the client address is in one of the rule's networks.
	BypassCIDR = "cidr"
	// BypassHeader: the request carries the rule's header with its secret.
	BypassHeader = "header"
	// BypassPath: every reading of the request's path is one of the
	// rule's paths.
	BypassPath = "path"

	// MaxBypassRules bounds each list of rules (networks, paths): a room
	// is not a firewall.
	MaxBypassRules = 64
	// MaxBypassPath bounds one path rule, in bytes.
	MaxBypassPath = 256
	// MaxBypassHeaderName bounds the header's name.
	MaxBypassHeaderName = 64
	// MinBypassSecretBytes and MaxBypassSecretBytes bound the header's
	// secret: at least 128 bits, since anyone may guess it; at most what
	// fits a header line comfortably.
	MinBypassSecretBytes = 16
	MaxBypassSecretBytes = 256
)

// BypassRules are the kinds of rule, in the order a request is judged by
// them (the first that lets it through is the one counted).
var BypassRules = []string{BypassHeader, BypassCIDR, BypassPath}

// Bypass are a room's bypass rules; the zero value has none. The lists
// are kept as text, so that a Room stays comparable with ==; NewBypass
// makes one and CIDRs and Paths read them back.
type Bypass struct {
	// cidrs are client networks (the address is the one the gateway reads
	// behind --trusted-proxies), masked, each at most once: comma-separated.
	cidrs string
	// paths are request paths: one ending in "/" covers every path under
	// it, any other that path alone. Matched byte for byte (case matters)
	// against every reading of the request's path. Newline-separated (a
	// path holds no control character).
	paths string
	// Header is a header's name in canonical form ("X-Monitor-Key") and
	// Secret its value; both or neither are set. The secret is never
	// shown once set.
	Header string
	Secret string
}

// NewBypass returns the rules of networks cidrs, paths, and a header with
// its secret ("" and "" for none). Room.Validate says what is wrong with
// them.
func NewBypass(cidrs []netip.Prefix, paths []string, header, secret string) Bypass {
	cs := make([]string, len(cidrs))
	for i, p := range cidrs {
		cs[i] = p.String()
	}
	return Bypass{cidrs: strings.Join(cs, ","), paths: strings.Join(paths, "\n"), Header: header, Secret: secret}
}

// CIDRs returns b's networks.
func (b Bypass) CIDRs() []netip.Prefix {
	var out []netip.Prefix
	for c := range splitRules(b.cidrs, ",") {
		p, _ := netip.ParsePrefix(c) // written by NewBypass from a Prefix
		out = append(out, p)
	}
	return out
}

// Paths returns b's paths.
func (b Bypass) Paths() []string {
	return slices.Collect(splitRules(b.paths, "\n"))
}

// splitRules yields the rules of a list kept as text; none for "".
func splitRules(list, sep string) func(yield func(string) bool) {
	if list == "" {
		return func(func(string) bool) {}
	}
	return strings.SplitSeq(list, sep)
}

// HasPaths reports whether b has path rules.
func (b Bypass) HasPaths() bool { return b.paths != "" }

// IsZero reports whether b has no rule at all.
func (b Bypass) IsZero() bool {
	return b.cidrs == "" && b.paths == "" && b.Header == ""
}

// ParseBypassCIDR reads a network of a bypass rule: a CIDR
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("203.0.113.7",
// read as /32 or /128). Anything that could mean something else is an
// error that says so: bits set past the mask, a zone, an IPv4 address
// written in IPv6, and a network of everyone (/0, which is passthrough).
func ParseBypassCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bypass.cidrs: %q is not a network (10.0.0.0/8, 2001:db8::/32) or an address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := checkBypassCIDR(p); err != nil {
		return netip.Prefix{}, fmt.Errorf("bypass.cidrs: %q: %w", s, err)
	}
	return p, nil
}

// checkBypassCIDR reports what is wrong with a parsed network.
func checkBypassCIDR(p netip.Prefix) error {
	switch a := p.Addr(); {
	case !p.IsValid():
		return fmt.Errorf("not a network")
	case a.Is4In6():
		return fmt.Errorf("an IPv4 network written as IPv6: write it as IPv4 (%s/%d)", a.Unmap(), max(p.Bits()-96, 0))
	case a.Zone() != "":
		return fmt.Errorf("a zone has no place in a network")
	case p.Bits() == 0:
		return fmt.Errorf("a network of every address lets everyone through: that is passthrough")
	case p != p.Masked():
		return fmt.Errorf("bits set past the /%d mask: did you mean %s?", p.Bits(), p.Masked())
	}
	return nil
}

// ValidBypassPath reports what is wrong with a path rule, or nil: it
// starts with "/", and holds nothing that a reading of a request path
// could not produce or that origins read in more than one way (escapes,
// ";", "\", "?", "#", "*", control characters, empty, "." or ".."
// segments, a segment ending in a dot or a space).
func ValidBypassPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("bypass.paths: %q must start with /", p)
	case len(p) > MaxBypassPath:
		return fmt.Errorf("bypass.paths: a path of at most %d bytes", MaxBypassPath)
	case !utf8.ValidString(p) || hasControlChar(p):
		return fmt.Errorf("bypass.paths: %q: valid UTF-8 without control characters", p)
	case strings.ContainsAny(p, `%;\?#*`):
		return fmt.Errorf(`bypass.paths: %q: write the path as origins read it, without %% escapes, ; \ ? # or *; a path ending in / covers every path under it`, p)
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 || seg == "." || seg == ".." {
			return fmt.Errorf("bypass.paths: %q: write it without empty, . or .. segments", p)
		}
		if seg != "" && (seg[len(seg)-1] == '.' || seg[len(seg)-1] == ' ') {
			return fmt.Errorf("bypass.paths: %q: some origins drop a segment's trailing dots and spaces; write it without", p)
		}
	}
	return nil
}

func hasControlChar(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return true
		}
	}
	return false
}

// ValidBypassHeader reports what is wrong with the name of a header rule,
// or nil. It is letters, digits and "-" (no "_": proxies drop such
// headers, and CGI-style origins read "_" as "-"), written canonically
// (textproto.CanonicalMIMEHeaderKey), and none of the headers that carry
// something else: hop-by-hop headers, which proxies drop; Crowdgate's own
// and those proxies set for it (X-Crowdgate-*, X-Forwarded-*, Forwarded,
// X-Real-Ip, X-Original-*, X-Envoy-*, X-Request-Id); and the request's
// own Host, Authorization, Cookie and Content-*.
func ValidBypassHeader(name string) error {
	if name == "" || len(name) > MaxBypassHeaderName || !isLetter(name[0]) {
		return fmt.Errorf("bypass.header.name: 1 to %d letters, digits and -, starting with a letter", MaxBypassHeaderName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return fmt.Errorf("bypass.header.name %q: letters, digits and - only", name)
		}
	}
	if textproto.CanonicalMIMEHeaderKey(name) != name {
		return fmt.Errorf("bypass.header.name %q: write it as %q", name, textproto.CanonicalMIMEHeaderKey(name))
	}
	lower := strings.ToLower(name)
	if slices.Contains(reservedHeaders, lower) {
		return fmt.Errorf("bypass.header.name %q: that header carries something else; pick a name of your own, e.g. X-Monitor-Key", name)
	}
	for _, p := range reservedHeaderPrefixes {
		if strings.HasPrefix(lower, p) {
			return fmt.Errorf("bypass.header.name %q: %s* headers are Crowdgate's or the proxies'; pick a name of your own, e.g. X-Monitor-Key", name, textproto.CanonicalMIMEHeaderKey(p))
		}
	}
	return nil
}

// reservedHeaders may not name a header rule (see ValidBypassHeader), in
// lower case.
var reservedHeaders = []string{
	// Hop-by-hop (RFC 9110, 7.6.1), and the ones proxies treat so.
	"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
	"te", "trailer", "transfer-encoding", "upgrade",
	// The request's own.
	"host", "authorization", "cookie", "expect",
	// Set by the proxies in front, or read by Crowdgate as something else.
	"forwarded", "x-real-ip", "x-request-id",
}

var reservedHeaderPrefixes = []string{"x-crowdgate-", "x-forwarded-", "x-original-", "x-envoy-", "content-"}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// validSecret reports whether s may be a header rule's secret: visible
// ASCII (proxies trim a header value's spaces), of a length in bounds.
func validSecret(s string) bool {
	if len(s) < MinBypassSecretBytes || len(s) > MaxBypassSecretBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validate reports what is wrong with b, through bad.
func (b Bypass) validate(bad func(format string, args ...any) error) error {
	cidrs, paths := b.CIDRs(), b.Paths()
	if len(cidrs) > MaxBypassRules {
		return bad("bypass.cidrs: at most %d networks", MaxBypassRules)
	}
	if len(paths) > MaxBypassRules {
		return bad("bypass.paths: at most %d paths", MaxBypassRules)
	}
	for i, p := range cidrs {
		if err := checkBypassCIDR(p); err != nil {
			return bad("bypass.cidrs: %s: %v", p, err)
		}
		if slices.Contains(cidrs[:i], p) {
			return bad("bypass.cidrs: %s given twice", p)
		}
	}
	for i, p := range paths {
		if err := ValidBypassPath(p); err != nil {
			return bad("%v", err)
		}
		if slices.Contains(paths[:i], p) {
			return bad("bypass.paths: %q given twice", p)
		}
	}
	switch {
	case b.Header == "" && b.Secret != "":
		return bad("bypass.header: a secret needs the header's name")
	case b.Header == "":
		return nil
	case b.Secret == "":
		return bad("bypass.header: %s needs a secret", b.Header)
	case !validSecret(b.Secret):
		return bad("bypass.header.secret: %d to %d visible ASCII characters", MinBypassSecretBytes, MaxBypassSecretBytes)
	}
	if err := ValidBypassHeader(b.Header); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Covers reports whether a, a client address (IPv4-mapped addresses
// unmapped, as the gateway reads them), is in one of b's networks.
func (b Bypass) Covers(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for c := range splitRules(b.cidrs, ",") {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// HasSecret reports whether values, every value a request gives b's
// header, are exactly one: the secret. The comparison takes the same time
// whatever the value, its length included.
func (b Bypass) HasSecret(values []string) bool {
	if b.Header == "" || len(values) != 1 {
		return false
	}
	got, want := sha256.Sum256([]byte(values[0])), sha256.Sum256([]byte(b.Secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// CoversPath reports whether p, one reading of a request path (decoded and
// cleaned of dot segments, as gateway routes read paths), is one of b's
// paths or under one that ends in "/".
func (b Bypass) CoversPath(p string) bool {
	for r := range splitRules(b.paths, "\n") {
		if p == r || strings.HasSuffix(r, "/") && strings.HasPrefix(p, r) {
			return true
		}
	}
	return false
}

// bypassDoc is Bypass as the room's hash keeps it, in its "bypass" field.
type bypassDoc struct {
	CIDRs  []string `json:"c,omitempty"`
	Paths  []string `json:"p,omitempty"`
	Header string   `json:"h,omitempty"`
	Secret string   `json:"s,omitempty"`
}

// field is b as the room's hash keeps it: "" when b has no rule.
func (b Bypass) field() string {
	if b.IsZero() && b.Secret == "" {
		return ""
	}
	d := bypassDoc{Paths: b.Paths(), Header: b.Header, Secret: b.Secret}
	for c := range splitRules(b.cidrs, ",") {
		d.CIDRs = append(d.CIDRs, c)
	}
	out, _ := json.Marshal(d) // strings and slices of them always encode
	return string(out)
}

// bypassFromField reads the room hash's "bypass" field.
func bypassFromField(s string) (Bypass, error) {
	if s == "" {
		return Bypass{}, nil
	}
	var d bypassDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return Bypass{}, err
	}
	cidrs := make([]netip.Prefix, len(d.CIDRs))
	for i, c := range d.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Bypass{}, err
		}
		cidrs[i] = p
	}
	return NewBypass(cidrs, d.Paths, d.Header, d.Secret), nil
}

// bypassField is the stats hash's count of requests rule let through.
func bypassField(rule string) string { return "bypass:" + rule }

// AddBypasses adds to rooms' deployment-wide counts of bypassed requests
// (room → rule → count), in one round trip: each instance gathers them and
// adds them now and then, as it does refusals (AddRefusals).
func (s *Store) AddBypasses(ctx context.Context, counts map[string]map[string]int64) error {
	return s.addStats(ctx, "bypasses", counts, bypassField)
}
