package main

// The admin CLI: `crowdgate room ...` and `crowdgate event ...` drive a
// running Crowdgate through its admin API, so organizers can keep rooms and
// events in files and change them from scripts instead of curl lines. It
// speaks HTTP only, never Redis: the API stays the one place where the
// rules are enforced, and the CLI works against any deployment it can reach.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// maxAdminResponse bounds what the CLI reads from one answer, so a wrong
// --url pointing at something that streams cannot exhaust memory.
const maxAdminResponse = 32 << 20

// adminID is the contract's id pattern. The CLI checks it before building a
// URL so that a typo gets a clear message and an id can never add path
// segments to the request.
var adminID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// adminCLI runs the room and event commands. Its streams and poll interval
// are fields so tests can feed stdin and follow the log quickly.
type adminCLI struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	// pollEvery is how often `event log --follow` asks for new entries.
	pollEvery time.Duration
}

func newAdminCLI(getenv func(string) string, stdout, stderr io.Writer) *adminCLI {
	return &adminCLI{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr, pollEvery: time.Second}
}

// cliOptions are the flags every room and event command takes.
type cliOptions struct {
	url     string
	token   string
	timeout time.Duration
	output  string // "json", "table", or "" for the command's default
}

// register adds the global flags to fs, each defaulting to its current
// value, so flags given before the command (`room --url X list`) carry over
// to the command's own flag set.
func (o *cliOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", o.url, "base `URL` of the Crowdgate to manage (CROWDGATE_URL; else derived from CROWDGATE_ADDR)")
	fs.Var(secretFlag{&o.token}, "admin-token", "admin bearer `token`; prefer the environment, where ps cannot see it (CROWDGATE_ADMIN_TOKEN, required)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "how long to wait for each answer")
	fs.StringVar(&o.output, "output", o.output, "`format`: json or table (default: table for list and log, json otherwise)")
}

// secretFlag is a string flag whose value is never shown, not even as the
// default in -h output, because it is a credential.
type secretFlag struct{ v *string }

func (s secretFlag) String() string     { return "" }
func (s secretFlag) Set(v string) error { *s.v = v; return nil }

// defaultAdminURL is where a CLI on the same host finds the server: the
// listen address from CROWDGATE_ADDR when set, with a wildcard host
// replaced by loopback, else the contract's default address.
func defaultAdminURL(getenv func(string) string) string {
	if u := getenv("CROWDGATE_URL"); u != "" {
		return u
	}
	if host, port, err := net.SplitHostPort(getenv("CROWDGATE_ADDR")); err == nil {
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		return "http://" + net.JoinHostPort(host, port)
	}
	return "http://127.0.0.1:8080"
}

// verbFlags are the flags some commands add to the global ones.
type verbFlags struct {
	file   string
	after  string
	limit  int
	follow bool
}

// verb is one command of a noun, e.g. `room set`.
type verb struct {
	name, args, help string
	min, max         int // positional arguments; max < 0 means any number
	flags            func(fs *flag.FlagSet, f *verbFlags)
	run              func(ctx context.Context, s *session, pos []string) error
}

// session is what a verb runs with: the parsed flags and a client.
type session struct {
	*adminCLI
	api    *adminClient
	output string
	verbFlags
}

// table reports whether to print a table rather than JSON, given the
// command's default.
func (s *session) table(def string) bool {
	if s.output == "" {
		return def == "table"
	}
	return s.output == "table"
}

func fileFlag(fs *flag.FlagSet, f *verbFlags) {
	fs.StringVar(&f.file, "file", "", "YAML or JSON document to PUT; - reads standard input")
}

func (c *adminCLI) room(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "room", args, []verb{
		{name: "list", help: "every room with its live figures", run: roomList},
		{name: "get", args: "ROOM", min: 1, max: 1, help: "one room with its stats, as JSON", run: roomGet},
		{name: "set", args: "ROOM [--file FILE|-] [key=value ...]", min: 1, max: -1, flags: fileFlag, run: roomSet,
			help: "with --file, create or replace the room (PUT); with key=value only, change just those fields (PATCH)"},
		{name: "pause", args: "ROOM", min: 1, max: 1, help: "admit nobody; waiters keep their place", run: roomPatch(`{"paused":true}`)},
		{name: "resume", args: "ROOM", min: 1, max: 1, help: "admit again after a pause", run: roomPatch(`{"paused":false}`)},
		{name: "close", args: "ROOM", min: 1, max: 1, help: "end the sale; waiters are told so", run: roomPatch(`{"closed":true}`)},
	}, `Values of key=value are JSON when they parse as JSON (900, true, null, "007"),
else strings: admit_per_minute=900 paused=false title=Hello.
With both --file and key=value, the pairs replace fields of the document.
Fields the API reports but does not take (room, stats, created_at, updated_at)
are dropped from --file documents, so the output of get can be edited and set back.`)
}

func (c *adminCLI) event(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "event", args, []verb{
		{name: "list", help: "every event with its inventory", run: eventList},
		{name: "get", args: "EVENT", min: 1, max: 1, help: "one event with per-type inventory, as JSON", run: eventGet},
		{name: "set", args: "EVENT --file FILE|- [key=value ...]", min: 1, max: -1, flags: fileFlag, run: eventSet,
			help: "create or replace the event (PUT)"},
		{name: "log", args: "EVENT [--after ID] [--limit N] [--follow]", min: 1, max: 1, run: eventLog,
			help: "the event's state changes, oldest first; --follow keeps reading until interrupted",
			flags: func(fs *flag.FlagSet, f *verbFlags) {
				fs.StringVar(&f.after, "after", "", "start after this entry id")
				fs.IntVar(&f.limit, "limit", 0, "entries per request, 1 to 1000 (default: the server's, 100)")
				fs.BoolVar(&f.follow, "follow", false, "poll every second for new entries until interrupted")
			}},
		{name: "audit", args: "EVENT", min: 1, max: 1, help: "recount the books; exits 1 when they do not balance", run: eventAudit},
	}, `With --output json, log prints one JSON object per entry and line.
Fields the API reports but does not take (event, totals, stats, created_at,
updated_at, and available, held, sold of each ticket type) are dropped from
--file documents, so the output of get can be edited and set back.`)
}

// dispatch parses `crowdgate NOUN [global flags] VERB [flags and arguments]`
// and runs the verb. Flags may come before or after the verb's arguments,
// as scripts tend to write them either way.
func (c *adminCLI) dispatch(ctx context.Context, noun string, args []string, verbs []verb, notes string) error {
	o := cliOptions{url: defaultAdminURL(c.getenv), token: c.getenv("CROWDGATE_ADMIN_TOKEN"), timeout: 10 * time.Second}
	nounUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: crowdgate %s <command> [flags] [arguments]\n\nCommands:\n", noun)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range verbs {
			fmt.Fprintf(tw, "  %s %s\t%s\n", v.name, v.args, v.help)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\n%s\n\nFlags (before or after the command):\n", notes)
		fs := flag.NewFlagSet(noun, flag.ContinueOnError)
		o := o
		o.register(fs)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs := flag.NewFlagSet("crowdgate "+noun, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			nounUsage(c.stdout)
			return nil
		}
		nounUsage(c.stderr)
		return fmt.Errorf("%s: %w", noun, err)
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		if len(rest) > 0 {
			nounUsage(c.stdout)
			return nil
		}
		nounUsage(c.stderr)
		return fmt.Errorf("%s: no command given", noun)
	}
	i := slices.IndexFunc(verbs, func(v verb) bool { return v.name == rest[0] })
	if i < 0 {
		nounUsage(c.stderr)
		return fmt.Errorf("%s: unknown command %q", noun, rest[0])
	}
	v := verbs[i]
	name := noun + " " + v.name

	var vf verbFlags
	fs = flag.NewFlagSet("crowdgate "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o.register(fs)
	if v.flags != nil {
		v.flags(fs, &vf)
	}
	verbUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: crowdgate %s %s [flags]\n\n%s.\n\n", name, v.args, v.help)
		if v.flags != nil { // the notes are about --file, key=value and log output
			fmt.Fprintf(w, "%s\n\n", notes)
		}
		fmt.Fprintln(w, "Flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	pos, err := parseInterspersed(fs, rest[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			verbUsage(c.stdout)
			return nil
		}
		verbUsage(c.stderr)
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(pos) < v.min || (v.max >= 0 && len(pos) > v.max) {
		verbUsage(c.stderr)
		if len(pos) < v.min {
			return fmt.Errorf("%s: missing %s", name, strings.Fields(v.args)[len(pos)])
		}
		return fmt.Errorf("%s: unexpected arguments %q", name, pos[v.max:])
	}
	if len(pos) > 0 && !adminID.MatchString(pos[0]) {
		return fmt.Errorf("%s: %q is not a valid id: ids match ^[a-z0-9][a-z0-9-]{0,63}$", name, pos[0])
	}
	api, err := o.client()
	if err != nil {
		return err
	}
	return v.run(ctx, &session{adminCLI: c, api: api, output: o.output, verbFlags: vf}, pos)
}

// parseInterspersed parses flags anywhere among the positional arguments
// (the flag package stops at the first non-flag) and returns the
// positional ones. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// client checks the global options and builds the API client.
func (o cliOptions) client() (*adminClient, error) {
	switch o.output {
	case "", "json", "table":
	default:
		return nil, fmt.Errorf("--output must be json or table, not %q", o.output)
	}
	if o.token == "" {
		return nil, errors.New("an admin token is required: set CROWDGATE_ADMIN_TOKEN or --admin-token")
	}
	if o.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url must be an http:// or https:// URL, not %q", o.url)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return &adminClient{base: u, token: o.token, timeout: o.timeout, hc: &http.Client{}}, nil
}

// adminClient calls the admin API with the bearer token.
type adminClient struct {
	base    *url.URL
	token   string
	timeout time.Duration
	hc      *http.Client
}

// adminAPIError is the contract's error body. Its text is "code: message",
// which main prints as "crowdgate: code: message", so scripts can match the
// code.
type adminAPIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *adminAPIError) Error() string {
	if e.RequestID != "" {
		return e.Code + ": " + e.Message + " (request id " + e.RequestID + ")"
	}
	return e.Code + ": " + e.Message
}

// do sends one request and returns the body of a 2xx answer. Any other
// answer becomes an *adminAPIError, or a plain error when it is not the
// contract's error shape (--url pointing at something else, a proxy's
// error page).
func (a *adminClient) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	u := *a.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.hc.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("no answer from Crowdgate at %s within %s (raise --timeout?)", a.base, a.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach Crowdgate at %s (is it running? set --url or CROWDGATE_URL): %w", a.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAdminResponse))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the answer of %s %s: %w", method, u.Path, err)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return b, nil
	}
	var eb struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		return nil, &adminAPIError{Status: res.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RequestID: eb.Error.RequestID}
	}
	return nil, fmt.Errorf("%s %s answered %s, not Crowdgate's admin API (check --url): %.200q", method, u.Redacted(), res.Status, b)
}

func (s *session) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	return s.api.do(ctx, http.MethodGet, path, query, nil)
}

// printJSON prints an answer indented, keeping the server's field order
// and any fields this CLI does not know about.
func (s *session) printJSON(raw []byte) error {
	var buf bytes.Buffer
	// Indent keeps trailing newlines; the answer's own would double ours.
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := s.stdout.Write(buf.Bytes())
	return err
}

// roomRow is what the room table shows of a room.
type roomRow struct {
	Room           string `json:"room"`
	Mode           string `json:"mode"`
	AdmitPerMinute int64  `json:"admit_per_minute"`
	Paused         bool   `json:"paused"`
	Passthrough    bool   `json:"passthrough"`
	Closed         bool   `json:"closed"`
	Stats          *struct {
		Waiting            int64 `json:"waiting"`
		Active             int64 `json:"active"`
		AdmittedTotal      int64 `json:"admitted_total"`
		AdmitRatePerMinute int64 `json:"admit_rate_per_minute"`
	} `json:"stats"`
}

// state names what the room does to a visitor now; closed outranks paused,
// which outranks passthrough, as in the admission loop.
func (r roomRow) state() string {
	switch {
	case r.Closed:
		return "closed"
	case r.Paused:
		return "paused"
	case r.Passthrough:
		return "passthrough"
	}
	return "open"
}

func (s *session) roomTable(rooms []roomRow) error {
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tMODE\tRATE/MIN\tOBSERVED\tWAITING\tACTIVE\tADMITTED\tSTATE")
	for _, r := range rooms {
		observed, waiting, active, admitted := "-", "-", "-", "-"
		if st := r.Stats; st != nil {
			observed, waiting = strconv.FormatInt(st.AdmitRatePerMinute, 10), strconv.FormatInt(st.Waiting, 10)
			active, admitted = strconv.FormatInt(st.Active, 10), strconv.FormatInt(st.AdmittedTotal, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Room, r.Mode, r.AdmitPerMinute, observed, waiting, active, admitted, r.state())
	}
	return tw.Flush()
}

// printRoom prints one room answer as JSON, or as a one-row table.
func (s *session) printRoom(raw []byte) error {
	if !s.table("json") {
		return s.printJSON(raw)
	}
	var r roomRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("unexpected room answer: %w", err)
	}
	return s.roomTable([]roomRow{r})
}

func roomList(ctx context.Context, s *session, _ []string) error {
	raw, err := s.get(ctx, "/admin/v1/rooms", nil)
	if err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	var list struct {
		Rooms []roomRow `json:"rooms"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unexpected room list: %w", err)
	}
	return s.roomTable(list.Rooms)
}

func roomGet(ctx context.Context, s *session, pos []string) error {
	raw, err := s.get(ctx, "/admin/v1/rooms/"+pos[0], nil)
	if err != nil {
		return err
	}
	return s.printRoom(raw)
}

func roomSet(ctx context.Context, s *session, pos []string) error {
	pairs, err := parseAssignments(pos[1:])
	if err != nil {
		return fmt.Errorf("room set: %w", err)
	}
	method := http.MethodPatch
	var body []byte
	switch {
	case s.file != "":
		doc, err := s.readDocument(s.file)
		if err != nil {
			return err
		}
		if err := dropReported(doc, "room", pos[0], "stats", "created_at", "updated_at"); err != nil {
			return err
		}
		maps.Copy(doc, pairs)
		method = http.MethodPut
		if body, err = json.Marshal(doc); err != nil {
			return err
		}
	case len(pairs) > 0:
		if body, err = json.Marshal(pairs); err != nil {
			return err
		}
	default:
		return errors.New("room set: nothing to set: give --file FILE or key=value pairs")
	}
	raw, err := s.api.do(ctx, method, "/admin/v1/rooms/"+pos[0], nil, body)
	if err != nil {
		return err
	}
	return s.printRoom(raw)
}

// roomPatch is a command that PATCHes fixed fields.
func roomPatch(body string) func(context.Context, *session, []string) error {
	return func(ctx context.Context, s *session, pos []string) error {
		raw, err := s.api.do(ctx, http.MethodPatch, "/admin/v1/rooms/"+pos[0], nil, []byte(body))
		if err != nil {
			return err
		}
		return s.printRoom(raw)
	}
}

// parseAssignments reads key=value arguments. A value that is valid JSON is
// taken as that JSON, so numbers and booleans keep their type; anything
// else is a string, so titles need no quoting.
func parseAssignments(args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", a)
		}
		if json.Valid([]byte(v)) {
			out[k] = json.RawMessage(v)
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// readDocument reads a YAML or JSON object (JSON is YAML) from a file or,
// for "-", standard input.
func (s *session) readDocument(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(s.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("--file %s: %w", path, err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // capacities and prices stay exact
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("--file %s: the document must be a mapping of fields", path)
	}
	return doc, nil
}

// dropReported removes fields that answers carry but requests must not
// (the API refuses unknown fields), so a document saved from get can be
// set back. The id field must name the same object as the argument, lest a
// copied file silently overwrite another room or event.
func dropReported(doc map[string]any, idField, id string, fields ...string) error {
	if v, ok := doc[idField]; ok {
		if v != id {
			return fmt.Errorf("--file describes %s %v, not %s", idField, v, id)
		}
		delete(doc, idField)
	}
	for _, f := range fields {
		delete(doc, f)
	}
	return nil
}

// eventRow is what the event tables show of an event.
type eventRow struct {
	Event       string `json:"event"`
	Room        string `json:"room"`
	HoldSeconds int    `json:"hold_seconds"`
	TicketTypes []struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		Capacity      int64  `json:"capacity"`
		PriceMinor    int64  `json:"price_minor"`
		Currency      string `json:"currency"`
		PerOrderLimit int    `json:"per_order_limit"`
		Available     int64  `json:"available"`
		Held          int64  `json:"held"`
		Sold          int64  `json:"sold"`
	} `json:"ticket_types"`
	Totals struct {
		Capacity  int64 `json:"capacity"`
		Available int64 `json:"available"`
		Held      int64 `json:"held"`
		Sold      int64 `json:"sold"`
	} `json:"totals"`
}

func eventList(ctx context.Context, s *session, _ []string) error {
	raw, err := s.get(ctx, "/admin/v1/events", nil)
	if err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	var list struct {
		Events []eventRow `json:"events"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unexpected event list: %w", err)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tROOM\tHOLD\tTYPES\tCAPACITY\tAVAILABLE\tHELD\tSOLD")
	for _, e := range list.Events {
		fmt.Fprintf(tw, "%s\t%s\t%ds\t%d\t%d\t%d\t%d\t%d\n", e.Event, e.Room, e.HoldSeconds, len(e.TicketTypes),
			e.Totals.Capacity, e.Totals.Available, e.Totals.Held, e.Totals.Sold)
	}
	return tw.Flush()
}

// printEvent prints one event answer as JSON, or as a table of its ticket
// types.
func (s *session) printEvent(raw []byte) error {
	if !s.table("json") {
		return s.printJSON(raw)
	}
	var e eventRow
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("unexpected event answer: %w", err)
	}
	fmt.Fprintf(s.stdout, "event %s in room %s, holds last %ds\n", e.Event, e.Room, e.HoldSeconds)
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tPRICE_MINOR\tCURRENCY\tLIMIT\tCAPACITY\tAVAILABLE\tHELD\tSOLD")
	for _, t := range e.TicketTypes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n", t.ID, t.Name, t.PriceMinor, t.Currency, t.PerOrderLimit,
			t.Capacity, t.Available, t.Held, t.Sold)
	}
	return tw.Flush()
}

func eventGet(ctx context.Context, s *session, pos []string) error {
	raw, err := s.get(ctx, "/admin/v1/events/"+pos[0], nil)
	if err != nil {
		return err
	}
	return s.printEvent(raw)
}

func eventSet(ctx context.Context, s *session, pos []string) error {
	if s.file == "" {
		return errors.New("event set: --file FILE (or - for standard input) is required: an event is always set whole")
	}
	pairs, err := parseAssignments(pos[1:])
	if err != nil {
		return fmt.Errorf("event set: %w", err)
	}
	doc, err := s.readDocument(s.file)
	if err != nil {
		return err
	}
	if err := dropReported(doc, "event", pos[0], "totals", "stats", "created_at", "updated_at"); err != nil {
		return err
	}
	if types, ok := doc["ticket_types"].([]any); ok {
		for _, t := range types {
			if t, ok := t.(map[string]any); ok {
				delete(t, "available")
				delete(t, "held")
				delete(t, "sold")
			}
		}
	}
	maps.Copy(doc, pairs)
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	raw, err := s.api.do(ctx, http.MethodPut, "/admin/v1/events/"+pos[0], nil, body)
	if err != nil {
		return err
	}
	return s.printEvent(raw)
}

// logEntry is one entry of an event's log, as the API sends it.
type logEntry struct {
	ID     string            `json:"id"`
	At     time.Time         `json:"at"`
	What   string            `json:"what"`
	Who    string            `json:"who"`
	Fields map[string]string `json:"fields"`
}

// eventLog prints one page of the log or, with --follow, polls for new
// entries until ctx ends; being interrupted is how a follow normally ends,
// so it is not an error.
func eventLog(ctx context.Context, s *session, pos []string) error {
	if s.limit < 0 || s.limit > 1000 {
		return errors.New("event log: --limit must be between 1 and 1000")
	}
	asTable := s.table("table")
	after, header := s.after, asTable
	for {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if s.limit > 0 {
			q.Set("limit", strconv.Itoa(s.limit))
		}
		raw, err := s.get(ctx, "/admin/v1/events/"+pos[0]+"/log", q)
		if err != nil {
			if s.follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		var page struct {
			Entries []json.RawMessage `json:"entries"`
			Next    string            `json:"next"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return fmt.Errorf("unexpected log answer: %w", err)
		}
		if err := s.printLog(page.Entries, asTable, header); err != nil {
			return err
		}
		header = false
		if page.Next != "" {
			after = page.Next
		}
		if !s.follow {
			return nil
		}
		pageSize := s.limit
		if pageSize == 0 {
			pageSize = 100 // the server's default
		}
		if len(page.Entries) == pageSize {
			continue // a full page: more is waiting, no need to sleep
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.pollEvery):
		}
	}
}

// printLog prints entries as table rows, or as one compact JSON object per
// line so that a followed log can be piped into line-oriented tools.
func (s *session) printLog(entries []json.RawMessage, asTable, header bool) error {
	if !asTable {
		for _, e := range entries {
			var buf bytes.Buffer
			if err := json.Compact(&buf, e); err != nil {
				return fmt.Errorf("unexpected log entry: %w", err)
			}
			buf.WriteByte('\n')
			if _, err := s.stdout.Write(buf.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "ID\tAT\tWHAT\tWHO\tFIELDS")
	}
	for _, raw := range entries {
		var e logEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("unexpected log entry: %w", err)
		}
		fields := make([]string, 0, len(e.Fields))
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			fields = append(fields, k+"="+e.Fields[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Format(time.RFC3339), e.What, e.Who, strings.Join(fields, " "))
	}
	return tw.Flush()
}

// eventAudit prints the recount and fails when the books do not balance,
// so a script or a cron job can alert on the exit status alone.
func eventAudit(ctx context.Context, s *session, pos []string) error {
	raw, err := s.get(ctx, "/admin/v1/events/"+pos[0]+"/audit", nil)
	if err != nil {
		return err
	}
	var a struct {
		Balanced *bool    `json:"balanced"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || a.Balanced == nil {
		return fmt.Errorf("unexpected audit answer: %.200q", raw)
	}
	if s.table("json") {
		fmt.Fprintf(s.stdout, "event %s balanced: %t\n", pos[0], *a.Balanced)
		for _, p := range a.Problems {
			fmt.Fprintln(s.stdout, "  "+p)
		}
	} else if err := s.printJSON(raw); err != nil {
		return err
	}
	if !*a.Balanced {
		return fmt.Errorf("event %s does not balance: %s", pos[0], strings.Join(a.Problems, "; "))
	}
	return nil
}
