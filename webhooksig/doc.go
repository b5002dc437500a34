// Package webhooksig signs and verifies Crowdgate's webhooks: the payment
// webhooks of the sandbox provider and the notifications posted to an
// operator's webhook. They are signed the way Stripe signs its own, so
// anyone who has written a Stripe receiver can write one for Crowdgate,
// and the verification code is the same for both: the header
//
//	Crowdgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>
//
// binds the body to a moment; a receiver refuses moments too far from its
// clock, which bounds how long a captured request can be replayed (the
// event id, remembered for days, stops replays inside the window).
//
// It imports only the standard library, so a receiver written in Go can
// use Verify without pulling in the rest of Crowdgate.
package webhooksig
