package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/notify"
)

// Room hooks' delivery (docs/hooks.md): a Notifier of its own, beside
// the fans', reading only the rooms' hook outboxes, with a consumer group
// of its own, posting to the organizer's webhook alone. Retries run for
// about 50 minutes (5 s doubling to 10 min, 12 attempts) before a message
// goes to its room's dead letters: an organizer's endpoint may be down
// longer than a payment gateway's.
const (
	roomHookChannel     = "room-webhook"
	roomHookMinBackoff  = 5 * time.Second
	roomHookMaxBackoff  = 10 * time.Minute
	roomHookMaxAttempts = 12
)

// newRoomHooks builds the Notifier that delivers ctl's room hooks to
// --room-webhook-url; nil when none is set.
func newRoomHooks(o options, rdb redis.UniversalClient, ctl *admission.Controller, log *slog.Logger, reg prometheus.Registerer) (*notify.Notifier, error) {
	if o.roomHookURL == "" {
		return nil, nil
	}
	ch, err := notify.NewWebhookChannel(notify.WebhookConfig{
		Name: roomHookChannel, URL: o.roomHookURL, Secret: o.roomHookSecret, Render: gateway.RoomHookBody,
	})
	if err != nil {
		return nil, fmt.Errorf("--room-webhook-url: %w", err)
	}
	cfg := roomHookConfig(ch, ctl.HookStreams)
	cfg.Logger, cfg.Registerer = log, reg
	return notify.New(rdb, cfg)
}

// roomHookConfig is the room hooks' Notifier's configuration: ch alone,
// on the streams of src alone.
func roomHookConfig(ch notify.Channel, src notify.Source) notify.Config {
	return notify.Config{
		Channels: []notify.Channel{ch}, Sources: []notify.Source{src}, SourcesOnly: true,
		Group: "room-hooks", MinBackoff: roomHookMinBackoff, MaxBackoff: roomHookMaxBackoff, MaxAttempts: roomHookMaxAttempts,
		Poll: time.Second,
	}
}
