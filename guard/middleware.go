package guard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// ReleaseHeader is the response header with which an origin says a visitor is done
// (checked out, logged out). Crowdgate's reverse proxy ends the admission when it sees
// it, freeing a max_active slot at once.
const ReleaseHeader = "X-Crowdgate-Release"

// Release marks the response so that Crowdgate's reverse proxy, when the request came
// through it, ends the visitor's admission. Call it before writing the status. For
// visitors who reach the origin directly, POST their token to Crowdgate's
// /api/v1/rooms/{room}/release instead; either way the admission then reaches this and
// every other Verifier's revocation list.
func Release(w http.ResponseWriter) { w.Header().Set(ReleaseHeader, "1") }

// maxReturnTo bounds return_to; real paths are far shorter.
const maxReturnTo = 2048

// maxCookies bounds how many cookies of the room's name are tried; a browser sends more
// than one only when several paths or a parent domain set one.
const maxCookies = 4

type claimsKey struct{}

// FromContext returns the claims Middleware put in a request's context.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// Middleware lets a request through to next when it carries a valid admission token for
// the room, with the token's claims in its context (FromContext). The token is read from
// the cookie cg_a_{room} that Crowdgate sets on admission, else from
// "Authorization: Bearer <token>"; the cookie comes first because an origin's own API
// may use the Authorization header for something else.
//
// Any other request is sent to the waiting room, with the path it asked for as
// return_to when that is a plain path on this site: browsers get a 302 to
// Config.WaitingRoomURL, clients that ask for JSON (Accept: application/json without
// text/html) get 401 {"error":{"code":"unauthorized","message":...}}. Both carry
// X-Crowdgate-Waiting-Room with the page's URL and Cache-Control: no-store.
//
// It works in echo as e.Use(echo.WrapMiddleware(v.Middleware)), and in any router that
// takes func(http.Handler) http.Handler.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.verifyRequest(r)
		if err != nil {
			v.deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// verifyRequest tries the room's cookies, then the bearer token, and returns the first
// valid one's claims, or the first failure.
func (v *Verifier) verifyRequest(r *http.Request) (Claims, error) {
	first := ErrNoToken
	try := func(token string) (Claims, bool) {
		c, err := v.Verify(token)
		if err != nil && first == ErrNoToken {
			first = err
		}
		return c, err == nil
	}
	for i, ck := range r.CookiesNamed(v.cookie) {
		if i == maxCookies {
			break
		}
		if c, ok := try(ck.Value); ok {
			return c, nil
		}
	}
	if token, ok := bearer(r); ok {
		if c, ok := try(token); ok {
			return c, nil
		}
	}
	return Claims{}, first
}

// bearer returns the token of an "Authorization: Bearer" header (scheme case-insensitive).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// deny sends the visitor to the waiting room.
func (v *Verifier) deny(w http.ResponseWriter, r *http.Request, err error) {
	page := v.cfg.WaitingRoomURL
	if rt, ok := safeReturnTo(r.URL.RequestURI()); ok {
		page = v.waitingRoom + "return_to=" + url.QueryEscape(rt)
	}
	h := w.Header()
	h.Set("X-Crowdgate-Waiting-Room", page)
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept")
	if !wantsJSON(r) {
		http.Redirect(w, r, page, http.StatusFound)
		return
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code = "unauthorized"
	body.Error.Message = denyMessage(err, v.cfg.Room)
	b, _ := json.Marshal(body) // cannot fail: strings only
	h.Set("Content-Type", "application/json")
	h.Set("WWW-Authenticate", `Bearer realm="crowdgate"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(b)
}

func denyMessage(err error, room string) string {
	var why string
	switch {
	case errors.Is(err, ErrNoToken):
		why = "an admission token for room " + room + " is required"
	case errors.Is(err, ErrExpired):
		why = "the admission token has expired or is not valid yet"
	case errors.Is(err, ErrWrongRoom):
		why = "the admission token is for another room than " + room
	case errors.Is(err, ErrRevoked):
		why = "this admission has ended"
	default:
		why = "the admission token is not valid"
	}
	return why + "; wait in the room"
}

// wantsJSON reports whether the client prefers JSON to a page.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// safeReturnTo returns uri when it is a path on this site, to come back to once admitted.
// It must never lead off-site (an open redirect on a page fans trust): it refuses
// "//host", "/\host" (browsers read \ as /), control characters (URL parsers drop tabs and
// newlines, so "/\t/host" is "//host"), and judges the percent-decoded forms too, in case
// something downstream decodes before redirecting.
func safeReturnTo(uri string) (string, bool) {
	if uri == "" || len(uri) > maxReturnTo {
		return "", false
	}
	p := uri
	for range 4 { // each decoding round is judged; deeper nesting is absurd
		if !localPath(p) {
			return "", false
		}
		dec, err := url.PathUnescape(p)
		if err != nil || dec == p {
			break
		}
		p = dec
	}
	return uri, true
}

// localPath reports whether p, resolved by a browser against a page of this site, stays
// on this site.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
