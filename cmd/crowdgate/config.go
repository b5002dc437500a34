package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// fileConfig is the CROWDGATE_CONFIG document: rooms and events by id, each
// in the same shape as the body of PUT /admin/v1/rooms/{room} and PUT
// /admin/v1/events/{event}, and routes.
type fileConfig struct {
	Rooms  map[string]json.RawMessage `json:"rooms"`
	Events map[string]json.RawMessage `json:"events"`
	// Routes are rules as CROWDGATE_ROUTES writes them ("[host]/prefix=room",
	// or several, comma-separated), in force beside --route's. Unlike rooms
	// and events they are no state in the store: each instance reads them
	// from its file at start.
	Routes []string `json:"routes"`
}

// decodeConfig reads a CROWDGATE_CONFIG file's document, refusing fields it
// does not know.
func decodeConfig(data []byte) (fileConfig, error) {
	var fc fileConfig
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fc, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	err = dec.Decode(&fc)
	return fc, err
}

// configRoutes returns the routes a CROWDGATE_CONFIG file declares, each
// checked as ParseRoutes checks a rule.
func configRoutes(data []byte) ([]string, error) {
	fc, err := decodeConfig(data)
	if err != nil {
		return nil, err
	}
	if _, err := gateway.ParseRoutes(fc.Routes...); err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return fc.Routes, nil
}

// loadConfig parses a CROWDGATE_CONFIG file, as strictly as the admin API
// parses a request. Its routes are checked too; configRoutes returns them.
func loadConfig(data []byte) ([]queue.Room, []booking.Event, error) {
	fc, err := decodeConfig(data)
	if err != nil {
		return nil, nil, err
	}
	if _, err := gateway.ParseRoutes(fc.Routes...); err != nil {
		return nil, nil, fmt.Errorf("routes: %w", err)
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
// file declares, each only when it does not exist or its declaration is
// new or changed since a file last applied it. Every instance starts with
// the file: re-applying an unchanged one would undo, at each restart of a
// rolling update, what organizers changed live (a rate, a pause, a
// capacity).
//
// Rooms are written through ctl, the one door to rooms; store keeps the
// declarations' digests. It returns the rooms and events declared, which
// a configKeeper puts back when the store loses them, and warns about the
// schedules it writes that are already past.
func applyConfig(ctx context.Context, store *queue.Store, ctl *admission.Controller, core *booking.Core, path string, log *slog.Logger) ([]queue.Room, []booking.Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--config: %w", err)
	}
	rooms, events, err := loadConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--config %s: %w", path, err)
	}
	for _, r := range rooms {
		prev, err := store.GetRoom(ctx, r.Name)
		exists := err == nil
		if err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
			return nil, nil, fmt.Errorf("--config %s: room %s: %w", path, r.Name, err)
		}
		applied, err := declare(ctx, store, "room/"+r.Name, r, exists, func() error {
			_, _, err := ctl.PutRoom(ctx, r)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("--config %s: room %s: %w", path, r.Name, err)
		}
		log.Info("room from config", "room", r.Name, "admit_per_minute", r.AdmitPerMinute, "applied", applied)
		if applied {
			logSchedule(log, prev, r, time.Now())
		}
	}
	for _, e := range events {
		_, err := core.Event(ctx, e.ID)
		exists := err == nil
		if err != nil && !errors.Is(err, booking.ErrEventNotFound) {
			return nil, nil, fmt.Errorf("--config %s: event %s: %w", path, e.ID, err)
		}
		applied, err := declare(ctx, store, "event/"+e.ID, e, exists, func() error {
			_, err := core.PutEvent(ctx, e)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("--config %s: event %s: %w", path, e.ID, err)
		}
		log.Info("event from config", "event", e.ID, "room", e.Room, "applied", applied)
	}
	return rooms, events, nil
}

// declare applies one declaration (put) unless it exists already as a
// file last declared it, and records its digest once applied.
func declare(ctx context.Context, store *queue.Store, name string, decl any, exists bool, put func() error) (applied bool, err error) {
	digest, err := digestOf(decl)
	if err != nil {
		return false, err
	}
	last, err := store.Declared(ctx, name)
	if err != nil {
		return false, err
	}
	if exists && last == digest {
		return false, nil // as declared; what changed since was changed live
	}
	if err := put(); err != nil {
		return false, err
	}
	return true, store.SetDeclared(ctx, name, digest)
}

// digestOf is the digest of a declaration, as the store keeps it.
func digestOf(decl any) (string, error) {
	b, err := json.Marshal(decl)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
