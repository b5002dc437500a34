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
// path, or when it carries a valid admission token for the room that does;
// anyone else goes to the waiting room.
func (s *Server) proxied(c echo.Context) error {
	r := c.Request()
	room, protected := s.cfg.Routes.Match(r.URL.EscapedPath())
	if protected {
		p, err := s.admissionOf(r, room)
		switch {
		case err == nil:
			r = r.WithContext(withPass(r.Context(), p))
		case s.failOpen(c, room):
		default:
			return s.toWaitingRoom(c, room)
		}
	}
	s.proxy.ServeHTTP(c.Response(), r)
	return nil
}

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
		},
		Transport:  transport,
		BufferPool: bufferPool{},
		ModifyResponse: func(res *http.Response) error {
			if res.Header.Get(ReleaseHeader) == "" {
				return nil
			}
			res.Header.Del(ReleaseHeader)
			if p, ok := passFrom(res.Request.Context()); ok {
				if err := s.ctl.Release(res.Request.Context(), p.Room, p.Subject); err != nil {
					s.log.Warn("release failed", "room", p.Room, "queue_id", p.Subject, "err", err)
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, msg := http.StatusBadGateway, "the origin did not answer"
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				status, msg = http.StatusGatewayTimeout, "the origin timed out"
			}
			s.log.Warn("proxy error", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"bad_gateway","message":"` + msg + `"}}`))
		},
	}
}

// bufferPool lends the proxy 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

type passKey struct{}

// withPass remembers the admission a proxied request was let through on,
// for the response's release header.
func withPass(ctx context.Context, p admission.Pass) context.Context {
	return context.WithValue(ctx, passKey{}, p)
}

func passFrom(ctx context.Context) (admission.Pass, bool) {
	p, ok := ctx.Value(passKey{}).(admission.Pass)
	return p, ok
}
