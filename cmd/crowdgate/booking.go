package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// bookingParts are the booking core and the workers serve runs beside it.
type bookingParts struct {
	core     *booking.Core
	sandbox  *booking.Sandbox
	notifier *booking.Notifier
}

// startBooking builds the booking core, its sandbox payment provider and
// the notification workers. listen is the gateway's own address: the
// sandbox posts its webhooks there.
func startBooking(ctx context.Context, o options, rdb redis.UniversalClient, store *queue.Store, keys *admission.Keyring, listen net.Addr, public *url.URL, log *slog.Logger, reg prometheus.Registerer) (bookingParts, error) {
	secret := o.webhookSecret
	if secret != "" && len(secret) < 16 {
		// The operator's choice stands (a test setup, a provider's fixed
		// secret), but a short secret can be guessed.
		log.Warn("the sandbox webhook secret is under 16 bytes: webhooks signed with it can be forged by guessing it")
	}
	sandboxSecret, err := booking.SandboxSecret(ctx, rdb, secret)
	if err != nil {
		return bookingParts{}, err
	}
	base := ""
	if public != nil {
		base = strings.TrimSuffix(public.String(), "/")
	}
	// Links in messages need an absolute URL: the public one, else this
	// instance's own address (right for a demo, not for production).
	absolute := base
	if absolute == "" {
		absolute = "http://" + loopback(listen)
	}
	sandbox, err := booking.NewSandbox(rdb, booking.SandboxConfig{
		Secret:     sandboxSecret,
		PayURL:     func(id string) string { return base + gateway.SandboxPayPath(id) },
		WebhookURL: "http://" + loopback(listen) + gateway.PaymentWebhookPath(booking.SandboxName),
		Logger:     log,
	})
	if err != nil {
		return bookingParts{}, err
	}
	core, err := booking.NewCore(rdb, booking.Config{
		Providers: []booking.Provider{sandbox}, Logger: log, Registerer: reg,
		// Nothing left to sell behind a room: it closes by itself, and
		// every waiter is told so at once. Tickets on sale again (the
		// organizer added some): it reopens by itself, unless the
		// organizer closed it.
		SoldOut:   store.CloseSoldOut,
		Restocked: store.ReopenSoldOut,
		// Waiters who left their contact hear when their turn is near and
		// when it has come, with a link that brings them back to their place.
		Queue: store,
		ResumeURL: func(room, queueID string) string {
			return absolute + gateway.ResumePath(room, keys.QueueToken(room, queueID))
		},
	})
	if err != nil {
		return bookingParts{}, err
	}
	channels := []booking.Channel{booking.NewLogChannel(log)}
	if o.smtpAddr != "" {
		ch, err := booking.NewSMTPChannel(booking.SMTPConfig{Addr: o.smtpAddr, From: o.smtpFrom, Username: o.smtpUser, Password: o.smtpPassword})
		if err != nil {
			return bookingParts{}, fmt.Errorf("--smtp-addr: %w", err)
		}
		channels = append(channels, ch)
	}
	if o.notifyURL != "" {
		ch, err := booking.NewWebhookChannel(booking.WebhookConfig{URL: o.notifyURL, Secret: o.notifySecret})
		if err != nil {
			return bookingParts{}, fmt.Errorf("--notify-webhook-url: %w", err)
		}
		channels = append(channels, ch)
	}
	notifier, err := booking.NewNotifier(rdb, booking.NotifierConfig{Channels: channels, Logger: log, Registerer: reg})
	if err != nil {
		return bookingParts{}, err
	}
	return bookingParts{core: core, sandbox: sandbox, notifier: notifier}, nil
}

// loopback is addr as this process can reach it: an unspecified listen
// address (0.0.0.0, [::]) is reached on the loopback interface.
func loopback(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
