package main

// `crowdgate room ...`: the rooms of the admin API (/admin/v1/rooms).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"text/tabwriter"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
)

func (c *adminCLI) room(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "room", args, []verb{
		{name: "list", help: "every room with its live figures", run: roomList},
		{name: "get", args: "ROOM", min: 1, max: 1, help: "one room with its stats, as JSON", run: roomGet},
		{name: "create", args: "ROOM [--file FILE|-] [key=value ...]", min: 1, max: -1, flags: fileFlag, run: roomCreate,
			help: "create a new room from the document and pairs (absent fields take their defaults); fails if the room exists"},
		{name: "set", args: "ROOM [--file FILE|-] [key=value ...]", min: 1, max: -1, flags: fileFlag, run: roomSet,
			help: "with --file, create or replace the room (PUT); with key=value only, change just those fields (PATCH)"},
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
	}, `Values of key=value are JSON when they parse as JSON (900, true, null, "007"),
else strings: admit_per_minute=900 paused=false title=Hello.
With both --file and key=value, the pairs replace fields of the document.
Fields the API reports but does not take (room, stats, created_at, updated_at)
are dropped from --file documents, so the output of get can be edited and set back.`)
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

// printRoom prints one room answer as JSON, or as a one-row table.
func (s *session) printRoom(raw []byte) error {
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
// fields only answers carry dropped and pairs on top.
func (s *session) roomDocument(room string, pairs map[string]any) ([]byte, error) {
	doc := map[string]any{}
	if s.file != "" {
		var err error
		if doc, err = s.readDocument(s.file); err != nil {
			return nil, err
		}
		if err := dropReported(doc, "room", room, "stats", "created_at", "updated_at"); err != nil {
			return nil, err
		}
	}
	maps.Copy(doc, pairs)
	return json.Marshal(doc)
}

// roomCreate PUTs the room with If-None-Match: *, so an existing room is
// refused (412) and left as it was, never replaced.
func roomCreate(ctx context.Context, s *session, pos []string) error {
	pairs, err := parseAssignments(pos[1:])
	if err != nil {
		return fmt.Errorf("room create: %w", err)
	}
	body, err := s.roomDocument(pos[0], pairs)
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
	pairs, err := parseAssignments(pos[1:])
	if err != nil {
		return fmt.Errorf("room set: %w", err)
	}
	method := http.MethodPatch
	var body []byte
	switch {
	case s.file != "":
		method = http.MethodPut
		if body, err = s.roomDocument(pos[0], pairs); err != nil {
			return err
		}
	case len(pairs) > 0:
		if body, err = json.Marshal(pairs); err != nil {
			return err
		}
	default:
		return errors.New("room set: nothing to set: give --file FILE or key=value pairs")
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
