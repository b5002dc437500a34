package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
)

// proxyRoutes sends every path Crowdgate does not serve itself to the
// upstream origin, when one is configured (embedding mode).
func (s *Server) proxyRoutes(e *echo.Echo) {
	if s.cfg.Upstream == nil {
		return
	}
	s.proxy = newReverseProxy(s.cfg.Upstream, s)
	e.Any("/*", s.proxied)
	e.Any("/", s.proxied)
}

// proxied lets a request through to the origin when no route protects its
// path, or when it carries a valid admission token for every room that does;
// anyone else goes to the waiting room. The path is judged as the origin
// will receive it (EscapedPath is what the proxy sends), under every reading
// of it (see Routes.Rooms), and on the host the origin will receive as its
// Host (see Routes.RoomsOn); a path or host that cannot be read safely is
// refused.
func (s *Server) proxied(c echo.Context) error {
	r := c.Request()
	var buf [4]string
	var hosts [1]string
	rooms, err := s.proxiedRooms(buf[:0], hosts[:0], r)
	if errors.Is(err, ErrUnreadableHost) {
		return invalid(unreadableHostMessage)
	}
	if err != nil {
		return invalid("the path cannot be read safely: an escape that does not decode, a control character, escapes left after two decodes, or too many oddities (docs/routes.md)")
	}
	call := &proxyCall{rooms: rooms, start: time.Now()}
	if len(rooms) > 0 {
		p, how, denied := s.admit(c, rooms, false)
		if denied != "" {
			return s.toWaitingRoom(c, denied)
		}
		call.pass, call.admitted = p, how == passAdmitted
		call.strip = s.bypassHeaders(r.Context(), rooms)
	}
	s.proxy.ServeHTTP(c.Response(), r.WithContext(context.WithValue(r.Context(), proxyCallKey{}, call)))
	if call.err == nil {
		return nil
	}
	status, msg := http.StatusBadGateway, "the site did not answer; try again shortly"
	var ne net.Error
	if errors.As(call.err, &ne) && ne.Timeout() {
		status, msg = http.StatusGatewayTimeout, "the site took too long to answer; try again shortly"
	}
	s.log.Warn("proxy error", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"method", r.Method, "path", r.URL.Path, "err", call.err)
	// Browsers get a page that retries by itself, API clients the
	// contract's JSON error.
	return s.pageFailed(c, &apiError{Status: status, Code: "bad_gateway", Message: msg, RetryAfter: 5})
}

// proxiedRooms appends to dst the rooms that protect r, a request to
// proxy. Its host is r.Host, the one the origin is sent: Go's server takes
// it from an absolute request URI ("GET http://host/path") before the Host
// header, as RFC 9112 says, and refuses a request with two Host headers.
// X-Forwarded-Host does not count: the proxy replaces it with r.Host, so
// the origin never sees a client's own.
func (s *Server) proxiedRooms(dst, hosts []string, r *http.Request) ([]string, error) {
	rs := s.cfg.Routes
	hosts, err := rs.addHost(hosts, r.Host)
	if err != nil {
		return dst, err
	}
	if len(hosts) == 0 && rs.namesHosts() {
		return dst, ErrUnreadableHost // HTTP/1.0 without Host: the origin would pick a site
	}
	return rs.appendRooms(dst, hosts, r.URL.EscapedPath())
}

// unreadableHostMessage is the refusal of a request whose host cannot be
// read safely, when some route names a host.
const unreadableHostMessage = `the host cannot be read safely: a host name (letters, digits, "-" and "_" in dot-separated labels) or a bracketed IPv6 address is expected, with an optional port, and one host per header (docs/integrating.md)`

// toWaitingRoom redirects a browser to the room's page (back to this URI
// once admitted) and answers an API client with 401 and the page's URL.
func (s *Server) toWaitingRoom(c echo.Context, room string) error {
	r := c.Request()
	page := s.waitingRoomURL(r, room, r.URL.RequestURI())
	c.Response().Header().Set("X-Crowdgate-Waiting-Room", page)
	c.Response().Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		return unauthorized("an admission token for room " + room + " is required; wait in the room")
	}
	return c.Redirect(http.StatusFound, page)
}

// wantsJSON reports whether the client prefers JSON to a page.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// ReleaseHeader is the response header with which an origin says a
// visitor is done (checked out, logged out): their admission ends and the
// max_active slot is freed at once.
const ReleaseHeader = "X-Crowdgate-Release"

// newReverseProxy returns the proxy to the origin: Rewrite (not Director),
// so hop-by-hop and incoming X-Forwarded-* headers are dropped before fresh
// ones are set from the real connection; a shared buffer pool; streaming
// responses flushed as they come; WebSocket upgrades passed through.
func newReverseProxy(upstream *url.URL, s *Server) *httputil.ReverseProxy {
	transport := &http.Transport{
		Proxy:                 nil, // never through an environment proxy: only to the configured origin
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		// The client's Accept-Encoding goes to the origin as it came: left
		// on, the transport would ask a client's identity response of the
		// origin as gzip and inflate it here, CPU on both sides for nothing.
		DisableCompression: true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host // the origin sees the site's own host
			pr.SetXForwarded()
			// The X-Crowdgate-* headers the origin trusts come from here
			// only: a client's own are dropped, underscore spellings
			// included (CGI, PHP and WSGI read X_Crowdgate_Room as
			// X-Crowdgate-Room).
			h := pr.Out.Header
			for k := range h {
				if isCrowdgateHeader(k) {
					delete(h, k)
				}
			}
			stripBypassHeaders(pr.In, h)
			if call, ok := pr.In.Context().Value(proxyCallKey{}).(*proxyCall); ok && call.admitted {
				h["X-Crowdgate-Room"] = []string{call.pass.Room}
				h["X-Crowdgate-Queue-Id"] = []string{call.pass.Subject}
				if call.pass.UserID != "" {
					h[UserHeader] = []string{call.pass.UserID}
				}
			}
		},
		Transport:  transport,
		BufferPool: bufferPool{},
		ModifyResponse: func(res *http.Response) error {
			if call, ok := res.Request.Context().Value(proxyCallKey{}).(*proxyCall); ok {
				s.observeOrigin(call, res.StatusCode, nil)
			}
			if res.Header.Get(ReleaseHeader) == "" {
				return nil
			}
			res.Header.Del(ReleaseHeader)
			if call, ok := res.Request.Context().Value(proxyCallKey{}).(*proxyCall); ok && call.admitted {
				p := call.pass
				if err := s.ctl.Release(res.Request.Context(), p.Room, p.Subject); err != nil {
					s.log.Warn("release failed", "room", p.Room, "queue_id", p.Subject, "err", err)
				}
			}
			return nil
		},
		// proxied answers the error, as a page or as JSON, and logs it
		// with the request id.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if call, ok := r.Context().Value(proxyCallKey{}).(*proxyCall); ok {
				call.err = err
				s.observeOrigin(call, 0, err)
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// bufferPool lends the proxy 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// proxyCall is what one proxied request carries through the
// httputil.ReverseProxy: the admission it was let through on, for the
// origin's X-Crowdgate-* headers and its release header, the error the
// proxy met, for proxied to answer, and the rooms that protect its path
// with when it was sent, for the origin's measures (origin.go).
type proxyCall struct {
	pass     admission.Pass
	admitted bool     // pass is set; false on unprotected paths, when failing open, and when bypassed
	strip    []string // the secret headers of its rooms' bypass rules, kept from the origin
	err      error
	rooms    []string
	start    time.Time
}

type proxyCallKey struct{}

// isCrowdgateHeader reports whether a header's name is X-Crowdgate-*, in
// any case and with "_" for any "-".
func isCrowdgateHeader(name string) bool {
	const prefix = "x-crowdgate-"
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
