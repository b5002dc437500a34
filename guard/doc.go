// Package guard guards an origin's pages with Crowdgate admission tokens.
//
// It is for origins written in Go that check admissions themselves instead of (or behind)
// Crowdgate's reverse proxy or forward auth. The check is local: a Verifier holds the
// public keys Crowdgate publishes at /.well-known/jwks.json and verifies each token's
// signature and claims against them, with no call to Crowdgate per request.
//
// Keys. New fetches the key set once, so that a wrong URL fails at start rather than
// refusing every visitor. Run fetches it again every Config.RefreshEvery, so that a key
// Crowdgate withdraws stops verifying here. A token whose kid is not in the set (Crowdgate
// has just rotated) causes a fetch at once, but at most one per Config.MinRefreshInterval
// however many such tokens arrive, and concurrent callers share it. When a fetch fails, or
// brings a set without a usable key, the last good set stays in force.
//
// Tokens. Verifier.Verify checks a token as Crowdgate does: the kid's key decides the
// algorithm (EdDSA for an Ed25519 key, ES256 for a P-256 key; "none", HMAC, RSA and a
// header naming another algorithm are refused); iss and aud (the room) must match; exp
// must not have passed, with no leeway; nbf and iat may be up to five seconds ahead. A
// verified token is remembered until it expires (or a refresh finds its key withdrawn), so
// a visitor's later requests cost a map lookup instead of a signature verification.
//
// Revocations. An admission Crowdgate ends early (the fan gave up the place, an origin
// released it, the room was deleted) would stay valid here until its exp, since the
// signature still verifies. So New reads, and Run polls every Config.RevocationsEvery
// (2 s), the room's public list at /api/v1/rooms/{room}/revocations: the jti and exp of
// every admission ended early whose token has not expired, min_iat (tokens issued before
// it belong to a deleted room of the same name) and exists (false once the room is
// deleted). The poll sends the list's ETag back, so an unchanged list costs a 304. Verify
// refuses what the list ends with ErrRevoked, a map lookup per call, cached tokens too; a
// released admission is refused here within about five seconds (Crowdgate renders the
// list at most once a second and lets caches keep it two). A list that cannot be fetched
// or read keeps the last good one in force, and says so in the log once; until the first
// good one nothing is revoked. Config.IgnoreRevocations turns it off.
//
// HTTP. Verifier.Middleware wraps an http.Handler; in echo,
// e.Use(echo.WrapMiddleware(v.Middleware)). It takes the token from the cookie
// cg_a_{room} or an "Authorization: Bearer" header. Crowdgate sets that cookie on its own
// host, and browsers send it only to the same host, so the cookie reaches the origin when
// the site and Crowdgate share a host name (a load balancer or CDN sends Crowdgate's paths,
// /rooms/, /api/, /ws/ and /.well-known/, to Crowdgate, and the rest to the origin); on
// another host only apps that send the bearer token get through. For the same reason the
// waiting room sends an admitted visitor back to a return_to path on its own host.
//
// guard imports no Crowdgate package but internal/claims and internal/jwks, nor echo, so
// an origin that uses it pulls in only the standard library and golang-jwt.
// internal/claims holds the claim checks guard shares with Crowdgate's admission package
// (payload, clock skew, parser options, key choice by kid, what counts as expired), and
// internal/jwks the key-set reader it shares with the gateway; both import only
// golang-jwt themselves; the tests verify tokens minted by admission.Keyring as well.
//
// Concurrency: a Verifier is safe for concurrent use. New, Verify and Middleware start no
// goroutines; Run is the only loop (key set and revocation list), owned by its caller,
// and returns when its context is done. Verify waits on the network only for a token with
// an unknown kid.
package guard
