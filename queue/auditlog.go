package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// auditKey is the organizers' audit log: one stream for the deployment,
// newest entries kept (MAXLEN ~ auditLength).
const auditKey = "cg:audit"

const auditLength = 10000

// Actors of audit entries.
const (
	ActorDashboard = "dashboard" // a browser session of the dashboard
	ActorAPI       = "api"       // the admin bearer token
)

// AuditEntry is one change an organizer made (or tried to make).
type AuditEntry struct {
	ID     string    `json:"id"` // the stream id, set by Audit
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // ActorDashboard or ActorAPI
	IP     string    `json:"ip"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Summary is what was asked: the request body, shortened. It is the
	// caller's job to keep secrets out of it.
	Summary string `json:"summary"`
	Status  int    `json:"status"`
}

// AppendAudit adds e to the audit log; the oldest entries beyond ten
// thousand or so are trimmed.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.cfg.Now()
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: auditKey, MaxLen: auditLength, Approx: true,
		Values: []any{
			"at", e.At.UnixMilli(), "actor", e.Actor, "ip", e.IP, "method", e.Method,
			"path", e.Path, "summary", e.Summary, "status", e.Status,
		},
	}).Err()
	if err != nil {
		return fmt.Errorf("queue: append audit: %w", err)
	}
	return nil
}

// Audit returns the latest limit entries (1 to 1000), newest first.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit < 1 || limit > 1000 {
		return nil, errors.New("queue: audit limit must be between 1 and 1000")
	}
	msgs, err := s.rdb.XRevRangeN(ctx, auditKey, "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: audit: %w", err)
	}
	out := make([]AuditEntry, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		ms, _ := strconv.ParseInt(str("at"), 10, 64)
		status, _ := strconv.Atoi(str("status"))
		out = append(out, AuditEntry{
			ID: m.ID, At: time.UnixMilli(ms).UTC(), Actor: str("actor"), IP: str("ip"),
			Method: str("method"), Path: str("path"), Summary: str("summary"), Status: status,
		})
	}
	return out, nil
}
