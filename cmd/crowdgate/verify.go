package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

const verifyUsage = `Usage:
  crowdgate verify-shuffle --url URL --room ROOM [--queue-id ID]
  crowdgate verify-shuffle --file fairness.json [--queue-id ID]

Checks a random_prequeue room's draw: that the revealed seed matches the
commitment published before the pre-queue opened (SHA-256 of the seed's
bytes), then recomputes the order (queue ids by ascending
sha256(seed_hex + ":" + queue_id)) and prints it as "place queue_id" lines,
or only the place of --queue-id. Exits non-zero when anything does not match.

--url fetches GET /api/v1/rooms/ROOM/fairness and .../fairness/participants.
--file reads the /fairness document with the participants' "queue_ids"
added, e.g. one saved earlier. Nothing needs a token.

Flags:
`

// maxFairnessDoc bounds what verify-shuffle reads: a million queue ids.
const maxFairnessDoc = 16 << 20

// verifyShuffle is `crowdgate verify-shuffle`.
func verifyShuffle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify-shuffle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, verifyUsage)
		fs.PrintDefaults()
	}
	base := fs.String("url", "", "base `URL` of the Crowdgate, e.g. https://queue.example.com")
	room := fs.String("room", "", "the `room` whose draw to check (with --url)")
	file := fs.String("file", "", "a saved fairness `document` (instead of --url)")
	id := fs.String("queue-id", "", "print only this queue `id`'s place in the draw")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for each answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("verify-shuffle: unexpected argument %q", fs.Arg(0))
	}
	var doc fairnessDoc
	switch {
	case *file != "" && *base == "":
		b, err := readLimited(*file)
		if err != nil {
			return fmt.Errorf("verify-shuffle: %w", err)
		}
		if doc, err = parseFairnessDoc(b); err != nil {
			return fmt.Errorf("verify-shuffle: %s: %w", *file, err)
		}
	case *base != "" && *file == "":
		if !queue.ValidID(*room) {
			return errors.New("verify-shuffle: --room must name a room (^[a-z0-9][a-z0-9-]{0,63}$)")
		}
		var err error
		if doc, err = fetchFairness(ctx, &http.Client{Timeout: *timeout}, *base, *room); err != nil {
			return fmt.Errorf("verify-shuffle: %w", err)
		}
	default:
		fs.Usage()
		return errors.New("verify-shuffle: give either --url and --room, or --file")
	}
	order, err := doc.verify()
	if err != nil {
		return fmt.Errorf("verify-shuffle: room %s: %w", doc.Room, err)
	}
	if *id != "" {
		for i, q := range order {
			if q == *id {
				fmt.Fprintf(stdout, "queue id %s: place %d of %d in the draw of room %s (seed matches the commitment)\n", q, i+1, len(order), doc.Room)
				return nil
			}
		}
		return fmt.Errorf("verify-shuffle: room %s: queue id %q is not among the %d participants (joined after the sale started, or left before the draw)", doc.Room, *id, len(order))
	}
	fmt.Fprintf(stdout, "# room %s: sha256(seed) = commitment %s: ok\n", doc.Room, doc.Commitment)
	fmt.Fprintf(stdout, "# %d participants, drawn at %s; place queue_id:\n", len(order), doc.DrawnAt)
	for i, q := range order {
		fmt.Fprintf(stdout, "%d %s\n", i+1, q)
	}
	return nil
}

// fairnessDoc is a room's /fairness document with the participants' queue
// ids added: everything the check needs.
type fairnessDoc struct {
	Room         string   `json:"room"`
	Mode         string   `json:"mode"`
	Algorithm    string   `json:"algorithm"`
	Commitment   string   `json:"commitment"`
	Seed         string   `json:"seed"`
	DrawnAt      string   `json:"drawn_at"`
	Participants *int     `json:"participants"`
	QueueIDs     []string `json:"queue_ids"`

	seed []byte // decoded by parseFairnessDoc
}

// parseFairnessDoc decodes and checks the shape of a fairness document:
// a drawn room's seed and commitment as 64 hex digits, queue ids as
// distinct base-36 sequence numbers, as many as it says took part. It
// does not yet compare the seed with the commitment (verify does).
func parseFairnessDoc(b []byte) (fairnessDoc, error) {
	var d fairnessDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return fairnessDoc{}, fmt.Errorf("not a fairness document: %w", err)
	}
	return d, d.check()
}

func (d *fairnessDoc) check() error {
	if d.Commitment == "" {
		return errors.New("no commitment: the room is not random_prequeue, or its pre-queue has not opened")
	}
	if d.Seed == "" {
		return errors.New("no seed yet: the draw has not happened")
	}
	if !isHex(d.Commitment, 64) {
		return fmt.Errorf("commitment %q is not 64 lowercase hex digits", clip(d.Commitment))
	}
	if !isHex(d.Seed, 2*queue.SeedSize) {
		return fmt.Errorf("seed %q is not %d lowercase hex digits", clip(d.Seed), 2*queue.SeedSize)
	}
	d.seed, _ = hex.DecodeString(d.Seed)
	if d.QueueIDs == nil {
		return errors.New("no queue_ids: the participants are missing")
	}
	seen := make(map[string]bool, len(d.QueueIDs))
	for _, id := range d.QueueIDs {
		if !validQueueID(id) {
			return fmt.Errorf("%q is not a queue id", clip(id))
		}
		if seen[id] {
			return fmt.Errorf("queue id %s is listed twice", id)
		}
		seen[id] = true
	}
	if d.Participants != nil && *d.Participants != len(d.QueueIDs) {
		return fmt.Errorf("the document says %d participants but lists %d queue ids", *d.Participants, len(d.QueueIDs))
	}
	return nil
}

// verify compares the seed with the commitment and recomputes the order.
func (d fairnessDoc) verify() ([]string, error) {
	if d.Algorithm != queue.DrawAlgorithm {
		return nil, fmt.Errorf("unknown algorithm %q: this crowdgate checks %q", clip(d.Algorithm), queue.DrawAlgorithm)
	}
	if got := queue.Commitment(d.seed); got != d.Commitment {
		return nil, fmt.Errorf("MISMATCH: sha256(seed) = %s, but the commitment was %s", got, d.Commitment)
	}
	return queue.DrawOrder(d.seed, d.QueueIDs), nil
}

// validQueueID accepts a sequence number in base 36 as Crowdgate spells
// it: lowercase, no sign, no leading zero, positive, fits an int64.
func validQueueID(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 13 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 36, 64)
	return err == nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip keeps error messages about hostile input short.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFairnessDoc+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFairnessDoc {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFairnessDoc)
	}
	return b, nil
}

// fetchFairness reads a room's fairness document and participants.
func fetchFairness(ctx context.Context, hc *http.Client, base, room string) (fairnessDoc, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fairnessDoc{}, fmt.Errorf("--url %q must be an absolute http(s) URL", base)
	}
	fairURL := u.JoinPath("api/v1/rooms", room, "fairness")
	b, err := getJSON(ctx, hc, fairURL.String())
	if err != nil {
		return fairnessDoc{}, err
	}
	var d fairnessDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return fairnessDoc{}, fmt.Errorf("%s: %w", fairURL, err)
	}
	if d.Seed == "" {
		// Not drawn yet: say so rather than report the missing list.
		return d, d.check()
	}
	partURL := fairURL.JoinPath("participants")
	if b, err = getJSON(ctx, hc, partURL.String()); err != nil {
		return fairnessDoc{}, err
	}
	var p struct {
		QueueIDs []string `json:"queue_ids"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return fairnessDoc{}, fmt.Errorf("%s: %w", partURL, err)
	}
	d.QueueIDs = p.QueueIDs
	return d, d.check()
}

func getJSON(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxFairnessDoc+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if len(b) > maxFairnessDoc {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", u, maxFairnessDoc)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return nil, fmt.Errorf("%s: %d %s: %s", u, res.StatusCode, e.Error.Code, e.Error.Message)
		}
		return nil, fmt.Errorf("%s: %s", u, res.Status)
	}
	return b, nil
}
