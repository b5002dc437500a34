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

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// bookingParts are the booking core and its sandbox payment provider.
type bookingParts struct {
	core    *booking.Core
	sandbox *booking.Sandbox
}

// startBooking builds the booking core and its sandbox payment provider.
// listen is the gateway's own address: the sandbox posts its webhooks
// there.
func startBooking(ctx context.Context, o options, rdb redis.UniversalClient, store *queue.Store, listen net.Addr, public *url.URL, log *slog.Logger, reg prometheus.Registerer) (bookingParts, error) {
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
	})
	if err != nil {
		return bookingParts{}, err
	}
	return bookingParts{core: core, sandbox: sandbox}, nil
}

// newNotifier builds the notification workers: the log always, email and
// a webhook when configured. They deliver booking's outboxes, and the
// waiters' messages admission writes, which notify finds by itself.
func newNotifier(o options, rdb redis.UniversalClient, core *booking.Core, log *slog.Logger, reg prometheus.Registerer) (*notify.Notifier, error) {
	channels := []notify.Channel{notify.NewLogChannel(log)}
	if o.smtpAddr != "" {
		ch, err := notify.NewSMTPChannel(notify.SMTPConfig{Addr: o.smtpAddr, From: o.smtpFrom, Username: o.smtpUser, Password: o.smtpPassword})
		if err != nil {
			return nil, fmt.Errorf("--smtp-addr: %w", err)
		}
		channels = append(channels, ch)
	}
	if o.notifyURL != "" {
		ch, err := notify.NewWebhookChannel(notify.WebhookConfig{URL: o.notifyURL, Secret: o.notifySecret})
		if err != nil {
			return nil, fmt.Errorf("--notify-webhook-url: %w", err)
		}
		channels = append(channels, ch)
	}
	return notify.New(rdb, notify.Config{
		Channels: channels, Sources: []notify.Source{core.Outboxes}, Logger: log, Registerer: reg,
	})
}

// resumeURL builds the links in waiters' messages that bring them back to
// their place. They need an absolute URL: the public one, else this
// instance's own address (right for a demo, not for production).
func resumeURL(public *url.URL, listen net.Addr) func(room, queueToken string) string {
	base := "http://" + loopback(listen)
	if public != nil {
		base = strings.TrimSuffix(public.String(), "/")
	}
	return func(room, queueToken string) string { return base + gateway.ResumePath(room, queueToken) }
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
