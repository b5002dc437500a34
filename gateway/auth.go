package gateway

import (
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
// proxy_set_header X-Original-URI), Traefik (forwardAuth) and Envoy
// (ext_authz) put the URI of the request they are asking about.
var originalURIHeaders = []string{"X-Original-URI", "X-Forwarded-Uri", "X-Envoy-Original-Path"}

// check answers forward-auth requests: 200 when the request carries a valid
// admission token for the room protecting it, else 401 naming the waiting
// room. It touches no store: a verified token is cached until it expires.
func (s *Server) check(c echo.Context) error {
	r := c.Request()
	room, uri, ambiguous, err := s.checkedRoom(r, c.Param("*"))
	if err != nil {
		return err
	}
	if room == "" {
		s.checks.WithLabelValues("unprotected").Inc()
		return c.NoContent(http.StatusOK)
	}
	if p, err := s.admissionOf(r, room); err == nil && !ambiguous {
		s.allow(c.Response().Header(), room, p)
		return c.NoContent(http.StatusOK)
	}
	if s.failOpen(c, room) {
		s.checks.WithLabelValues("fail_open").Inc()
		return c.NoContent(http.StatusOK)
	}
	s.checks.WithLabelValues("denied").Inc()
	c.Response().Header().Set("X-Crowdgate-Waiting-Room", s.waitingRoomURL(r, room, uri))
	return unauthorized("an admission token for room " + room + " is required")
}

// checkedRoom returns the room a forward-auth request asks about ("" when
// no route protects the original URI) and that URI. envoyPath is the part
// of the path after /auth/v1/check/ (Envoy's path_prefix form). ambiguous
// reports URIs that name different rooms: the request cannot pass.
//
// The proxy names the original URI in one header, or in the path; any other
// URI header came from the client, so every one is matched and a client's
// own cannot lift the protection of the proxy's. In the path form the query
// is the client's too, so room= counts only on the bare path.
func (s *Server) checkedRoom(r *http.Request, envoyPath string) (room, uri string, ambiguous bool, err error) {
	var uris [4]string
	n := 0
	for _, h := range originalURIHeaders {
		if v := r.Header.Get(h); v != "" {
			uris[n] = v
			n++
		}
	}
	pathForm := strings.HasPrefix(r.URL.Path, "/auth/v1/check/")
	if pathForm {
		uris[n] = "/" + envoyPath
		n++
	}
	uri = uris[0]
	if !pathForm {
		if room = queryRoom(r.URL.RawQuery); room != "" {
			if !queue.ValidID(room) {
				return "", uri, false, invalid("room id must match ^[a-z0-9][a-z0-9-]{0,63}$")
			}
			return room, uri, false, nil
		}
	}
	for _, u := range uris[:n] {
		rm, ok := s.cfg.Routes.Match(u)
		switch {
		case !ok || rm == room:
		case room == "":
			room = rm
		default:
			return room, uri, true, nil
		}
	}
	return room, uri, false, nil
}

// allow sets the headers of a passing check: the proxy can hand the room
// and queue id on to the origin.
func (s *Server) allow(h http.Header, room string, p admission.Pass) {
	s.allowed.Inc()
	h["X-Crowdgate-Room"] = []string{room} // canonical already: skip the canonicalizing Set
	h["X-Crowdgate-Queue-Id"] = []string{p.Subject}
}

// ServeHTTP serves the gateway. The passing forward-auth check, the one
// request an admitted visitor makes on every page view, is answered before
// echo: no router, no context, no middleware; everything else, including
// every check that does not pass, takes the full path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/v1/check" {
		start := time.Now()
		if room, _, ambiguous, err := s.checkedRoom(r, ""); err == nil && room != "" && !ambiguous {
			if p, err := s.admissionOf(r, room); err == nil {
				h := w.Header()
				h[echo.HeaderXRequestID] = []string{s.requestID(r)}
				s.allow(h, room, p)
				w.WriteHeader(http.StatusOK)
				s.observer("/auth/v1/check", http.StatusOK).Observe(time.Since(start).Seconds())
				return
			}
		}
	}
	s.echo.ServeHTTP(w, r)
}

// hostPattern accepts host[:port] and nothing else, so a hostile Host or
// X-Forwarded-Host cannot smuggle a path, userinfo or scheme into the
// waiting-room URL.
var hostPattern = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// waitingRoomURL is the absolute URL of the room's page, with the original
// URI as return_to when it is a plain local path.
func (s *Server) waitingRoomURL(r *http.Request, room, returnTo string) string {
	base := s.publicBase(r)
	u := base + "/rooms/" + room
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
