// Package captcha checks CAPTCHA responses with their provider's siteverify
// endpoint: Cloudflare Turnstile, hCaptcha and Google reCAPTCHA (v2, and v3
// with its score and action), which all speak the same protocol.
//
// The protocol, as implemented here (one POST per response, never
// retried, since a response may be verified once):
//
//	POST <siteverify URL>   Content-Type: application/x-www-form-urlencoded
//	secret=<the deployment's secret>&response=<the widget's token>
//	  &remoteip=<the fan's address, when known>
//	  &sitekey=<the room's site key>           (hCaptcha only: binds the token to it)
//
//	200 {"success": true|false, "challenge_ts": "<ISO 8601>", "hostname": "...",
//	     "error-codes": [...], "action": "...", "score": 0.9, ...}
//
// Turnstile answers at https://challenges.cloudflare.com/turnstile/v0/siteverify,
// hCaptcha at https://api.hcaptcha.com/siteverify, reCAPTCHA at
// https://www.google.com/recaptcha/api/siteverify.
//
// A response passes when success is true and the answer's hostname is the
// one expected (the host fans reach Crowdgate at), its action is the
// room's (when the room names one), its challenge_ts is at most MaxAge old
// (and not from the future, give or take a minute of clock skew), and, for
// reCAPTCHA v3, whose answers carry a score, the score is at least
// MinScore. Anything else is one of two failures, which callers treat
// differently:
//
//   - rejected (kind crowdgate.CaptchaFailed, ErrRejected): the fan's token
//     is bad: invalid-input-response, timeout-or-duplicate,
//     expired-input-response, already-seen-response, bad-request, a wrong
//     hostname or action, a stale one, a low score, or any code this
//     package does not know. The fan solves the widget again.
//   - unavailable (kind crowdgate.Unavailable, ErrUnavailable): the
//     provider could not be asked, or could not answer: a network error,
//     no answer within Timeout, an HTTP status other than 200, an answer
//     that is not the protocol's JSON or is over 64 KiB, internal-error;
//     and, with ErrMisconfigured as well, the codes that blame the
//     deployment's secret (missing-input-secret, invalid-input-secret,
//     invalid-parsed-secret, invalid-widget-id, sitekey-secret-mismatch,
//     not-using-dummy-passcode). The room then does what it says: refuse
//     for now, or fall back to the proof-of-work challenge.
//
// Config.Observe hears the outcome of every call made (ok, failed,
// unreachable, misconfigured; see Outcome), so a deployment can count
// them: a provider that cannot be reached is otherwise only a log line.
//
// The answer is parsed strictly: one JSON object, the known fields with
// their types (success must be there), nothing after it. Fields the
// providers add (cdata, metadata, credit, score_reason, apk_package_name)
// are allowed and ignored, since providers add them without notice.
//
// The package is the only one that talks to CAPTCHA providers. It imports
// no other package of Crowdgate's but the root (for the error kinds), so
// admission, which must not speak HTTP, reaches it through a function cmd
// wires. A Verifier is safe for concurrent use.
package captcha
