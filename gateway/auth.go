package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

// originalURIHeaders are where nginx (auth_request with
// proxy_set_header X-Original-URI), Traefik (forwardAuth), Caddy
// (forward_auth), Envoy (ext_authz) and ingress-nginx (auth-url, an
// absolute URL) put the URI of the request they are asking about, as the
// header map keys them.
var originalURIHeaders = []string{"X-Original-Uri", "X-Forwarded-Uri", "X-Envoy-Original-Path", "X-Original-Url"}

// checkPathPrefix starts Envoy's path form of the check: the original path
// follows it.
const checkPathPrefix = checkRoute + "/"

// check answers forward-auth requests: 200 when the request carries a valid
// admission token for every room protecting it, else 401 naming the waiting
// room of the first it lacks, or 403 for an original URI that cannot be read
// safely (the one refusal besides 401 that nginx's auth_request passes on).
// It touches no store: a verified token is cached until it expires.
func (s *Server) check(c echo.Context) error {
	r := c.Request()
	var buf [4]string
	rooms, uri, err := s.checkedRooms(buf[:0], r)
	if errors.Is(err, ErrUnreadableHost) {
		s.checks.WithLabelValues("unreadable").Inc()
		return forbidden(unreadableHostMessage)
	}
	if errors.Is(err, ErrUnreadablePath) {
		s.checks.WithLabelValues("unreadable").Inc()
		return forbidden("the original URI cannot be read safely: an escape that does not decode, a control character, escapes left after two decodes, or too many oddities (docs/routes.md)")
	}
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		s.checks.WithLabelValues("unprotected").Inc()
		return c.NoContent(http.StatusOK)
	}
	p, how, denied := s.admit(c, rooms, true)
	switch {
	case denied != "":
		s.checks.WithLabelValues("denied").Inc()
		page := s.waitingRoomURL(r, denied, uri)
		c.Response().Header().Set("X-Crowdgate-Waiting-Room", page)
		if redirect, _ := browserRedirect(r); redirect && !wantsJSON(r) {
			c.Response().Header().Set("Cache-Control", "no-store")
			return c.Redirect(http.StatusFound, page)
		}
		return unauthorized("an admission token for room " + denied + " is required")
	case how == passAdmitted:
		s.allow(c.Response().Header(), rooms[0], p)
	default:
		s.checks.WithLabelValues(how.String()).Inc()
	}
	return c.NoContent(http.StatusOK)
}

// checkedRooms appends to dst the rooms a forward-auth request asks about
// (none when nothing protects it) and returns the original URI, for the
// waiting room's return_to.
//
// The rooms are the room= parameter's, if any, and those of the routes
// for every reading of every original URI: the one the proxy sets, in a
// header or after /auth/v1/check/ (Envoy's path form), and any a client
// added. room= adds a room to the routes', never replaces them, and in the
// path form the query is the client's, so room= is not read there. Neither
// a client's own header nor its room= can lift a protection, and behind a
// proxy that forwards the client's query with the check (Caddy's
// forward_auth unless told otherwise) room= cannot pick a room either.
//
// Where some route names a host, every URI is judged on every host the
// check names (see checkedHosts).
func (s *Server) checkedRooms(dst []string, r *http.Request) (rooms []string, uri string, err error) {
	pathForm := strings.HasPrefix(r.URL.Path, checkPathPrefix)
	if !pathForm {
		if room := queryRoom(r.URL.RawQuery); room != "" {
			if !queue.ValidID(room) {
				return dst, "", invalid("room id must match ^[a-z0-9][a-z0-9-]{0,63}$")
			}
			dst = append(dst, room)
		}
		if _, err := browserRedirect(r); err != nil {
			return dst, "", err
		}
	}
	var hostBuf [4]string
	var hosts []string
	if pathForm || hasOriginalURI(r.Header) {
		if hosts, err = s.checkedHosts(hostBuf[:0], r); err != nil {
			return dst, uri, err
		}
	}
	for _, h := range originalURIHeaders {
		for _, v := range r.Header[h] {
			if uri == "" {
				uri = v
			}
			if dst, err = s.cfg.Routes.appendRooms(dst, hosts, v); err != nil {
				return dst, uri, err
			}
		}
	}
	if pathForm {
		p := pathFormPath(r)
		if uri == "" {
			uri = p
			if r.URL.RawQuery != "" {
				uri += "?" + r.URL.RawQuery
			}
		}
		if dst, err = s.cfg.Routes.appendRooms(dst, hosts, p); err != nil {
			return dst, uri, err
		}
	}
	return dst, uri, nil
}

// pathFormPath is the original path of a check in Envoy's path form
// (after /auth/v1/check/), as it came, not as Go decoded it: the routes
// decode it themselves, once per reading.
func pathFormPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	p, ok := strings.CutPrefix(p, checkPathPrefix)
	if !ok {
		p = strings.TrimPrefix(r.URL.EscapedPath(), checkPathPrefix)
	}
	return "/" + p
}

// hasOriginalURI reports whether h names the URI a check is about: room=
// alone needs no host.
func hasOriginalURI(h http.Header) bool {
	for _, k := range originalURIHeaders {
		if len(h[k]) > 0 {
			return true
		}
	}
	return false
}

// checkedHosts appends to dst the hosts a forward-auth check names, when
// some route names a host (none otherwise): every X-Forwarded-Host
// (nginx's deploy file, Traefik and Caddy set it; each of a list), the
// host of every absolute original URI (X-Original-URL, and nginx's
// $request_uri when the client sent an absolute request line, whose host
// nginx serves), and the check's own Host (Envoy and Caddy pass the
// original one on). Like the original URIs, each counts, from any sender:
// a host a client adds can only add rooms to its own check, never lift
// one, so the proxy's host is judged whoever else names one, with or
// without --trusted-proxies. A check that names no host at all, or an
// unreadable one, is ErrUnreadableHost.
func (s *Server) checkedHosts(dst []string, r *http.Request) ([]string, error) {
	rs := s.cfg.Routes
	if !rs.namesHosts() {
		return dst, nil
	}
	var err error
	for _, v := range r.Header["X-Forwarded-Host"] {
		if dst, err = rs.addHostList(dst, v); err != nil {
			return dst, err
		}
	}
	for _, h := range originalURIHeaders {
		for _, v := range r.Header[h] {
			if dst, err = rs.addURIHost(dst, v); err != nil {
				return dst, err
			}
		}
	}
	if dst, err = rs.addHost(dst, r.Host); err != nil {
		return dst, err
	}
	if len(dst) == 0 {
		return dst, ErrUnreadableHost
	}
	return dst, nil
}

// admit decides a request that rooms protect, asked by forward auth or
// the reverse proxy (forwardAuth false). It passes when, for every one of
// them, it carries an admission, a bypass rule lets it through, or the
// store is down and the room fails open; it returns the admission for
// rooms[0] and how it passed there, or the first room that turns it away.
func (s *Server) admit(c echo.Context, rooms []string, forwardAuth bool) (p admission.Pass, how passage, denied string) {
	for i, room := range rooms {
		pass, err := s.enter(c, room, forwardAuth)
		switch {
		case err == nil:
			if i == 0 {
				p = pass
			}
		case errors.Is(err, errBypassed):
			if i == 0 {
				how = passBypass
			}
		case s.failOpen(c, room):
			if i == 0 {
				how = passFailOpen
			}
		default:
			s.missingRoom(c.Request().Context(), room, "route")
			return admission.Pass{}, how, room
		}
	}
	return p, how, ""
}

// passage is how a request got past a room that protects it.
type passage uint8

const (
	passAdmitted passage = iota // on an admission
	passFailOpen                // the store is down, and the room fails open
	passBypass                  // by one of the room's bypass rules
)

// String is the passage as crowdgate_forward_auth_total labels it.
func (p passage) String() string {
	switch p {
	case passFailOpen:
		return "fail_open"
	case passBypass:
		return "bypass"
	}
	return "allowed"
}

// allow sets the headers of a passing check: the proxy can hand the room,
// queue id and (enqueue tokens) user id on to the origin.
func (s *Server) allow(h http.Header, room string, p admission.Pass) {
	s.allowed.Inc()
	h["X-Crowdgate-Room"] = []string{room} // canonical already: skip the canonicalizing Set
	h["X-Crowdgate-Queue-Id"] = []string{p.Subject}
	if p.UserID != "" {
		h[UserHeader] = []string{p.UserID}
	}
}

// UserHeader carries to the origin the user id of an admission made with an
// enqueue token (the site's own id for the fan), from forward auth and the
// reverse proxy; like every X-Crowdgate-* header, a client's own is dropped.
const UserHeader = "X-Crowdgate-User"

// ServeHTTP serves the gateway. The passing forward-auth check, the one
// request an admitted visitor makes on every page view, is answered before
// echo: no router, no context, no middleware; everything else, including
// every check that does not pass, takes the full path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == checkRoute {
		start := time.Now()
		var buf [4]string
		if rooms, _, err := s.checkedRooms(buf[:0], r); err == nil && len(rooms) > 0 {
			if p, ok := s.admittedToAll(r, rooms); ok {
				h := w.Header()
				h[echo.HeaderXRequestID] = []string{s.requestID(r)}
				s.allow(h, rooms[0], p)
				w.WriteHeader(http.StatusOK)
				s.observer(checkRoute, http.StatusOK).Observe(time.Since(start).Seconds())
				return
			}
		}
	}
	s.echo.ServeHTTP(w, r)
}

// admittedToAll reports whether r carries an admission for every one of
// rooms, and returns the one for rooms[0].
func (s *Server) admittedToAll(r *http.Request, rooms []string) (admission.Pass, bool) {
	var first admission.Pass
	for i, room := range rooms {
		p, err := s.admissionOf(r, room)
		if err != nil || s.ctl.RenewDue(p) {
			return admission.Pass{}, false // the full path: enter may renew or admit
		}
		if i == 0 {
			first = p
		}
	}
	return first, true
}

// hostPattern accepts host[:port] and nothing else, so a hostile Host or
// X-Forwarded-Host cannot smuggle a path, userinfo or scheme into the
// waiting-room URL.
var hostPattern = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// waitingRoomURL is the absolute URL of the room's page, with the original
// URI as return_to when it is a plain local path.
func (s *Server) waitingRoomURL(r *http.Request, room, returnTo string) string {
	base := s.publicBase(r)
	u := base + RoomPagePath(room)
	if returnTo != "" && strings.HasPrefix(returnTo, "/") && !strings.HasPrefix(returnTo, "//") && !strings.Contains(returnTo, "\\") {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	return u
}

func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != nil {
		return strings.TrimSuffix(s.cfg.PublicURL.String(), "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	host := r.Header.Get("X-Forwarded-Host")
	if !hostPattern.MatchString(host) {
		host = r.Host
	}
	if !hostPattern.MatchString(host) {
		host = "localhost"
	}
	return scheme + "://" + host
}

// browserRedirect reports whether a check asks, with redirect=browser,
// that a browser be answered with a 302 to the waiting room rather than
// the 401 (for proxies that cannot turn the 401 into a redirect, Traefik's
// forwardAuth). Any other value is an error; in Envoy's path form the
// query is the client's, and redirect= is not read.
func browserRedirect(r *http.Request) (bool, error) {
	if strings.HasPrefix(r.URL.Path, checkPathPrefix) {
		return false, nil
	}
	v, ok := queryParam(r.URL.RawQuery, "redirect")
	switch {
	case !ok:
		return false, nil
	case v == "browser":
		return true, nil
	}
	return false, invalid(`redirect must be "browser" (a 302 to the waiting room for browsers) or absent`)
}

// queryParam returns the first value of the raw query's parameter name,
// unescaped, without building the whole query map.
func queryParam(raw, name string) (string, bool) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			v, _ = url.QueryUnescape(v)
		}
		return v, true
	}
	return "", false
}

// queryRoom returns the room= parameter of a raw query without building the
// whole query map: the check is on every request of an admitted visitor.
func queryRoom(raw string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if v, ok := strings.CutPrefix(kv, "room="); ok {
			if strings.ContainsAny(v, "%+") {
				v, _ = url.QueryUnescape(v)
			}
			return v
		}
	}
	return ""
}

// failOpen reports whether a visitor without an admission token may pass
// anyway: the store is unreachable and the room's operator chose to fail
// open. The room's configuration comes from the controller's cache, which
// outlives the outage.
func (s *Server) failOpen(c echo.Context, room string) bool {
	if !s.ctl.StoreDown() {
		return false
	}
	r, err := s.ctl.Room(c.Request().Context(), room)
	if err != nil || !r.FailOpen {
		return false
	}
	c.Response().Header().Set("X-Crowdgate-Fail-Open", "1")
	return true
}
