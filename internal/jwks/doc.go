// Package jwks reads RFC 7517 JSON Web Key Sets of signing keys: Ed25519 and P-256 public
// keys, each pinned to its one algorithm (EdDSA, ES256) so that a token can never choose
// how its signature is checked. guard reads Crowdgate's own key set with it, and the
// gateway the key sets of organizers' sites, which sign enqueue tokens.
//
// It imports only the standard library and golang-jwt, and no Crowdgate package, so that
// guard, which origins embed, keeps its promise of pulling in nothing else.
//
// Concurrency: it has no state; a Set is immutable once returned.
package jwks
