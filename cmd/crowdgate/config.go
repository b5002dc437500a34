package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// fileConfig is the CROWDGATE_CONFIG document: rooms and events by id, each
// in the same shape as the body of PUT /admin/v1/rooms/{room} and PUT
// /admin/v1/events/{event}.
type fileConfig struct {
	Rooms  map[string]json.RawMessage `json:"rooms"`
	Events map[string]json.RawMessage `json:"events"`
}

// loadConfig parses a CROWDGATE_CONFIG file, as strictly as the admin API
// parses a request.
func loadConfig(data []byte) ([]queue.Room, []booking.Event, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, err
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return nil, nil, err
	}
	rooms := make([]queue.Room, 0, len(fc.Rooms))
	for _, n := range sortedKeys(fc.Rooms) {
		r, err := gateway.DecodeRoom(n, fc.Rooms[n])
		if err != nil {
			return nil, nil, fmt.Errorf("room %s: %w", n, err)
		}
		rooms = append(rooms, r)
	}
	events := make([]booking.Event, 0, len(fc.Events))
	for _, n := range sortedKeys(fc.Events) {
		e, err := gateway.DecodeEvent(n, fc.Events[n])
		if err != nil {
			return nil, nil, fmt.Errorf("event %s: %w", n, err)
		}
		events = append(events, e)
	}
	return rooms, events, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// applyConfig creates or replaces the rooms and events a CROWDGATE_CONFIG
// file declares.
func applyConfig(ctx context.Context, store *queue.Store, core *booking.Core, path string, log *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	rooms, events, err := loadConfig(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for _, r := range rooms {
		if _, err := store.PutRoom(ctx, r); err != nil {
			return fmt.Errorf("--config %s: room %s: %w", path, r.Name, err)
		}
		log.Info("room from config", "room", r.Name, "admit_per_minute", r.AdmitPerMinute)
	}
	for _, e := range events {
		if _, err := core.PutEvent(ctx, e); err != nil {
			return fmt.Errorf("--config %s: event %s: %w", path, e.ID, err)
		}
		log.Info("event from config", "event", e.ID, "room", e.Room)
	}
	return nil
}
