package main

// `crowdgate room ...`: the rooms of the admin API (/admin/v1/rooms).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

func (c *adminCLI) room(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "room", args, []verb{
		{name: "list", help: "every room with its live figures", run: roomList},
		{name: "get", args: "ROOM", min: 1, max: 1, help: "one room with its stats, as JSON", run: roomGet},
		{name: "create", args: "ROOM [--file FILE|-] [key=value ...] [room flags]", min: 1, max: -1, flags: roomDocFlags, run: roomCreate,
			help: "create a new room from the document, pairs and flags (absent fields take their defaults); fails if the room exists"},
		{name: "set", args: "ROOM [--file FILE|-] [key=value ...] [room flags]", min: 1, max: -1, flags: roomDocFlags, run: roomSet,
			help: "with --file, create or replace the room (PUT); with key=value and flags only, change just those fields (PATCH)"},
		{name: "delete", args: "ROOM [--yes]", min: 1, max: 1, flags: yesFlag, run: roomDelete,
			help: "delete the room, its line and its admissions; asks first unless --yes",
			about: `Waiters lose their place: the page and open WebSockets are told the room
was deleted. Admitted visitors' tokens stop working on every instance (forward
auth, the reverse proxy, buying tickets), and a room created again under the
name does not take them. The room's access codes go with it. Events selling
through the room are kept (crowdgate event delete removes one).
On a terminal it asks first; otherwise it refuses without --yes.
It prints what was deleted; --output json prints the room as it was.`},
		{name: "pause", args: "ROOM", min: 1, max: 1, help: "admit nobody; waiters keep their place", run: roomPatch(api.RoomRequest{Paused: new(true)})},
		{name: "resume", args: "ROOM", min: 1, max: 1, help: "admit again after a pause", run: roomPatch(api.RoomRequest{Paused: new(false)})},
		{name: "close", args: "ROOM", min: 1, max: 1, help: "end the sale; waiters are told so", run: roomPatch(api.RoomRequest{Closed: new(true)})},
		{name: "codes", args: "[add|clear] ROOM [--uses N] [--file FILE|-]", min: 1, max: 2, flags: codesFlags, run: roomCodes,
			help: "count the room's access codes; add reads codes, one per line, each good for --uses new places; clear revokes them all"},
		{name: "hooks", args: "ROOM [--retry] [--limit N]", min: 1, max: 1, flags: hooksFlags, run: roomHooks,
			help: "the room's hook messages the webhook gave up on, newest first; --retry sends them again, oldest first"},
		{name: "template", args: "ROOM [FILE|-] [--delete]", min: 1, max: 2, flags: deleteFlag, run: roomTemplate,
			help: "upload the room's own page template (checked first), print the stored one, or --delete it",
			about: `The template is Go html/template around {{.WaitingRoom}}, which it places
once (docs/organizer.md, "Your own look"). With FILE (- reads standard input)
it is uploaded and checked by rendering: a template that would break the
page is refused, saying why, and the stored one stays. Without FILE the
stored template is printed. --delete gives the room Crowdgate's page back.`},
	}, `Values of key=value are JSON when they parse as JSON (900, true, null, "007"),
else strings: admit_per_minute=900 paused=false title=Hello.
With both --file and key=value, the pairs replace fields of the document.
Fields the API reports but does not take (room, stats, created_at, updated_at,
page_template_sha256: the template is room template's) are dropped from --file
documents, so the output of get can be edited and set back.

create and set take flags for the traffic trigger, bypass rules and the look too:
  crowdgate room set shop --trigger-active-users 5000 --trigger-new-per-minute 1000 \
    --trigger-low-percent 80 --session-max-seconds 3600 \
    --bypass-cidr 10.0.0.0/8 --bypass-path /health --bypass-path /static/ \
    --bypass-header X-Monitor-Key
A --bypass-cidr or --bypass-path list replaces the room's (repeat the flag or
separate with commas; '' clears it). --bypass-header NAME takes the secret from
CROWDGATE_BYPASS_SECRET, out of sight of ps; NAME=SECRET works too; '' removes
the header rule. --logo URL, --logo-alt TEXT and --embed-origin ORIGIN (the
sites that may frame the page; a list, as --bypass-path) set the look.
A flag and a key=value pair for the same field are refused.`)
}

// roomState names what the room does to a visitor now; closed outranks
// paused, which outranks passthrough, as in the admission loop.
func roomState(r api.Room) string {
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

func (s *session) roomTable(rooms []api.Room) error {
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tMODE\tRATE/MIN\tOBSERVED\tWAITING\tACTIVE\tADMITTED\tSTATE")
	for _, r := range rooms {
		observed, waiting, active, admitted := "-", "-", "-", "-"
		if st := r.Stats; st != nil {
			observed, waiting = strconv.FormatInt(st.AdmitRatePerMinute, 10), strconv.FormatInt(st.Waiting, 10)
			active, admitted = strconv.FormatInt(st.Active, 10), strconv.FormatInt(st.AdmittedTotal, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Room, r.Mode, r.AdmitPerMinute, observed, waiting, active, admitted, roomState(r))
	}
	return tw.Flush()
}

// printRoom prints one room answer as JSON, or as a one-row table, and
// its warnings to stderr.
func (s *session) printRoom(raw []byte) error {
	s.printWarnings(raw)
	if !s.table("json") {
		return s.printJSON(raw)
	}
	var r api.Room
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("unexpected room answer: %w", err)
	}
	return s.roomTable([]api.Room{r})
}

func roomList(ctx context.Context, s *session, _ []string) error {
	raw, err := s.get(ctx, gateway.AdminRoomsPath, nil)
	if err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	var list api.RoomList
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unexpected room list: %w", err)
	}
	return s.roomTable(list.Rooms)
}

func roomGet(ctx context.Context, s *session, pos []string) error {
	raw, err := s.get(ctx, gateway.AdminRoomPath(pos[0]), nil)
	if err != nil {
		return err
	}
	return s.printRoom(raw)
}

// roomDocument is the room document of --file (none: empty), with the
// fields only answers carry dropped, pairs on top, and the room flags'
// fields merged in.
func (s *session) roomDocument(room string, pairs, flagged map[string]any) ([]byte, error) {
	doc := map[string]any{}
	if s.file != "" {
		var err error
		if doc, err = s.readDocument(s.file); err != nil {
			return nil, err
		}
		if err := dropReported(doc, "room", room, "stats", "created_at", "updated_at", "page_template_sha256"); err != nil {
			return nil, err
		}
	}
	maps.Copy(doc, pairs)
	mergeFields(doc, flagged)
	return json.Marshal(doc)
}

// roomCreate PUTs the room with If-None-Match: *, so an existing room is
// refused (412) and left as it was, never replaced.
func roomCreate(ctx context.Context, s *session, pos []string) error {
	pairs, flagged, err := s.roomFields("room create", pos[1:])
	if err != nil {
		return err
	}
	body, err := s.roomDocument(pos[0], pairs, flagged)
	if err != nil {
		return err
	}
	status, raw, err := s.api.send(ctx, http.MethodPut, gateway.AdminRoomPath(pos[0]), nil, body, []string{"If-None-Match", "*"})
	var refused *api.Error
	if errors.As(err, &refused) && refused.Code == "precondition_failed" {
		return &api.Error{Code: refused.Code, Message: fmt.Sprintf("room %s already exists, and was left as it was; change it with crowdgate room set", pos[0])}
	}
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		// Created at the same instant by someone else, or a server that
		// ignores If-None-Match: either way, not a new room.
		return fmt.Errorf("room create: room %s already existed and was replaced (answer %d, not 201 Created)", pos[0], status)
	}
	return s.printRoom(raw)
}

func roomSet(ctx context.Context, s *session, pos []string) error {
	pairs, flagged, err := s.roomFields("room set", pos[1:])
	if err != nil {
		return err
	}
	method := http.MethodPatch
	var body []byte
	switch {
	case s.file != "":
		method = http.MethodPut
		if body, err = s.roomDocument(pos[0], pairs, flagged); err != nil {
			return err
		}
	case len(pairs) > 0 || len(flagged) > 0:
		maps.Copy(pairs, flagged)
		if body, err = json.Marshal(pairs); err != nil {
			return err
		}
	default:
		return errors.New("room set: nothing to set: give --file FILE, key=value pairs or room flags")
	}
	raw, err := s.api.do(ctx, method, gateway.AdminRoomPath(pos[0]), nil, body)
	if err != nil {
		return err
	}
	return s.printRoom(raw)
}

// roomPatch is a command that PATCHes fixed fields.
func roomPatch(change api.RoomRequest) func(context.Context, *session, []string) error {
	return func(ctx context.Context, s *session, pos []string) error {
		body, err := json.Marshal(change)
		if err != nil {
			return err
		}
		raw, err := s.api.do(ctx, http.MethodPatch, gateway.AdminRoomPath(pos[0]), nil, body)
		if err != nil {
			return err
		}
		return s.printRoom(raw)
	}
}

// roomDelete reads the room first, so that the question and the report
// say what goes with it, and so that a room that is not there is an error
// before anyone is asked anything.
func roomDelete(ctx context.Context, s *session, pos []string) error {
	name := pos[0]
	raw, err := s.get(ctx, gateway.AdminRoomPath(name), nil)
	if err != nil {
		return err
	}
	var r api.Room
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("unexpected room answer: %w", err)
	}
	var waiting, active int64
	if r.Stats != nil {
		waiting, active = r.Stats.Waiting, r.Stats.Active
	}
	who, admitted := count(waiting, "person", "people"), count(active, "admitted visitor", "admitted visitors")
	question := fmt.Sprintf("Delete room %s? %s waiting would lose their place, and %s their admission; this cannot be undone.", name, who, admitted)
	if err := s.confirm("room delete", question); err != nil {
		return err
	}
	if _, err := s.api.do(ctx, http.MethodDelete, gateway.AdminRoomPath(name), nil, nil); err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	_, err = fmt.Fprintf(s.stdout, "deleted room %s: %s waiting lost their place, and %s their admission\n", name, who, admitted)
	return err
}

// count is n with the noun that goes with it.
func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// roomFlags are the flags of room create and set for fields that are
// awkward as key=value JSON: the traffic trigger, sliding sessions and
// bypass rules. Each is sent only when given.
type roomFlags struct {
	bypassCIDRs, bypassPaths listFlag
	bypassHeader             optString
	logo, logoAlt            optString
	embedOrigins             listFlag
	triggerActive            optInt
	triggerNew, triggerLow   optInt
	sessionMax               optInt
}

// roomDocFlags are the flags of the verbs that send a room document.
func roomDocFlags(fs *flag.FlagSet, f *verbFlags) {
	fileFlag(fs, f)
	r := &f.roomDoc
	fs.Var(&r.bypassCIDRs, "bypass-cidr", "a `network` (10.0.0.0/8, 2001:db8::/32) or address whose requests pass without an admission; repeatable, or comma-separated; '' clears the list")
	fs.Var(&r.bypassPaths, "bypass-path", "a `path` that passes without an admission (/health; ending in / covers every path under it); repeatable, or comma-separated; '' clears the list")
	fs.Var(&r.bypassHeader, "bypass-header", "a secret header whose requests pass without an admission: `NAME`, its secret from CROWDGATE_BYPASS_SECRET, or NAME=SECRET; '' removes it")
	fs.Var(&r.triggerActive, "trigger-active-users", "queue only once this many users are active (`N`; 0: not a threshold)")
	fs.Var(&r.triggerNew, "trigger-new-per-minute", "queue only once this many new users arrive in a minute (`N`; 0: not a threshold)")
	fs.Var(&r.triggerLow, "trigger-low-percent", "quiet again under this `percent` of each threshold (10 to 100; 0: the default, 80)")
	fs.Var(&r.logo, "logo", "the page's logo: a `URL` (https) or a path on the site; '' removes it")
	fs.Var(&r.logoAlt, "logo-alt", "the logo's `text` for those who cannot see it ('': the title)")
	fs.Var(&r.embedOrigins, "embed-origin", "a site (`origin`, https://www.example.com) whose pages may show the waiting room in an iframe; repeatable, or comma-separated; '' clears the list")
	fs.Var(&r.sessionMax, "session-max-seconds", "sliding sessions: renew an active visitor's admission up to this many `seconds` after admission (0: fixed sessions)")
}

// roomFields reads a room verb's key=value pairs and the fields its flags
// set; a field given both ways is refused, lest one silently win.
func (s *session) roomFields(name string, args []string) (pairs, flagged map[string]any, err error) {
	if pairs, err = parseAssignments(args); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if flagged, err = s.roomDoc.fields(s.getenv); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	for k := range flagged {
		if _, ok := pairs[k]; ok {
			return nil, nil, fmt.Errorf("%s: %s is given both as %s=... and by flags; give one", name, k, k)
		}
	}
	return pairs, flagged, nil
}

// fields are the room document's fields the flags set.
func (f roomFlags) fields(getenv func(string) string) (map[string]any, error) {
	out := map[string]any{}
	bypass := map[string]any{}
	if f.bypassCIDRs.set {
		bypass["cidrs"] = f.bypassCIDRs.list()
	}
	if f.bypassPaths.set {
		bypass["paths"] = f.bypassPaths.list()
	}
	if h := f.bypassHeader; h.set {
		name, secret, given := strings.Cut(h.v, "=")
		switch {
		case name == "" && given:
			return nil, errors.New("--bypass-header: want NAME or NAME=SECRET")
		case name == "":
			bypass["header"] = map[string]any{"name": ""}
		case !given && getenv("CROWDGATE_BYPASS_SECRET") == "":
			return nil, fmt.Errorf("--bypass-header %s: set its secret in CROWDGATE_BYPASS_SECRET, or give %s=SECRET", name, name)
		case !given:
			bypass["header"] = map[string]any{"name": name, "secret": getenv("CROWDGATE_BYPASS_SECRET")}
		default:
			bypass["header"] = map[string]any{"name": name, "secret": secret}
		}
	}
	if len(bypass) > 0 {
		out["bypass"] = bypass
	}
	trigger := map[string]any{}
	for key, v := range map[string]optInt{"active_users": f.triggerActive, "new_per_minute": f.triggerNew, "low_watermark_percent": f.triggerLow} {
		if v.set {
			trigger[key] = v.v
		}
	}
	if len(trigger) > 0 {
		out["trigger"] = trigger
	}
	if f.sessionMax.set {
		out["session_max_seconds"] = f.sessionMax.v
	}
	if f.logo.set {
		out["logo_url"] = f.logo.v
	}
	if f.logoAlt.set {
		out["logo_alt"] = f.logoAlt.v
	}
	if f.embedOrigins.set {
		out["embed_origins"] = f.embedOrigins.list()
	}
	return out, nil
}

// mergeFields sets doc's fields from flagged; where both hold an object
// (a --file document's trigger or bypass), the flags' keys replace just
// those of the document's.
func mergeFields(doc, flagged map[string]any) {
	for k, v := range flagged {
		inner, ok := v.(map[string]any)
		cur, isObject := doc[k].(map[string]any)
		if !ok || !isObject {
			doc[k] = v
			continue
		}
		maps.Copy(cur, inner)
	}
}

// listFlag is a repeatable flag of comma-separated values; given as ” it
// is set to the empty list.
type listFlag struct {
	set bool
	v   []string
}

func (l *listFlag) String() string { return strings.Join(l.v, ",") }

func (l *listFlag) Set(s string) error {
	l.set = true
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.v = append(l.v, v)
		}
	}
	return nil
}

// list is the values, never nil: an empty list clears the room's.
func (l *listFlag) list() []string { return append([]string{}, l.v...) }

// optInt is an integer flag that knows whether it was given.
type optInt struct {
	set bool
	v   int64
}

func (o *optInt) String() string { return strconv.FormatInt(o.v, 10) }

func (o *optInt) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	o.set, o.v = true, n
	return nil
}

// optString is a string flag that knows whether it was given; its value
// may be a secret, so it is never shown.
type optString struct {
	set bool
	v   string
}

func (o *optString) String() string     { return "" }
func (o *optString) Set(s string) error { o.set, o.v = true, s; return nil }

// deleteFlag is room template's --delete.
func deleteFlag(fs *flag.FlagSet, f *verbFlags) {
	fs.BoolVar(&f.del, "delete", false, "remove the room's template: its page is Crowdgate's again")
}

// roomTemplate is `room template ROOM FILE` (upload), `room template ROOM`
// (print the stored one) and `room template ROOM --delete`.
func roomTemplate(ctx context.Context, s *session, pos []string) error {
	path := gateway.AdminRoomTemplatePath(pos[0])
	switch {
	case s.del && len(pos) == 2:
		return errors.New("room template: give a FILE to upload or --delete, not both")
	case s.del:
		_, err := s.api.do(ctx, http.MethodDelete, path, nil, nil)
		return err
	case len(pos) == 1:
		text, err := s.get(ctx, path, nil)
		if err != nil {
			return err
		}
		_, err = s.stdout.Write(text)
		return err
	}
	in := s.stdin
	if pos[1] != "-" {
		f, err := os.Open(pos[1])
		if err != nil {
			return fmt.Errorf("room template: %w", err)
		}
		defer f.Close()
		in = f
	}
	text, err := io.ReadAll(io.LimitReader(in, queue.MaxPageTemplateBytes+1))
	if err != nil {
		return fmt.Errorf("room template: %w", err)
	}
	if len(text) > queue.MaxPageTemplateBytes {
		return fmt.Errorf("room template: a template is at most %d bytes", queue.MaxPageTemplateBytes)
	}
	_, raw, err := s.api.send(ctx, http.MethodPut, path, nil, text, []string{"Content-Type", "text/html; charset=utf-8"})
	if err != nil {
		return err
	}
	return s.printJSON(raw)
}

// hooksFlags are room hooks' flags.
func hooksFlags(fs *flag.FlagSet, f *verbFlags) {
	fs.BoolVar(&f.retry, "retry", false, "send the dead letters again (once the webhook's receiver is fixed)")
	fs.IntVar(&f.limit, "limit", 0, "at most this many, 1 to 1000 (default: the server's, 100)")
}

// roomHooks is `room hooks ROOM` (the dead letters of its hooks) and
// `room hooks ROOM --retry` (send them again).
func roomHooks(ctx context.Context, s *session, pos []string) error {
	var query url.Values
	if s.limit != 0 {
		query = url.Values{"limit": {strconv.Itoa(s.limit)}}
	}
	path := gateway.AdminRoomHooksDeadPath(pos[0])
	if s.retry {
		raw, err := s.api.do(ctx, http.MethodPost, path+"/retry", query, nil)
		if err != nil {
			return err
		}
		return s.printJSON(raw)
	}
	raw, err := s.get(ctx, path, query)
	if err != nil {
		return err
	}
	return s.printJSON(raw)
}
