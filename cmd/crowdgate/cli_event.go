package main

// `crowdgate event ...`: the events of the admin API (/admin/v1/events):
// their definitions, log and audit.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
)

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
		{name: "delete", args: "EVENT [--yes]", min: 1, max: 1, flags: yesFlag, run: eventDelete,
			help: "delete an event that owes nothing (no paid order, live hold or payment under way); asks first unless --yes",
			about: `Crowdgate never deletes a paid order: an event with one is refused
(event_has_orders), and so is one with live holds, a payment that may still
land (up to a day after its hold ended) or a refund not yet confirmed; the
message says how many of each. Otherwise the event goes with its holds,
orders, log and counters; its page, holds and orders are not found afterwards.
On a terminal it asks first; otherwise it refuses without --yes.
It prints what was deleted; --output json prints the event as it was.`},
	}, `With --output json, log prints one JSON object per entry and line.
Fields the API reports but does not take (event, totals, stats, created_at,
updated_at, and available, held, sold of each ticket type) are dropped from
--file documents, so the output of get can be edited and set back.`)
}

func eventList(ctx context.Context, s *session, _ []string) error {
	raw, err := s.get(ctx, gateway.AdminEventsPath, nil)
	if err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	var list api.EventList
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unexpected event list: %w", err)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tROOM\tHOLD\tPER_ADMISSION\tTYPES\tCAPACITY\tAVAILABLE\tHELD\tSOLD")
	for _, e := range list.Events {
		var t api.Inventory // organizers' answers always have totals
		if e.Totals != nil {
			t = *e.Totals
		}
		fmt.Fprintf(tw, "%s\t%s\t%ds\t%d\t%d\t%d\t%d\t%d\t%d\n", e.Event, e.Room, e.HoldSeconds, e.PerAdmissionLimit, len(e.TicketTypes),
			t.Capacity, t.Available, t.Held, t.Sold)
	}
	return tw.Flush()
}

// deref reads a field only the organizer's view of an event has (a ticket
// type's capacity, held, sold); fans' answers leave it out.
func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// printEvent prints one event answer as JSON, or as a table of its ticket
// types, and its warnings to stderr.
func (s *session) printEvent(raw []byte) error {
	s.printWarnings(raw)
	if !s.table("json") {
		return s.printJSON(raw)
	}
	var e api.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("unexpected event answer: %w", err)
	}
	fmt.Fprintf(s.stdout, "event %s in room %s, holds last %ds, at most %d tickets per admission\n",
		e.Event, e.Room, e.HoldSeconds, e.PerAdmissionLimit)
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tPRICE_MINOR\tCURRENCY\tLIMIT\tCAPACITY\tAVAILABLE\tHELD\tSOLD")
	for _, t := range e.TicketTypes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n", t.ID, t.Name, t.PriceMinor, t.Currency, t.PerOrderLimit,
			deref(t.Capacity), t.Available, deref(t.Held), deref(t.Sold))
	}
	return tw.Flush()
}

func eventGet(ctx context.Context, s *session, pos []string) error {
	raw, err := s.get(ctx, gateway.AdminEventPath(pos[0]), nil)
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
	raw, err := s.api.do(ctx, http.MethodPut, gateway.AdminEventPath(pos[0]), nil, body)
	if err != nil {
		return err
	}
	return s.printEvent(raw)
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
		raw, err := s.get(ctx, gateway.AdminEventLogPath(pos[0]), q)
		if err != nil {
			if s.follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		var page api.LogPage
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
func (s *session) printLog(entries []api.LogEntry, asTable, header bool) error {
	if !asTable {
		for _, e := range entries {
			line, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := s.stdout.Write(append(line, '\n')); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "ID\tAT\tWHAT\tWHO\tFIELDS")
	}
	for _, e := range entries {
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
	raw, err := s.get(ctx, gateway.AdminEventAuditPath(pos[0]), nil)
	if err != nil {
		return err
	}
	var a api.Audit
	if err := json.Unmarshal(raw, &a); err != nil || a.Event == "" {
		return fmt.Errorf("unexpected audit answer: %.200q", raw)
	}
	if s.table("json") {
		fmt.Fprintf(s.stdout, "event %s balanced: %t\n", pos[0], a.Balanced)
		for _, p := range a.Problems {
			fmt.Fprintln(s.stdout, "  "+p)
		}
	} else if err := s.printJSON(raw); err != nil {
		return err
	}
	if !a.Balanced {
		return fmt.Errorf("event %s does not balance: %s", pos[0], strings.Join(a.Problems, "; "))
	}
	return nil
}

// eventDelete reads the event first, for the question and the report; the
// server decides whether it may go (409 event_has_orders) in the same step
// as it deletes, so nothing is sold between the two.
func eventDelete(ctx context.Context, s *session, pos []string) error {
	name := pos[0]
	raw, err := s.get(ctx, gateway.AdminEventPath(name), nil)
	if err != nil {
		return err
	}
	var e api.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("unexpected event answer: %w", err)
	}
	var t api.Inventory // organizers' answers always have totals
	if e.Totals != nil {
		t = *e.Totals
	}
	what := fmt.Sprintf("room %s, %s, %s", e.Room, count(int64(len(e.TicketTypes)), "ticket type", "ticket types"), count(t.Capacity, "ticket", "tickets"))
	if err := s.confirm("event delete", fmt.Sprintf("Delete event %s (%s)? This cannot be undone.", name, what)); err != nil {
		return err
	}
	if _, err := s.api.do(ctx, http.MethodDelete, gateway.AdminEventPath(name), nil, nil); err != nil {
		return err
	}
	if !s.table("table") {
		return s.printJSON(raw)
	}
	_, err = fmt.Fprintf(s.stdout, "deleted event %s (%s)\n", name, what)
	return err
}
