package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestVerifyShuffleEndToEnd: two instances on one Redis run a
// random_prequeue sale; verify-shuffle, given only the public endpoints,
// reproduces the line exactly as it is in Redis, and each fan's place.
func TestVerifyShuffleEndToEnd(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs redis-server")
	}
	env := map[string]string{"CROWDGATE_REDIS_URL": "unix://" + strings.TrimPrefix(rs.Addr, "unix:"), "CROWDGATE_ADMIN_TOKEN": "tok"}
	a := startServe(t, env)
	b := startServe(t, env)
	auth := []string{"Authorization", "Bearer tok"}
	room := func(sale time.Time) string {
		return fmt.Sprintf(`{"admit_per_minute": 0, "mode": "random_prequeue", "queue_opens_at": %q, "sale_starts_at": %q}`,
			time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), sale.UTC().Format(time.RFC3339))
	}
	if code, m := call(t, "PUT", a.base+"/admin/v1/rooms/drop", room(time.Now().Add(time.Hour)), auth...); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	var ids []string
	for i := range 25 {
		code, j := call(t, "POST", []string{a.base, b.base}[i%2]+"/api/v1/rooms/drop/join", "")
		if code != 200 || j["status"] != "prequeue" {
			t.Fatalf("join: %d %v", code, j)
		}
		ids = append(ids, j["queue_id"].(string))
	}
	var out, errb bytes.Buffer
	ctx := context.Background()
	if err := verifyShuffle(ctx, []string{"--url", a.base, "--room", "drop"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "no seed yet") {
		t.Fatalf("before the draw: %v", err)
	}

	// The sale starts: an instance's controller draws within a tick.
	if code, m := call(t, "PUT", b.base+"/admin/v1/rooms/drop", room(time.Now().Add(-time.Second)), auth...); code != 200 {
		t.Fatalf("start the sale: %d %v", code, m)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, m := call(t, "GET", b.base+"/api/v1/rooms/drop/fairness", ""); m["seed"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no draw within 10 s")
		}
	}
	out.Reset()
	if err := verifyShuffle(ctx, []string{"--url", b.base, "--room", "drop"}, &out, &errb); err != nil {
		t.Fatalf("verify: %v\n%s", err, errb.String())
	}
	var printed []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		var place int
		var id string
		if _, err := fmt.Sscanf(line, "%d %s", &place, &id); err != nil || place != len(printed)+1 {
			t.Fatalf("line %q", line)
		}
		printed = append(printed, id)
	}
	rdb := redis.NewClient(rs.Options())
	defer rdb.Close()
	line, err := rdb.ZRange(ctx, "cg:{drop}:q", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(printed, line) {
		t.Fatalf("verify-shuffle printed\n%v\nbut the line is\n%v", printed, line)
	}
	if slices.Equal(line, ids) {
		t.Log("the draw kept the join order (1 in 25! chance)")
	}
	for place, id := range line[:3] {
		out.Reset()
		if err := verifyShuffle(ctx, []string{"--url", a.base, "--room", "drop", "--queue-id", id}, &out, &errb); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("queue id %s: place %d of 25", id, place+1); !strings.Contains(out.String(), want) {
			t.Fatalf("got %q, want %q", out.String(), want)
		}
	}
	if err := verifyShuffle(ctx, []string{"--url", a.base, "--room", "drop", "--queue-id", "zzz"}, &out, &errb); err == nil {
		t.Fatal("a queue id that did not take part has a place")
	}
	if err := verifyShuffle(ctx, []string{"--url", a.base, "--room", "nope"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing room: %v", err)
	}
}

// fairnessFile writes a drawn fairness document over ids and returns its
// path and the seed.
func fairnessFile(t *testing.T, ids []string, edit func(map[string]any)) (string, []byte) {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, queue.SeedSize)
	doc := map[string]any{
		"room": "r", "mode": "random_prequeue", "algorithm": queue.DrawAlgorithm,
		"commitment": queue.Commitment(seed), "seed": fmt.Sprintf("%x", seed),
		"drawn_at": "2026-12-01T10:30:00Z", "participants": len(ids), "queue_ids": ids,
	}
	if edit != nil {
		edit(doc)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fairness.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, seed
}

func TestVerifyShuffleFile(t *testing.T) {
	t.Parallel()
	ids := []string{"1", "2", "3", "4", "5", "a", "b", "10"}
	path, seed := fairnessFile(t, ids, nil)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"verify-shuffle", "--file", path}, nil, &out, &errb); err != nil {
		t.Fatalf("verify: %v", err)
	}
	want := queue.DrawOrder(seed, ids)
	for i, id := range want {
		if !strings.Contains(out.String(), fmt.Sprintf("\n%d %s\n", i+1, id)) {
			t.Fatalf("output lacks place %d = %s:\n%s", i+1, id, out.String())
		}
	}

	bad := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"seed does not match the commitment", func(d map[string]any) { d["seed"] = strings.Repeat("08", 32) }, "MISMATCH"},
		{"commitment swapped", func(d map[string]any) { d["commitment"] = queue.Commitment([]byte("other")) }, "MISMATCH"},
		{"not drawn", func(d map[string]any) { delete(d, "seed") }, "no seed"},
		{"count differs", func(d map[string]any) { d["participants"] = 3 }, "says 3 participants"},
		{"duplicate id", func(d map[string]any) { d["queue_ids"] = []string{"1", "1"}; delete(d, "participants") }, "twice"},
		{"bad id", func(d map[string]any) { d["queue_ids"] = []string{"1", "-2"} }, "not a queue id"},
		{"other algorithm", func(d map[string]any) { d["algorithm"] = "dice" }, "unknown algorithm"},
		{"short seed", func(d map[string]any) { d["seed"] = "abcd" }, "not 64"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := fairnessFile(t, ids, tc.edit)
			err := verifyShuffle(context.Background(), []string{"--file", path}, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, args := range [][]string{{}, {"--file", path, "--url", "http://x"}, {"--url", "http://x", "--room", "Bad!"}, {"--url", "ftp://x", "--room", "r"}} {
		if err := verifyShuffle(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// FuzzParseFairnessDoc: no input makes the parser panic, and whatever it
// accepts is a drawn, well-formed document the check can run on.
func FuzzParseFairnessDoc(f *testing.F) {
	seed := bytes.Repeat([]byte{1}, queue.SeedSize)
	good, _ := json.Marshal(map[string]any{
		"room": "r", "algorithm": queue.DrawAlgorithm, "commitment": queue.Commitment(seed),
		"seed": fmt.Sprintf("%x", seed), "participants": 2, "queue_ids": []string{"1", "2"},
	})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"seed":"zz","commitment":"","queue_ids":null}`))
	f.Add([]byte(`{"queue_ids":["0","1"],"participants":-1}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseFairnessDoc(b)
		if err != nil {
			return
		}
		if len(d.seed) != queue.SeedSize || len(d.Commitment) != 64 || d.QueueIDs == nil {
			t.Fatalf("accepted a malformed document: %+v", d)
		}
		seen := map[string]bool{}
		for _, id := range d.QueueIDs {
			if n, err := queue.Score(id); err != nil || n <= 0 || seen[id] {
				t.Fatalf("accepted queue id %q", id)
			}
			seen[id] = true
		}
		if order, err := d.verify(); err == nil && len(order) != len(d.QueueIDs) {
			t.Fatalf("order of %d for %d ids", len(order), len(d.QueueIDs))
		}
	})
}
