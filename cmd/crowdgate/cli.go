package main

// The admin CLI: `crowdgate room ...` and `crowdgate event ...` drive a
// running Crowdgate through its admin API, so organizers can keep rooms and
// events in files and change them from scripts instead of curl lines. It
// speaks HTTP only, never Redis: the API stays the one place where the
// rules are enforced, and the CLI works against any deployment it can reach.
//
// Each noun has its own file (cli_room.go, cli_event.go); this one holds
// what they share: the flags, the dispatch, the API client and its errors.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/crowdgate/crowdgate/api"
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
	// interactive reports whether stdin is a person at a terminal, who
	// can be asked to confirm a deletion; nil means never.
	interactive func() bool
}

func newAdminCLI(getenv func(string) string, stdout, stderr io.Writer) *adminCLI {
	return &adminCLI{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr, pollEvery: time.Second,
		interactive: func() bool { return isTerminal(os.Stdin) }}
}

// isTerminal reports whether f is a character device: a terminal, as far
// as the standard library can tell without ioctls. /dev/null is one too;
// reading it ends at once, which a confirmation takes as no.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
	file    string
	after   string
	limit   int
	follow  bool
	yes     bool
	del     bool      // room template --delete
	retry   bool      // room hooks --retry
	roomDoc roomFlags // room create and set (cli_room.go)
}

// verb is one command of a noun, e.g. `room set`.
type verb struct {
	name, args, help string
	// about, when set, is what the verb's own -h says after help, instead
	// of the noun's notes on --file and key=value.
	about    string
	min, max int // positional arguments; max < 0 means any number
	flags    func(fs *flag.FlagSet, f *verbFlags)
	run      func(ctx context.Context, s *session, pos []string) error
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

func yesFlag(fs *flag.FlagSet, f *verbFlags) {
	fs.BoolVar(&f.yes, "yes", false, "do not ask; required when standard input is not a terminal")
}

// confirm asks the person at the terminal whether to go on with what
// question describes, unless --yes was given. Without a terminal it
// refuses rather than deciding for a script that forgot --yes.
func (s *session) confirm(name, question string) error {
	if s.yes {
		return nil
	}
	if s.interactive == nil || !s.interactive() {
		return fmt.Errorf("%s: not done: standard input is not a terminal to confirm on; add --yes", name)
	}
	fmt.Fprintf(s.stderr, "%s [y/N] ", question)
	answer, err := bufio.NewReader(s.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: reading the answer: %w", name, err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%s: not done: not confirmed", name)
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
		switch {
		case v.about != "":
			fmt.Fprintf(w, "%s\n\n", v.about)
		case v.flags != nil: // the notes are about --file, key=value and log output
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

// do sends one request and returns the body of a 2xx answer. Any other
// answer becomes the contract's *api.Error, whose text main prints as
// "crowdgate: code: message" so scripts can match the code, or a plain
// error when it is not the contract's error shape (--url pointing at
// something else, a proxy's error page).
func (a *adminClient) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	_, b, err := a.send(ctx, method, path, query, body, nil)
	return b, err
}

// send is do with request headers (name, value, ...), returning the
// status of a 2xx answer too.
func (a *adminClient) send(ctx context.Context, method, path string, query url.Values, body []byte, header []string) (int, []byte, error) {
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
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := a.hc.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return 0, nil, fmt.Errorf("no answer from Crowdgate at %s within %s (raise --timeout?)", a.base, a.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("cannot reach Crowdgate at %s (is it running? set --url or CROWDGATE_URL): %w", a.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAdminResponse))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, fmt.Errorf("reading the answer of %s %s: %w", method, u.Path, err)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res.StatusCode, b, nil
	}
	var eb api.ErrorResponse
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		return res.StatusCode, nil, &eb.Error
	}
	return res.StatusCode, nil, fmt.Errorf("%s %s answered %s, not Crowdgate's admin API (check --url): %.200q", method, u.Redacted(), res.Status, b)
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

// printWarnings prints the warnings a PUT or PATCH answer carries (the
// change was made, but may not do what was meant) to stderr, one a line,
// so that stdout stays the answer itself whatever the output format.
func (s *session) printWarnings(raw []byte) {
	var a struct {
		Warnings []api.Warning `json:"warnings"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return // the printer that follows says what is wrong with the answer
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(s.stderr, "warning: %s (%s)\n", w.Message, w.Code)
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
