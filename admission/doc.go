// Package admission decides who gets in and when, and proves it.
//
// The Controller is the one door to rooms and admissions: everything above
// admission writes a room through it (PutRoom, UpdateRoom, DeleteRoom),
// which drops the room from this instance's cache at once, so no caller
// has to remember to; other instances see the change at their next
// refresh. Queue data that is no admission decision (the audit log,
// history, fairness proofs, notify-me contacts) callers reach through the
// queue.Store they are given openly: the controller does not hand out its
// own.
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
// # Adaptive admission
//
// A room with adaptive admission on (queue.Room.Adaptive, off by default)
// admits as fast as the booking core behind it stays healthy, never faster
// than the organizer's admit_per_minute. The room's token bucket accrues
// at the lower of the two rates (admit.lua); the adaptive rate lives with
// the room in Redis, so every instance admits at the same one. Every
// AdaptEvery (2 s) the controller reads Config.Health (cmd wires the
// booking core's: tickets held in live holds behind the room, and this
// instance's p99 of holds and checkouts over the last 5 s) and takes one
// step of additive increase, multiplicative decrease against the room's
// targets, adaptive_max_checkouts and adaptive_p99_ms:
//
//   - a target exceeded (held > max, or p99 > ceiling over at least 50
//     requests): rate × 0.7, down to a floor of 1% of the organizer's rate
//     (at least 1/min), so admissions never stop and keep being measured;
//   - every target under 80%: rate + 10% of the organizer's rate, up to
//     it, but only while people wait (an idle room does not creep up to
//     admit a later surge at full speed);
//   - otherwise, or with no reading: hold.
//
// Switching adaptive admission on starts the rate at 10% of the
// organizer's (in the same script as the switch). A paused, closed,
// passthrough or pre-sale room holds its rate. Each instance proposes a
// step per period; the store takes it only if the last step is at least
// 0.9 × AdaptEvery old and nobody stepped since the proposer read it
// (queue.Store.StepAdaptive), so instances never compound their steps,
// whichever instance's reading wins. Changes are kept (the last 50) with
// their reasons, e.g. "p99 412 ms > 250 ms", for the dashboard, and the
// rate is the gauge crowdgate_adaptive_rate_per_minute{room}.
//
// In reverse-proxy mode a room may also follow the origin it protects
// (adaptive_origin_p99_ms, adaptive_origin_error_percent; origin.go): the
// gateway reports every proxied answer on the room's paths
// (Controller.ObserveOrigin: the time to response headers, and whether it
// was a 5xx or no answer), each instance keeps the last 5 s of them, and
// every period each instance publishes its reading beside the room
// (queue.Store.ShareOrigin) and reads every live instance's, so the step
// is taken on the whole deployment's traffic: answers and failures add
// up, the p99 is the slowest instance's among those with 50 answers or
// more. The origin's targets count like the booking core's (over: × 0.7,
// reasons such as "origin p99 812 ms > 500 ms" or "origin 5xx 7% > 2%");
// under 50 answers in all the origin is "not known" and counts as met.
//
// A room with origin targets waits out its own lag, because fans admitted
// now load the origin for as long as they browse, and the reading covers
// the last 5 s: a step taken on it at once answers the previous step, and
// the rate swings far past the origin's capacity both ways (measured
// 70-900/min around a capacity of ~600, in docs/performance.md). So for
// 3 periods (6 s) after a change (the switch-on included) it neither
// rises ("room to grow, waiting out the last change") nor, after a cut,
// cuts again ("waiting out the last cut"); over a target just after a
// rise, it cuts at once. Its rises shrink as the origin nears a target:
// 10% of the organizer's rate × (1 − load/0.8), at least a fifth of that,
// where load is the largest fraction of an origin target the reading
// reaches. The store's log of changes (the last one, read with the state)
// says when and which way the rate last moved, so every instance waits
// out the same change. Rooms that steer by the booking core alone step
// every period as below.
//
// Dynamics: the p99 window is 5 s, so after the booking core recovers
// the rate keeps falling until its slow requests age out of it (at most
// 5 s, less under load), then climbs from the floor to the organizer's
// rate in ten steps: about 30 s with 2-s steps. From the organizer's rate
// it falls to half in two steps and to a tenth in seven. Admitted fans
// reach checkout some time after admission, so held tickets respond to a
// rate change with that delay; the checkout target is a ceiling the rate
// backs off from, not a level it holds exactly.
//
// # Waiters who asked to be told
//
// Waiters who left their contact in the waiting room (queue's "notify
// me") are told once that their turn is near, when at most 10 people are
// ahead of them or their expected wait (Estimate, the ETA the page shows)
// is 3 minutes or less while the room admits, and once that they are
// admitted, with a link back to their place (Config.ResumeURL, built from
// their queue token). The decision is taken here, next to positions and
// ETAs, on every sweep; the message goes to the room's stream in package
// notify (Config.Notify), which delivers it at least once.
//
// The Keyring signs admission tokens (EdDSA or ES256 JWTs with a kid) and
// queue tokens (an HMAC binding a queue id to its room), publishes the JWKS,
// and rotates keys, keeping a retired key published until its tokens have
// expired. The keyring document is shared through the store so every
// instance signs alike. PassCache verifies admission tokens once and
// remembers the result until they expire, so the forward-auth hot path does
// not pay an Ed25519 verification per request.
//
// admission knows no HTTP; it imports queue and notify and nothing above
// them (not booking: the booking core's health comes in through
// Config.Health). Everything
// here is safe for concurrent use.
package admission
