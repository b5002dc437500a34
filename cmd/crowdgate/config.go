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

	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// fileConfig is the CROWDGATE_CONFIG document: rooms by id, each in the same
// shape as the body of PUT /admin/v1/rooms/{room}.
type fileConfig struct {
	Rooms map[string]json.RawMessage `json:"rooms"`
}

// loadConfig parses a CROWDGATE_CONFIG file, as strictly as the admin API
// parses a request.
func loadConfig(data []byte) ([]queue.Room, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(fc.Rooms))
	for n := range fc.Rooms {
		names = append(names, n)
	}
	sort.Strings(names)
	rooms := make([]queue.Room, 0, len(names))
	for _, n := range names {
		r, err := gateway.DecodeRoom(n, fc.Rooms[n])
		if err != nil {
			return nil, fmt.Errorf("room %s: %w", n, err)
		}
		rooms = append(rooms, r)
	}
	return rooms, nil
}

// applyConfig creates or replaces the rooms a CROWDGATE_CONFIG file declares.
func applyConfig(ctx context.Context, store *queue.Store, path string, log *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	rooms, err := loadConfig(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for _, r := range rooms {
		if _, err := store.PutRoom(ctx, r); err != nil {
			return fmt.Errorf("--config %s: room %s: %w", path, r.Name, err)
		}
		log.Info("room from config", "room", r.Name, "admit_per_minute", r.AdmitPerMinute)
	}
	return nil
}
