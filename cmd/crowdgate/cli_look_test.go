package main

import (
	"strings"
	"testing"
)

// TestCLIRoomLook: the look's flags set the logo and the framing sites, and
// room template uploads (a bad template refused, saying why, the stored one
// kept), prints and deletes the room's page template.
func TestCLIRoomLook(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	m := mustJSON(t, mustCLI(t, env, "room", "create", "final", "--logo", "https://cdn.example.com/l.svg", "--logo-alt", "Example Live",
		"--embed-origin", "https://www.example.com", "--embed-origin", "https://shop.example.com"))
	if m["logo_url"] != "https://cdn.example.com/l.svg" || m["logo_alt"] != "Example Live" || len(m["embed_origins"].([]any)) != 2 {
		t.Fatalf("create: %v", m)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "set", "final", "--embed-origin", "")); len(m["embed_origins"].([]any)) != 0 || m["logo_url"] == "" {
		t.Fatalf("clearing the framing sites: %v", m)
	}

	const page = `<header>Example Live</header><main>{{.WaitingRoom}}</main>`
	m = mustJSON(t, mustCLI(t, env, "room", "template", "final", mustWrite(t, "page.html", page)))
	if m["bytes"] != float64(len(page)) || len(m["sha256"].(string)) != 64 {
		t.Fatalf("upload: %v", m)
	}
	if _, _, err := cliRun(t, env, "room", "template", "final", mustWrite(t, "bad.html", `<script>x</script>{{.WaitingRoom}}`)); err == nil || !strings.Contains(err.Error(), "<script>") {
		t.Fatalf("a bad template: %v", err)
	}
	if got := mustCLI(t, env, "room", "template", "final"); got != page {
		t.Fatalf("the stored template: %q", got)
	}
	if _, _, err := cliRun(t, env, "room", "template", "final", "page.html", "--delete"); err == nil {
		t.Fatal("a file and --delete both ran")
	}
	mustCLI(t, env, "room", "template", "final", "--delete")
	if _, _, err := cliRun(t, env, "room", "template", "final"); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("after --delete: %v", err)
	}
}

// TestCLIRoomHooks: room hooks lists a room's dead hook messages and
// --retry sends them again (none here: the lists and counts are empty).
func TestCLIRoomHooks(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	mustCLI(t, env, "room", "create", "final")
	if m := mustJSON(t, mustCLI(t, env, "room", "hooks", "final", "--limit", "5")); len(m["dead"].([]any)) != 0 {
		t.Fatalf("dead letters: %v", m)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "hooks", "final", "--retry")); m["retried"] != 0.0 {
		t.Fatalf("retry: %v", m)
	}
	if _, _, err := cliRun(t, env, "room", "hooks", "nope"); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("a missing room: %v", err)
	}
}
