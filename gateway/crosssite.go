package gateway

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// sameSiteWrites refuses state-changing fan requests that another site's
// page could have sent with the fan's cookies (cross-site request forgery).
// A browser sends a cross-site request without asking first only with a
// form's content types (text/plain, form encodings) or none; anything else,
// application/json included, needs a CORS preflight that Crowdgate never
// grants, and so does an Authorization header. So a write under /api/v1/
// passes when it is JSON, or carries its credential in Authorization (a
// bearer token is no ambient credential: another site cannot send it), or
// when the browser says it comes from this site (Origin, else
// Sec-Fetch-Site), or when it is no browser's at all: no Origin, no
// Sec-Fetch-Site and no body type, as curl and apps send a bodyless POST.
// Payment webhooks come from providers, not browsers, and are signed.
func (s *Server) sameSiteWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !isWrite(r.Method) || !fanWritePath(c.Path()) || isJSON(r.Header.Get("Content-Type")) ||
			r.Header.Get("Authorization") != "" {
			return next(c)
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if s.sameSiteOrigin(r, origin) {
				return next(c)
			}
			return crossSite()
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "same-origin", "same-site", "none":
			return next(c)
		case "":
			if r.Header.Get("Content-Type") == "" {
				return next(c)
			}
		}
		return crossSite()
	}
}

func crossSite() error {
	return forbidden("a request that changes something must come from this site's pages or send Content-Type: application/json")
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// fanWritePath reports whether writes to a route (its pattern, so an
// origin's own paths behind the reverse proxy are never judged) can carry
// a fan's cookies: the fans' and booking APIs. Not the payment webhooks
// (server to server, signed), the sandbox provider's pay page (the payment
// id in its URL is all it goes by, as a real provider's page), nor the
// admin API (a bearer token, or the dashboard's session with its own CSRF
// token).
func fanWritePath(p string) bool {
	return strings.HasPrefix(p, fanAPI+"/") && !strings.HasPrefix(p, paymentsRoute)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// sameSiteOrigin reports whether origin (an Origin header) is this site:
// the host the request was sent to, the public URL's host, or, with a
// cookie domain, any host under it (the cookies reach those anyway).
// Ports and schemes are not compared, as browsers' "same site" does not.
func (s *Server) sameSiteOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed frames, some redirects) included
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range [...]string{r.Host, r.Header.Get("X-Forwarded-Host"), s.publicHost()} {
		if h != "" && strings.EqualFold(hostname(h), host) {
			return true
		}
	}
	d := strings.ToLower(s.cfg.CookieDomain)
	return d != "" && (host == d || strings.HasSuffix(host, "."+d))
}

func (s *Server) publicHost() string {
	if s.cfg.PublicURL == nil {
		return ""
	}
	return s.cfg.PublicURL.Host
}

// hostname is host[:port] without the port (and an IPv6 literal without
// its brackets), as url.URL.Hostname has it.
func hostname(hostport string) string {
	return (&url.URL{Host: hostport}).Hostname()
}
