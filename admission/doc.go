// Package admission decides who gets in and when, and proves it.
//
// The Controller runs each room's admission decision (queue.Store.Admit) on
// a tick, sweeps silent waiters, and caches room configurations; the
// decision itself is one Lua script over the room's shared token bucket, so
// any number of instances admit at exactly the room's rate. In a
// random_prequeue room the same tick commits to the draw's seed once the
// queue opens and draws the pre-queue at sale start (queue.Store.Draw:
// exactly one instance draws); fans are told "prequeue" until then. It
// turns places in the line into Tickets for fans.
//
// The Keyring signs admission tokens (EdDSA or ES256 JWTs with a kid) and
// queue tokens (an HMAC binding a queue id to its room), publishes the JWKS,
// and rotates keys, keeping a retired key published until its tokens have
// expired. The keyring document is shared through the store so every
// instance signs alike. PassCache verifies admission tokens once and
// remembers the result until they expire, so the forward-auth hot path does
// not pay an Ed25519 verification per request.
//
// admission knows no HTTP; it imports queue and nothing above it. Everything
// here is safe for concurrent use.
package admission
