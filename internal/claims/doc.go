// Package claims is the admission token's payload and the checks on it, shared by
// admission, which signs and verifies tokens inside Crowdgate, and guard, which verifies
// them inside origins.
//
// It owns what the two must agree on to the letter: the payload's encoding (aud a single
// string, times integers), which claims are required, the clock skew allowed to nbf and
// iat (none to exp), the parser's options (EdDSA and ES256 only, iss checked, strict
// base64), how a token's key is chosen (by kid, and the key decides the algorithm), and
// which parser errors are timing failures. Each caller keeps its own sentinel errors and
// key store; this package returns the parser's errors and leaves their naming to them.
//
// It imports only the standard library and golang-jwt, and no Crowdgate package, so that
// guard, which origins embed, keeps its promise of pulling in nothing else
// (layout_test.go checks it).
//
// Concurrency: it has no state; a parser from NewParser is safe for concurrent use.
package claims
