package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxRevocationsBytes caps the list read from the network: a hundred thousand revoked
// admissions are under 5 MB.
const maxRevocationsBytes = 16 << 20

// revocations is an immutable view of the room's revocation list, as last fetched.
type revocations struct {
	exists bool             // the room exists: a deleted room's tokens all ended
	minIAT int64            // tokens issued before (unix seconds) are of an earlier room of the name
	jtis   map[string]int64 // ended admissions: jti → exp
}

// revokes reports whether the list ends c. Before the first fetch it ends nothing.
func (r *revocations) revokes(c Claims) bool {
	if r == nil {
		return false
	}
	if !r.exists || c.IssuedAt.Unix() < r.minIAT {
		return true
	}
	_, ok := r.jtis[c.ID]
	return ok
}

// revocationPoll is the state between polls; guarded by Verifier.revMu.
type revocationPoll struct {
	etag    string // of the list in force, for If-None-Match
	failing bool   // the last poll failed and said so in the log
}

// revocationsDoc is Crowdgate's GET /api/v1/rooms/{room}/revocations.
type revocationsDoc struct {
	Room    string `json:"room"`
	Exists  *bool  `json:"exists"`
	MinIAT  int64  `json:"min_iat"`
	Revoked []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	} `json:"revoked"`
}

// pollRevocations fetches the revocation list unless it is unchanged (304), and installs
// it. A failure keeps the list in force; the log says so once, and once when it recovers.
func (v *Verifier) pollRevocations(ctx context.Context) {
	v.revMu.Lock()
	defer v.revMu.Unlock()
	err := v.fetchRevocationsLocked(ctx)
	switch {
	case err != nil && ctx.Err() == nil && !v.revPoll.failing:
		v.revPoll.failing = true
		v.log.Warn("guard: revocation list fetch failed; keeping the last good list", "room", v.cfg.Room, "err", err)
	case err == nil && v.revPoll.failing:
		v.revPoll.failing = false
		v.log.Info("guard: revocation list fetched again", "room", v.cfg.Room)
	}
}

func (v *Verifier) fetchRevocationsLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.RevocationsURL, nil)
	if err != nil {
		return fmt.Errorf("guard: revocation list request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if v.revPoll.etag != "" && v.revoked.Load() != nil {
		req.Header.Set("If-None-Match", v.revPoll.etag)
	}
	res, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("guard: fetch revocation list: %w", err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotModified:
		return nil
	case http.StatusOK:
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096)) // lets the connection be reused
		return fmt.Errorf("guard: fetch revocation list %s: %s", v.cfg.RevocationsURL, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxRevocationsBytes+1))
	if err != nil {
		return fmt.Errorf("guard: read revocation list: %w", err)
	}
	if len(body) > maxRevocationsBytes {
		return fmt.Errorf("guard: revocation list %s is over %d bytes", v.cfg.RevocationsURL, maxRevocationsBytes)
	}
	list, err := parseRevocations(body, v.cfg.Room, v.cfg.Now().Unix())
	if err != nil {
		return err
	}
	v.revoked.Store(list)
	v.revPoll.etag = res.Header.Get("ETag")
	return nil
}

// parseRevocations reads room's list, leaving out what expired by now (unix seconds).
func parseRevocations(data []byte, room string, now int64) (*revocations, error) {
	var doc revocationsDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("guard: decode revocation list: %w", err)
	}
	if doc.Room != room {
		return nil, fmt.Errorf("guard: the revocation list is room %q's, not %q's", doc.Room, room)
	}
	if doc.Exists == nil {
		return nil, errors.New("guard: the revocation list does not say whether the room exists")
	}
	list := &revocations{exists: *doc.Exists, minIAT: doc.MinIAT, jtis: make(map[string]int64, len(doc.Revoked))}
	for _, r := range doc.Revoked {
		if r.Exp > now {
			list.jtis[r.JTI] = r.Exp
		}
	}
	return list, nil
}
