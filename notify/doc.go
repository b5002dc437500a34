// Package notify delivers messages to fans at least once: from named Redis
// streams (outboxes), through channels (SMTP email, a signed HTTP webhook
// for SMS and WhatsApp gateways, the log), with retries, leases, dead
// letters and per-channel de-duplication.
//
// # What it owns
//
// The delivery engine and nothing else. It does not decide what to say or
// when: producers do, and write a Message to a Stream in the same step as
// the change it reports, so the two cannot come apart.
//   - booking's scripts append order.paid, payment.failed, hold.expiring,
//     order.expired and order.refunded to their event's outbox
//     (booking.Outbox); booking.Core.Outboxes lists them as a Source.
//   - admission appends queue.near and queue.admitted for waiters who left
//     their contact, with Outbox.Append, to a stream of notify's own (Named),
//     which every Notifier then finds by itself.
//   - queue's hooks.lua appends organizers' room hooks (room.paused,
//     room.sold_out, ...) to each room's hook outbox, with the body's data
//     in Message.Data; a second Notifier of cmd's delivers them to the
//     organizer's webhook alone (Config.SourcesOnly, WebhookConfig.Render).
//
// A Stream is a key prefix holding a Redis Cluster hash tag: its outbox,
// its dead letters and each message's delivery marks share one slot, so
// one transaction can dead-letter and ack a message.
//
// # Delivery
//
// A Notifier reads every stream through a consumer group shared by all
// Notifiers of a deployment, which split the messages among them. A
// message is acked only once every channel delivered it or gave up on it;
// a failed channel is retried with exponential backoff (1 s to 5 min) and
// the ones that succeeded are never repeated; after MaxAttempts (8) the
// message goes to its stream's dead letters (DeadLetters). A dead
// Notifier's messages are taken over after a lease with XPENDING and
// XCLAIM rather than XAUTOCLAIM: XAUTOCLAIM applies one idle time to all
// and counts an attempt on every message it touches, so it cannot give
// each failed message its own backoff. Messages leave their outbox a week
// after they were written (Config.Keep), long after the last retry.
//
// Each message is therefore delivered at least once per channel and
// normally exactly once. Emails carry a stable Message-ID and webhooks an
// Idempotency-Key ("<stream>:<id>"), so receivers can drop the rare
// duplicate. Webhooks are signed with package webhooksig.
//
// # Concurrency
//
// Notifiers and channels are safe for concurrent use, and any number of
// them, in any number of processes, may share one Redis. This package
// imports none of Crowdgate's domain packages: it knows streams and
// messages, not events, rooms or orders.
package notify
