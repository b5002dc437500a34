package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const cliToken = "cli-test-token"

// cliRun runs `crowdgate args...` with env and returns what it printed.
func cliRun(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

// mustCLI runs the CLI and fails the test if it fails.
func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, errOut, err := cliRun(t, env, args...)
	if err != nil {
		t.Fatalf("crowdgate %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// mustJSON decodes a JSON object the CLI printed.
func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

func mustWrite(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tableRow returns the fields of the table line whose first column is key.
func tableRow(t *testing.T, table, key string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	t.Fatalf("no row %q in\n%s", key, table)
	return nil
}

// startCLIServer runs `crowdgate serve` in-process with the embedded store
// and returns the environment that points the CLI at it.
func startCLIServer(t *testing.T) map[string]string {
	t.Helper()
	inst := startServe(t, map[string]string{"CROWDGATE_ADMIN_TOKEN": cliToken})
	return map[string]string{"CROWDGATE_URL": inst.base, "CROWDGATE_ADMIN_TOKEN": cliToken}
}

const cliRoomYAML = `# the launch room, as code
admit_per_minute: 600
session_seconds: 900
queue_opens_at: 2026-12-01T10:00:00Z
mode: fifo
title: Launch day
`

const cliEventYAML = `room: launch
hold_seconds: 600
ticket_types:
  - id: ga
    name: General
    capacity: 100
    price_minor: 150000
    currency: INR
    per_order_limit: 4
`

func TestCLIRooms(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)

	m := mustJSON(t, mustCLI(t, env, "room", "set", "launch", "--file", mustWrite(t, "room.yaml", cliRoomYAML)))
	if m["room"] != "launch" || m["admit_per_minute"] != 600.0 || m["title"] != "Launch day" || m["queue_opens_at"] != "2026-12-01T10:00:00Z" {
		t.Fatalf("set --file: %v", m)
	}

	// key=value pairs PATCH just those fields, typed by JSON when they parse.
	mustCLI(t, env, "room", "set", "launch", "admit_per_minute=900", "paused=true", "title=Hello")
	m = mustJSON(t, mustCLI(t, env, "room", "get", "launch"))
	if m["admit_per_minute"] != 900.0 || m["paused"] != true || m["title"] != "Hello" || m["session_seconds"] != 900.0 || m["stats"] == nil {
		t.Fatalf("get after PATCH: %v", m)
	}

	for _, tc := range []struct {
		verb, field string
		want        bool
	}{
		{"resume", "paused", false},
		{"pause", "paused", true},
		{"resume", "paused", false},
		{"close", "closed", true},
	} {
		// Global flags work before the command too.
		m := mustJSON(t, mustCLI(t, env, "room", "--timeout", "5s", tc.verb, "launch"))
		if m[tc.field] != tc.want {
			t.Fatalf("room %s: %s = %v, want %v", tc.verb, tc.field, m[tc.field], tc.want)
		}
	}

	// key=value only changes a room; it never creates one.
	if _, _, err := cliRun(t, env, "room", "set", "lobby", "passthrough=true"); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Fatalf("PATCH of a missing room: %v", err)
	}
	mustCLI(t, env, "room", "set", "lobby", "--file", mustWrite(t, "lobby.json", `{"passthrough": true}`))
	list := mustCLI(t, env, "room", "list")
	if !strings.HasPrefix(list, "ROOM ") || !strings.Contains(list, "RATE/MIN") {
		t.Fatalf("list has no header:\n%s", list)
	}
	if row := tableRow(t, list, "launch"); row[1] != "fifo" || row[2] != "900" || row[len(row)-1] != "closed" {
		t.Fatalf("launch row %q", row)
	}
	if row := tableRow(t, list, "lobby"); row[len(row)-1] != "passthrough" {
		t.Fatalf("lobby row %q", row)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "list", "--output", "json")); len(m["rooms"].([]any)) != 2 {
		t.Fatalf("list --output json: %v", m)
	}
	if row := tableRow(t, mustCLI(t, env, "room", "get", "launch", "--output", "table"), "launch"); row[4] != "0" {
		t.Fatalf("get --output table: %q", row)
	}

	// Configuration as code: what get prints can be edited and set back,
	// here through standard input with a key=value override on top.
	saved := mustCLI(t, env, "room", "get", "launch")
	var out bytes.Buffer
	cli := &adminCLI{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(saved), stdout: &out, stderr: &out, pollEvery: time.Second}
	if err := cli.room(context.Background(), []string{"set", "launch", "--file", "-", "closed=false"}); err != nil {
		t.Fatalf("set --file - with the output of get: %v\n%s", err, out.String())
	}
	if m := mustJSON(t, out.String()); m["closed"] != false || m["admit_per_minute"] != 900.0 || m["title"] != "Hello" {
		t.Fatalf("round trip: %v", m)
	}
	// A saved document names its room; setting it onto another is refused.
	if _, _, err := cliRun(t, env, "room", "set", "lobby", "--file", mustWrite(t, "launch.json", saved)); err == nil || !strings.Contains(err.Error(), "describes room launch") {
		t.Fatalf("set another room's document: %v", err)
	}
}

func TestCLIEvents(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	mustCLI(t, env, "room", "set", "launch", "--file", mustWrite(t, "room.yaml", cliRoomYAML))
	eventFile := mustWrite(t, "event.yaml", cliEventYAML)

	m := mustJSON(t, mustCLI(t, env, "event", "set", "show", "--file", eventFile))
	if m["event"] != "show" || m["room"] != "launch" {
		t.Fatalf("event set: %v", m)
	}
	m = mustJSON(t, mustCLI(t, env, "event", "get", "show"))
	tt := m["ticket_types"].([]any)[0].(map[string]any)
	if tt["id"] != "ga" || tt["capacity"] != 100.0 || tt["available"] != 100.0 || tt["sold"] != 0.0 {
		t.Fatalf("event get: %v", m)
	}
	if row := tableRow(t, mustCLI(t, env, "event", "get", "show", "--output", "table"), "ga"); row[2] != "150000" || row[3] != "INR" || row[6] != "100" {
		t.Fatalf("event get --output table: %q", row)
	}
	if row := tableRow(t, mustCLI(t, env, "event", "list"), "show"); strings.Join(row, " ") != "show launch 600s 4 1 100 100 0 0" {
		t.Fatalf("event list row %q", row)
	}

	// The output of get goes back in as is, with an override.
	saved := mustCLI(t, env, "event", "get", "show")
	if m := mustJSON(t, mustCLI(t, env, "event", "set", "show", "hold_seconds=300", "per_admission_limit=6", "--file", mustWrite(t, "saved.json", saved))); m["hold_seconds"] != 300.0 || m["per_admission_limit"] != 6.0 {
		t.Fatalf("set back with overrides: %v", m)
	}

	audit := mustCLI(t, env, "event", "audit", "show")
	if m := mustJSON(t, audit); m["balanced"] != true {
		t.Fatalf("audit: %s", audit)
	}
	if out := mustCLI(t, env, "event", "audit", "show", "--output", "table"); !strings.Contains(out, "balanced: true") {
		t.Fatalf("audit --output table: %s", out)
	}

	logTable := mustCLI(t, env, "event", "log", "show")
	if row := tableRow(t, logTable, "ID"); strings.Join(row, " ") != "ID AT WHAT WHO FIELDS" {
		t.Fatalf("log header %q", row)
	}
	if !strings.Contains(logTable, "event.created") || !strings.Contains(logTable, "room=launch") {
		t.Fatalf("log table:\n%s", logTable)
	}
	lines := strings.Split(strings.TrimSpace(mustCLI(t, env, "event", "log", "show", "--output", "json")), "\n")
	if len(lines) != 2 {
		t.Fatalf("log --output json: %q", lines)
	}
	first := mustJSON(t, lines[0])
	if first["what"] != "event.created" || first["who"] != "organizer" {
		t.Fatalf("first entry %v", first)
	}
	rest := mustCLI(t, env, "event", "log", "show", "--output", "json", "--after", first["id"].(string), "--limit", "1")
	if m := mustJSON(t, rest); m["what"] != "event.changed" {
		t.Fatalf("--after: %s", rest)
	}
}

// cliAt runs `crowdgate noun args...` with stdin, as if stdin were a
// terminal or not, and returns what it printed.
func cliAt(t *testing.T, env map[string]string, stdin string, terminal bool, noun string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cli := &adminCLI{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		pollEvery: time.Second, interactive: func() bool { return terminal }}
	switch noun {
	case "room":
		err = cli.room(context.Background(), args)
	case "event":
		err = cli.event(context.Background(), args)
	default:
		t.Fatalf("noun %q", noun)
	}
	return out.String(), errb.String(), err
}

// TestCLIRoomCreateAndDelete: create makes a room and never replaces one;
// delete asks on a terminal, refuses without --yes elsewhere, and says
// what went.
func TestCLIRoomCreateAndDelete(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)

	m := mustJSON(t, mustCLI(t, env, "room", "create", "launch", "--file", mustWrite(t, "room.yaml", cliRoomYAML), "title=Created"))
	if m["room"] != "launch" || m["admit_per_minute"] != 600.0 || m["title"] != "Created" {
		t.Fatalf("create --file: %v", m)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "create", "lobby")); m["room"] != "lobby" || m["session_seconds"] != 900.0 {
		t.Fatalf("create with defaults: %v", m)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "create", "door", "passthrough=true")); m["passthrough"] != true {
		t.Fatalf("create with pairs: %v", m)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"exists", []string{"room", "create", "launch", "admit_per_minute=5", "title=Again"}, "precondition_failed: room launch already exists, and was left as it was"},
		{"exists, from a file", []string{"room", "create", "launch", "--file", mustWrite(t, "other.json", `{"admit_per_minute": 5}`)}, "precondition_failed: "},
		{"bad id", []string{"room", "create", "Launch"}, `room create: "Launch" is not a valid id`},
		{"unknown flag", []string{"room", "create", "fresh", "--force"}, "room create: flag provided but not defined: -force"},
		{"not a pair", []string{"room", "create", "fresh", "paused"}, `"paused" is not key=value`},
		{"refused value", []string{"room", "create", "fresh", "admit_per_minute=-1"}, "invalid_request: "},
		{"delete: bad id", []string{"room", "delete", "Launch", "--yes"}, `room delete: "Launch" is not a valid id`},
		{"delete: unknown flag", []string{"room", "delete", "launch", "--force"}, "room delete: flag provided but not defined: -force"},
		{"delete: two rooms", []string{"room", "delete", "launch", "lobby", "--yes"}, "room delete: unexpected arguments"},
		{"delete: no such room", []string{"room", "delete", "nosuch", "--yes"}, "not_found: "},
	} {
		if _, _, err := cliRun(t, env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	// The refused creates changed nothing, and made no room.
	if m := mustJSON(t, mustCLI(t, env, "room", "get", "launch")); m["admit_per_minute"] != 600.0 || m["title"] != "Created" {
		t.Fatalf("launch after a refused create: %v", m)
	}
	if _, _, err := cliRun(t, env, "room", "get", "fresh"); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Fatalf("a refused create made a room: %v", err)
	}

	// A waiter, so the question and the report have someone to count.
	mustCLI(t, env, "room", "set", "launch", "queue_opens_at=null", "paused=true")
	if code, j := call(t, "POST", env["CROWDGATE_URL"]+"/api/v1/rooms/launch/join", ""); code != http.StatusOK || j["status"] != "waiting" {
		t.Fatalf("join: %d %v", code, j)
	}

	// No terminal and no --yes: refused, nothing deleted.
	stdout, stderr, err := cliAt(t, env, "y\n", false, "room", "delete", "launch")
	if err == nil || !strings.Contains(err.Error(), "room delete: not done: standard input is not a terminal") || !strings.Contains(err.Error(), "--yes") || stdout != "" || stderr != "" {
		t.Fatalf("delete without a terminal: %v\nstdout %q stderr %q", err, stdout, stderr)
	}
	// On a terminal, asked; anything but yes keeps the room.
	for _, answer := range []string{"", "n\n", "no\n", "launch\n"} {
		_, stderr, err := cliAt(t, env, answer, true, "room", "delete", "launch")
		if err == nil || !strings.Contains(err.Error(), "not confirmed") || !strings.Contains(stderr, "Delete room launch? 1 person waiting would lose their place, and 0 admitted visitors their admission; this cannot be undone. [y/N] ") {
			t.Fatalf("answered %q: %v\nstderr %q", answer, err, stderr)
		}
	}
	mustCLI(t, env, "room", "get", "launch")
	stdout, _, err = cliAt(t, env, "y\n", true, "room", "delete", "launch")
	if err != nil || stdout != "deleted room launch: 1 person waiting lost their place, and 0 admitted visitors their admission\n" {
		t.Fatalf("delete, confirmed: %v\n%q", err, stdout)
	}
	if _, _, err := cliRun(t, env, "room", "get", "launch"); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Fatalf("get after delete: %v", err)
	}
	// --yes, for scripts; --output json prints the room as it was.
	if m := mustJSON(t, mustCLI(t, env, "room", "delete", "lobby", "--yes", "--output", "json")); m["room"] != "lobby" || m["stats"] == nil {
		t.Fatalf("delete --yes --output json: %v", m)
	}
	if list := mustCLI(t, env, "room", "list"); strings.Contains(list, "lobby") || strings.Contains(list, "launch") || !strings.Contains(list, "door") {
		t.Fatalf("list after deletes:\n%s", list)
	}
	// The name is free again.
	mustCLI(t, env, "room", "create", "launch")
}

// TestCLIEventDelete: an event that sold nothing is deleted; one with a
// paid order is refused with event_has_orders and kept whole.
func TestCLIEventDelete(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	mustCLI(t, env, "room", "create", "launch", "passthrough=true")
	eventFile := mustWrite(t, "event.yaml", cliEventYAML)
	mustCLI(t, env, "event", "set", "show", "--file", eventFile)
	mustCLI(t, env, "event", "set", "spare", "--file", eventFile)

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown", []string{"event", "delete", "nosuch", "--yes"}, "not_found: "},
		{"bad id", []string{"event", "delete", "Show", "--yes"}, `event delete: "Show" is not a valid id`},
		{"unknown flag", []string{"event", "delete", "show", "--force"}, "event delete: flag provided but not defined: -force"},
		{"missing event", []string{"event", "delete", "--yes"}, "event delete: missing EVENT"},
	} {
		if _, _, err := cliRun(t, env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if _, _, err := cliAt(t, env, "", false, "event", "delete", "spare"); err == nil || !strings.Contains(err.Error(), "event delete: not done: standard input is not a terminal") {
		t.Fatalf("delete without a terminal: %v", err)
	}
	mustCLI(t, env, "event", "get", "spare")

	// A fan buys two tickets of show.
	base := env["CROWDGATE_URL"]
	_, j := call(t, "POST", base+"/api/v1/rooms/launch/join", "")
	bearer := "Bearer " + j["admission_token"].(string)
	code, hold := call(t, "POST", base+"/api/v1/events/show/holds", `{"ticket_type":"ga","quantity":2}`, "Authorization", bearer, "Content-Type", "application/json")
	if code != http.StatusCreated {
		t.Fatalf("hold: %d %v", code, hold)
	}
	code, order := call(t, "POST", base+"/api/v1/holds/"+hold["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`, "Authorization", bearer, "Content-Type", "application/json")
	if code != http.StatusCreated {
		t.Fatalf("checkout: %d %v", code, order)
	}
	req, _ := http.NewRequest("POST", base+order["payment"].(map[string]any)["redirect_url"].(string), strings.NewReader("decision=approve"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, o := call(t, "GET", base+"/api/v1/orders/"+order["order_id"].(string), ""); o["status"] != "paid" {
		t.Fatalf("order: %v", o)
	}

	_, _, err = cliRun(t, env, "event", "delete", "show", "--yes")
	if err == nil || !strings.HasPrefix(err.Error(), "event_has_orders: event show has 1 paid order (2 tickets sold)") {
		t.Fatalf("delete an event with a paid order: %v", err)
	}
	if row := tableRow(t, mustCLI(t, env, "event", "list"), "show"); strings.Join(row, " ") != "show launch 600s 4 1 100 98 0 2" {
		t.Fatalf("show after the refused delete: %q", row)
	}
	if _, o := call(t, "GET", base+"/api/v1/orders/"+order["order_id"].(string), ""); o["status"] != "paid" {
		t.Fatalf("the order after the refused delete: %v", o)
	}

	stdout, _, err := cliAt(t, env, "yes\n", true, "event", "delete", "spare")
	if err != nil || stdout != "deleted event spare (room launch, 1 ticket type, 100 tickets)\n" {
		t.Fatalf("delete spare: %v\n%q", err, stdout)
	}
	if _, _, err := cliRun(t, env, "event", "get", "spare"); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Fatalf("get after delete: %v", err)
	}
	if code, _ := call(t, "GET", base+"/api/v1/events/spare", ""); code != http.StatusNotFound {
		t.Fatalf("the deleted event's public page: %d", code)
	}
}

// TestCLILogFollow: --follow prints what is there, then what comes, and
// ends cleanly when its context is cancelled (Ctrl-C in main).
func TestCLILogFollow(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	mustCLI(t, env, "room", "set", "launch", "--file", mustWrite(t, "room.yaml", cliRoomYAML))
	eventFile := mustWrite(t, "event.yaml", cliEventYAML)
	mustCLI(t, env, "event", "set", "show", "--file", eventFile)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	cli := &adminCLI{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: out, stderr: out, pollEvery: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- cli.event(ctx, []string{"log", "show", "--follow", "--output", "json"}) }()

	waitFor := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(out.String(), s) {
				return
			}
		}
		t.Fatalf("follow never printed %q:\n%s", s, out.String())
	}
	waitFor("event.created")
	mustCLI(t, env, "event", "set", "show", "--file", eventFile)
	waitFor("event.changed")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("follow did not stop after cancellation")
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("follow printed %d lines, want each entry once:\n%s", n, out.String())
	}
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	mustCLI(t, env, "room", "set", "launch", "--file", mustWrite(t, "room.yaml", cliRoomYAML))
	with := func(k, v string) map[string]string {
		e := map[string]string{"CROWDGATE_URL": env["CROWDGATE_URL"], "CROWDGATE_ADMIN_TOKEN": env["CROWDGATE_ADMIN_TOKEN"]}
		if v == "" {
			delete(e, k)
		} else {
			e[k] = v
		}
		return e
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // prefix of the error, or a part of it
		usage   string // what stderr must show; "" = nothing
	}{
		{"wrong token", with("CROWDGATE_ADMIN_TOKEN", "wrong-secret"), []string{"room", "list"}, "unauthorized: ", ""},
		{"no token", with("CROWDGATE_ADMIN_TOKEN", ""), []string{"room", "list"}, "an admin token is required", ""},
		{"no such room", env, []string{"room", "get", "nosuch"}, "not_found: ", ""},
		{"no such event", env, []string{"event", "audit", "nosuch"}, "not_found: ", ""},
		{"refused value", env, []string{"room", "set", "launch", "admit_per_minute=-5"}, "invalid_request: ", ""},
		{"wrong type", env, []string{"room", "set", "launch", "title=42"}, "invalid_request: ", ""},
		{"unknown field", env, []string{"room", "set", "launch", "colour=red"}, "invalid_request: ", ""},
		{"unreachable", with("CROWDGATE_URL", closedPort), []string{"room", "list"}, "cannot reach Crowdgate at " + closedPort, ""},
		{"bad url", with("CROWDGATE_URL", "localhost:8080"), []string{"room", "list"}, "--url must be", ""},
		{"bad output", env, []string{"room", "list", "--output", "yaml"}, "--output must be", ""},
		{"bad id", env, []string{"room", "get", "Launch"}, "room get: \"Launch\" is not a valid id", ""},
		{"not a pair", env, []string{"room", "set", "launch", "paused"}, "\"paused\" is not key=value", ""},
		{"nothing to set", env, []string{"room", "set", "launch"}, "nothing to set", ""},
		{"event set without file", env, []string{"event", "set", "show"}, "--file FILE", ""},
		{"missing file", env, []string{"event", "set", "show", "--file", "/nonexistent.yaml"}, "--file: ", ""},
		{"bad limit", env, []string{"event", "log", "show", "--limit", "5000"}, "--limit must be", ""},
		{"no verb", env, []string{"room"}, "room: no command given", "Usage: crowdgate room <command>"},
		{"unknown verb", env, []string{"room", "frobnicate"}, `room: unknown command "frobnicate"`, "Usage: crowdgate room <command>"},
		{"unknown event verb", env, []string{"event", "frobnicate", "show"}, `event: unknown command "frobnicate"`, "Usage: crowdgate event <command>"},
		{"missing room", env, []string{"room", "get"}, "room get: missing ROOM", "Usage: crowdgate room get ROOM"},
		{"missing event", env, []string{"event", "log", "--follow"}, "event log: missing EVENT", "Usage: crowdgate event log EVENT"},
		{"extra argument", env, []string{"room", "pause", "launch", "lobby"}, "room pause: unexpected arguments", "Usage: crowdgate room pause"},
		{"unknown flag", env, []string{"room", "list", "--bogus"}, "room list: flag provided but not defined: -bogus", "Usage: crowdgate room list"},
		{"unknown global flag", env, []string{"event", "--bogus", "list"}, "event: flag provided but not defined", "Usage: crowdgate event <command>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := cliRun(t, tc.env, tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", stdout)
			}
			if !strings.HasPrefix(err.Error(), tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want %q", err, tc.wantErr)
			}
			if tc.usage == "" && stderr != "" || !strings.Contains(stderr, tc.usage) {
				t.Fatalf("stderr %q, want %q", stderr, tc.usage)
			}
			for _, s := range []string{stdout, stderr, err.Error()} {
				if strings.Contains(s, "wrong-secret") || strings.Contains(s, cliToken) {
					t.Fatalf("a token was printed: %q", s)
				}
			}
		})
	}
	// The room was never changed by the refused requests.
	if m := mustJSON(t, mustCLI(t, env, "room", "get", "launch")); m["admit_per_minute"] != 600.0 {
		t.Fatalf("after refused requests: %v", m)
	}
}

// TestCLIHelp: help goes to stdout, succeeds, and never shows the token,
// not even as a flag's default.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CROWDGATE_ADMIN_TOKEN": "s3cret-help-token"}
	for _, args := range [][]string{{"room", "-h"}, {"room", "help"}, {"event", "--help"}, {"room", "set", "-h"}, {"event", "log", "-h"}, {"room", "create", "-h"}, {"room", "delete", "-h"}, {"event", "delete", "-h"}, {"help"}} {
		stdout, _, err := cliRun(t, env, args...)
		if err != nil || !strings.Contains(stdout, "Usage:") || strings.Contains(stdout, "s3cret-help-token") {
			t.Errorf("%v: %v\n%s", args, err, stdout)
		}
	}
	if stdout, _, _ := cliRun(t, env, "help"); !strings.Contains(stdout, "crowdgate room <command>") || !strings.Contains(stdout, "crowdgate event <command>") {
		t.Errorf("the top usage does not list room and event:\n%s", stdout)
	}
}

// TestCLIOddServers: answers that are not the happy path of a real server.
func TestCLIOddServers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+cliToken {
			http.Error(w, "no", http.StatusTeapot)
			return
		}
		switch r.URL.Path {
		case "/prefix/admin/v1/events/show/audit":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"event":"show","balanced":false,"problems":["ga: held 2 but holds sum to 1"],"holds":{},"orders":{}}`))
		case "/prefix/admin/v1/rooms/slow":
			<-r.Context().Done()
		case "/prefix/admin/v1/rooms/boom":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"something failed","request_id":"r-1"}}`))
		default:
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	env := map[string]string{"CROWDGATE_URL": srv.URL + "/prefix/", "CROWDGATE_ADMIN_TOKEN": cliToken}

	stdout, _, err := cliRun(t, env, "event", "audit", "show")
	if err == nil || !strings.Contains(err.Error(), "does not balance: ga: held 2") || mustJSON(t, stdout)["balanced"] != false {
		t.Fatalf("unbalanced audit: %v\n%s", err, stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"room", "get", "slow", "--timeout", "50ms"}, "no answer from Crowdgate at " + srv.URL + "/prefix within 50ms"},
		{[]string{"room", "get", "boom"}, "internal: something failed (request id r-1)"},
		{[]string{"room", "list"}, "GET " + srv.URL + "/prefix/admin/v1/rooms answered 502 Bad Gateway, not Crowdgate's admin API"},
	} {
		if _, _, err := cliRun(t, env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestCLIDefaultURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:8080"},
		{map[string]string{"CROWDGATE_ADDR": ":9090"}, "http://127.0.0.1:9090"},
		{map[string]string{"CROWDGATE_ADDR": "0.0.0.0:80"}, "http://127.0.0.1:80"},
		{map[string]string{"CROWDGATE_ADDR": "[::]:81"}, "http://[::1]:81"},
		{map[string]string{"CROWDGATE_ADDR": "10.1.2.3:8080"}, "http://10.1.2.3:8080"},
		{map[string]string{"CROWDGATE_ADDR": ":9090", "CROWDGATE_URL": "https://gate.example"}, "https://gate.example"},
	} {
		if got := defaultAdminURL(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestCLIAssignments(t *testing.T) {
	t.Parallel()
	got, err := parseAssignments([]string{"admit_per_minute=900", "paused=false", "title=Hello world", `code="007"`,
		"message=", "queue_opens_at=null", "mode=fifo", "note=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"admit_per_minute":900,"code":"007","message":"","mode":"fifo","note":"a=b","paused":false,"queue_opens_at":null,"title":"Hello world"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	for _, bad := range []string{"paused", "=true"} {
		if _, err := parseAssignments([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCLIRoomThresholdsAndBypass: room create and set take the traffic
// trigger, sliding sessions and bypass rules as flags, PATCHing only what
// they give; the header's secret comes from the environment or NAME=SECRET
// and is never printed; an empty value clears a list or the header; a
// field given as a flag and a pair, or a flag without a value, is refused.
func TestCLIRoomThresholdsAndBypass(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	const secret = "monitor-0123456789abcdef"
	env["CROWDGATE_BYPASS_SECRET"] = secret

	out := mustCLI(t, env, "room", "create", "shop", "admit_per_minute=3000",
		"--trigger-active-users", "5000", "--trigger-new-per-minute", "1000", "--trigger-low-percent", "70", "--session-max-seconds", "3600",
		"--bypass-cidr", "10.0.0.0/8", "--bypass-cidr", "2001:db8::/32,203.0.113.7", "--bypass-path", "/health", "--bypass-path", "/static/",
		"--bypass-header", "X-Monitor-Key")
	if strings.Contains(out, secret) {
		t.Fatalf("create printed the secret:\n%s", out)
	}
	m := mustJSON(t, out)
	trigger, bypass := m["trigger"].(map[string]any), m["bypass"].(map[string]any)
	if m["admit_per_minute"] != 3000.0 || m["session_max_seconds"] != 3600.0 ||
		trigger["active_users"] != 5000.0 || trigger["new_per_minute"] != 1000.0 || trigger["low_watermark_percent"] != 70.0 {
		t.Fatalf("create: %v", m)
	}
	if got, _ := json.Marshal(bypass); string(got) != `{"cidrs":["10.0.0.0/8","2001:db8::/32","203.0.113.7/32"],"header":{"name":"X-Monitor-Key","secret_set":true},"paths":["/health","/static/"]}` {
		t.Fatalf("create: bypass %s", got)
	}

	// set PATCHes just what it is given.
	m = mustJSON(t, mustCLI(t, env, "room", "set", "shop", "paused=true", "--trigger-active-users", "6000", "--bypass-path", "/status", "--bypass-header", "X-Probe-Key=probe-0123456789abcdef"))
	trigger, bypass = m["trigger"].(map[string]any), m["bypass"].(map[string]any)
	if trigger["active_users"] != 6000.0 || trigger["new_per_minute"] != 1000.0 || m["session_max_seconds"] != 3600.0 ||
		len(bypass["cidrs"].([]any)) != 3 || len(bypass["paths"].([]any)) != 1 || bypass["header"].(map[string]any)["name"] != "X-Probe-Key" {
		t.Fatalf("set: %v", m)
	}
	// The rules work: in the paused room, the header's new secret passes
	// forward auth, and nothing else does.
	check := env["CROWDGATE_URL"] + "/auth/v1/check?room=shop"
	if code, _ := call(t, "GET", check, "", "X-Probe-Key", "probe-0123456789abcdef"); code != http.StatusOK {
		t.Fatalf("check with the secret set from the CLI: %d", code)
	}
	if code, _ := call(t, "GET", check, "", "X-Probe-Key", secret); code != http.StatusUnauthorized {
		t.Fatalf("check with the old secret: %d", code)
	}

	// --file and flags: the flags' fields replace just theirs in the document.
	doc := mustWrite(t, "shop.yaml", "admit_per_minute: 3000\ntrigger: {active_users: 100, new_per_minute: 50}\nbypass: {paths: [/health]}\n")
	m = mustJSON(t, mustCLI(t, env, "room", "set", "shop", "--file", doc, "--trigger-new-per-minute", "70", "--bypass-cidr", "10.1.0.0/16"))
	trigger, bypass = m["trigger"].(map[string]any), m["bypass"].(map[string]any)
	if trigger["active_users"] != 100.0 || trigger["new_per_minute"] != 70.0 || m["session_max_seconds"] != 0.0 ||
		len(bypass["paths"].([]any)) != 1 || bypass["cidrs"].([]any)[0] != "10.1.0.0/16" || bypass["header"].(map[string]any)["name"] != "" {
		t.Fatalf("set --file with flags: %v", m)
	}

	// '' clears.
	m = mustJSON(t, mustCLI(t, env, "room", "set", "shop", "--bypass-cidr", "", "--bypass-path", "", "--bypass-header", ""))
	if got, _ := json.Marshal(m["bypass"]); string(got) != `{"cidrs":[],"header":{"name":"","secret_set":false},"paths":[]}` {
		t.Fatalf("cleared: %s", got)
	}

	noSecret := map[string]string{"CROWDGATE_URL": env["CROWDGATE_URL"], "CROWDGATE_ADMIN_TOKEN": cliToken}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"flag and pair", env, []string{"room", "set", "shop", "--trigger-active-users", "5", `trigger={"active_users": 5}`}, "room set: trigger is given both as trigger=... and by flags"},
		{"not a number", env, []string{"room", "set", "shop", "--trigger-active-users", "many"}, `invalid value "many" for flag -trigger-active-users`},
		{"no secret", noSecret, []string{"room", "set", "shop", "--bypass-header", "X-Monitor-Key"}, "CROWDGATE_BYPASS_SECRET"},
		{"no name", env, []string{"room", "set", "shop", "--bypass-header", "=secret"}, "want NAME or NAME=SECRET"},
		{"refused network", env, []string{"room", "set", "shop", "--bypass-cidr", "10.0.0.1/8"}, "invalid_request: bypass.cidrs"},
		{"refused thresholds", env, []string{"room", "set", "shop", "--trigger-low-percent", "5"}, "invalid_request: "},
		{"refused header", env, []string{"room", "set", "shop", "--bypass-header", "Cookie=" + secret}, "invalid_request: bypass.header.name"},
	} {
		if _, _, err := cliRun(t, tc.env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if help := mustCLI(t, env, "room", "set", "-h"); !strings.Contains(help, "--bypass-header") || !strings.Contains(help, "-trigger-active-users") {
		t.Errorf("room set -h does not name the room flags:\n%s", help)
	}
}

// TestCLIWarnings: the warnings of a PUT or PATCH answer (the change was
// made, but may not do what was meant) go to stderr, one a line, in JSON
// and table output alike; stdout stays the answer, and an answer with no
// warnings prints none.
func TestCLIWarnings(t *testing.T) {
	t.Parallel()
	env := startCLIServer(t)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	const wantSale = "warning: sale_starts_at " // then the time, "is already past: ...", and the code

	out, errOut, err := cliRun(t, env, "room", "create", "launch", "admit_per_minute=600")
	if err != nil || errOut != "" {
		t.Fatalf("create without a schedule: %v, stderr %q", err, errOut)
	}
	mustJSON(t, out)

	for _, args := range [][]string{
		{"room", "set", "launch", "sale_starts_at=" + past},
		{"room", "set", "launch", "--file", mustWrite(t, "room.yaml", "admit_per_minute: 600\nsale_starts_at: "+past+"\n"), "sale_starts_at=" + time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339), "--output", "table"},
	} {
		out, errOut, err := cliRun(t, env, args...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], wantSale) || !strings.HasSuffix(lines[0], " (schedule_in_past)") || !strings.Contains(lines[0], "already past") {
			t.Fatalf("%s: stderr %q, want one %q... (schedule_in_past) line", strings.Join(args, " "), errOut, wantSale)
		}
		if strings.Contains(out, "warning:") {
			t.Fatalf("%s: a warning on stdout:\n%s", strings.Join(args, " "), out)
		}
		if args[len(args)-1] == "table" {
			tableRow(t, out, "launch")
		} else if m := mustJSON(t, out); m["room"] != "launch" || m["warnings"] == nil {
			t.Fatalf("%s: stdout %v, want the answer as it was, warnings and all", strings.Join(args, " "), m)
		}
	}

	// An event whose room does not exist is stored, with a warning.
	_, errOut, err = cliRun(t, env, "event", "set", "show", "--file", mustWrite(t, "event.yaml", cliEventYAML), "room=nowhere")
	if err != nil || !strings.HasPrefix(errOut, "warning: room nowhere does not exist") || !strings.HasSuffix(errOut, " (room_not_found)\n") {
		t.Fatalf("event set with a room that does not exist: %v, stderr %q", err, errOut)
	}
}
