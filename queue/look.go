package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
)

// The organizer's own look of a room's page, beyond its title, message and
// colours: a logo, a page template of their own (stored here, rendered
// and checked by the gateway), and the sites that may show the waiting
// room in an iframe.

// Bounds of the look's settings.
const (
	MaxLogoURL      = 2048
	MaxLogoAlt      = 200
	MaxEmbedOrigins = 16
	// MaxPageTemplateBytes bounds a page template: a page's worth of
	// markup and styles, not a site.
	MaxPageTemplateBytes = 64 << 10
)

// ErrNoPageTemplate means a room has no page template of its own.
var ErrNoPageTemplate error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "this room has no page template: its page is Crowdgate's own"}

// webHost is a host name or an IPv4 address with an optional port, as an
// origin may name them; anything else (spaces, ';', ',', quotes) could
// break the Content-Security-Policy the origin is written into.
var webHost = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)

// WebOrigin returns the origin (scheme://host[:port], lower-case) of u when
// it is one a page may name in its policy: https, or http to a loopback
// host (a site on the same box, tests), with no user info.
func WebOrigin(u *url.URL) (string, bool) {
	host := strings.ToLower(u.Host)
	if u.User != nil || !webHost.MatchString(host) {
		return "", false
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		ip, err := netip.ParseAddr(h)
		if h != "localhost" && (err != nil || !ip.IsLoopback()) {
			return "", false
		}
	default:
		return "", false
	}
	return u.Scheme + "://" + host, true
}

// ParseEmbedOrigin returns the origin o names, normalized, or false: an
// origin and nothing more (no path but "/", no query or fragment).
func ParseEmbedOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || len(o) > 300 || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	return WebOrigin(u)
}

// LogoOrigin is the origin of a room's logo when it is on another site
// (the page's policy then allows images from it), else "".
func (r Room) LogoOrigin() string {
	if !strings.HasPrefix(r.LogoURL, "http") {
		return ""
	}
	u, err := url.Parse(r.LogoURL)
	if err != nil {
		return ""
	}
	o, _ := WebOrigin(u)
	return o
}

// validLogoURL reports whether l may be a room's logo: a path on the site,
// or an https URL (http only to a loopback host).
func validLogoURL(l string) bool {
	if len(l) > MaxLogoURL {
		return false
	}
	if strings.HasPrefix(l, "/") {
		return ValidDestination(l)
	}
	u, err := url.Parse(l)
	if err != nil || strings.ContainsAny(l, " \t\r\n\"'\\") {
		return false
	}
	_, ok := WebOrigin(u)
	return ok
}

// validateLook checks the logo and the embedding origins.
func (r Room) validateLook(bad func(string, ...any) error) error {
	switch {
	case r.LogoURL != "" && !validLogoURL(r.LogoURL):
		return bad("logo_url must be a path on the site or an https URL, of at most %d bytes", MaxLogoURL)
	case utf8.RuneCountInString(r.LogoAlt) > MaxLogoAlt || !utf8.ValidString(r.LogoAlt):
		return bad("logo_alt must be valid UTF-8 of at most %d characters", MaxLogoAlt)
	case len(r.EmbedOrigins()) > MaxEmbedOrigins:
		return bad("embed_origins lists at most %d origins", MaxEmbedOrigins)
	case r.PageTemplate != "" && !validSHA256(r.PageTemplate):
		return bad("the page template's digest is malformed")
	}
	seen := map[string]bool{}
	for _, o := range r.EmbedOrigins() {
		n, ok := ParseEmbedOrigin(o)
		if !ok || n != o {
			return bad("embed_origins: %q is not an origin: scheme://host[:port], lower-case, https (http only to a loopback host), nothing after the host", o)
		}
		if seen[o] {
			return bad("embed_origins lists %s twice", o)
		}
		seen[o] = true
	}
	return nil
}

func validSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && strings.ToLower(s) == s
}

// EmbedOrigins are the origins whose pages may frame the room's page.
func (r Room) EmbedOrigins() []string { return strings.Fields(r.embedOrigins) }

// SetEmbedOrigins sets the origins whose pages may frame the room's page;
// Validate checks them (an origin holds no space).
func (r *Room) SetEmbedOrigins(origins []string) { r.embedOrigins = strings.Join(origins, " ") }

// PageTemplateSHA256 is the digest Room.PageTemplate holds for text.
func PageTemplateSHA256(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// PutPageTemplate stores text as room's page template, whole or not at all,
// and returns its digest, which the room's configuration (PageTemplate)
// names from then on. The gateway checks the text before it comes here.
// Errors: ErrRoomNotFound.
func (s *Store) PutPageTemplate(ctx context.Context, room, text string) (string, error) {
	if len(text) == 0 || len(text) > MaxPageTemplateBytes {
		return "", &crowdgate.Error{Kind: crowdgate.Invalid, Message: fmt.Sprintf("a page template is 1 to %d bytes", MaxPageTemplateBytes), Err: ErrInvalidRoom}
	}
	sha := PageTemplateSHA256(text)
	return sha, s.runTemplate(ctx, room, sha, text)
}

// DeletePageTemplate gives room Crowdgate's own page back. Deleting a
// template the room does not have is no error. Errors: ErrRoomNotFound.
func (s *Store) DeletePageTemplate(ctx context.Context, room string) error {
	return s.runTemplate(ctx, room, "", "")
}

func (s *Store) runTemplate(ctx context.Context, room, sha, text string) error {
	k := keysFor(room)
	n, err := s.scripts.template.Run(ctx, s.rdb, []string{k.cfg, k.template}, s.cfg.Now().UnixMilli(), sha, text).Int()
	if err != nil {
		return fmt.Errorf("queue: page template of room %s: %w", room, err)
	}
	if n == 0 {
		return ErrRoomNotFound
	}
	return nil
}

// PageTemplate returns room's page template. Errors: ErrNoPageTemplate.
func (s *Store) PageTemplate(ctx context.Context, room string) (string, error) {
	text, err := s.rdb.Get(ctx, keysFor(room).template).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNoPageTemplate
	}
	if err != nil {
		return "", fmt.Errorf("queue: page template of room %s: %w", room, err)
	}
	return text, nil
}
