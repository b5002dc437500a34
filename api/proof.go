package api

import "time"

// The public documents of a room, which anyone may read to check
// Crowdgate: the fairness of a draw, and the admissions ended early.

// Fairness is GET /api/v1/rooms/{room}/fairness: a room's public proof of
// its pre-queue draw (see "The pre-queue draw" in queue/doc.go).
type Fairness struct {
	Room      string `json:"room"`
	Mode      string `json:"mode"`
	Algorithm string `json:"algorithm"`
	// Commitment is the hex SHA-256 of the seed's 32 bytes, published when
	// the pre-queue opens, before anyone is in it.
	Commitment  string     `json:"commitment,omitempty"`
	CommittedAt *time.Time `json:"committed_at,omitempty"`
	// Seed (hex), the time of the draw, the number of participants and the
	// last sequence number eligible, once the draw is done.
	Seed          string     `json:"seed,omitempty"`
	DrawnAt       *time.Time `json:"drawn_at,omitempty"`
	Participants  *int       `json:"participants,omitempty"`
	CutoffQueueID string     `json:"cutoff_queue_id,omitempty"`
}

// Participants is GET /api/v1/rooms/{room}/fairness/participants: the
// queue ids the draw placed, in order of joining; rerunning the algorithm
// over them with the seed gives the order.
type Participants struct {
	Room     string   `json:"room"`
	QueueIDs []string `json:"queue_ids"`
}

// Revocations is GET /api/v1/rooms/{room}/revocations: a room's list of
// the admissions ended early whose tokens have not expired, which an
// origin that verifies tokens itself polls to refuse them as Crowdgate
// does. It names tokens by jti only, which is no credential.
type Revocations struct {
	Room string `json:"room"`
	// Exists is false for a room that does not exist (deleted, or never
	// made): no token for it admits. A 404 could not say so safely: a
	// Crowdgate without this endpoint, or a proxy, answers 404 too.
	Exists bool `json:"exists"`
	// MinIAT (unix seconds): a token issued earlier is of a room of the
	// same name that was deleted since, and admits no more.
	MinIAT int64 `json:"min_iat"`
	// Revoked lists the ended admissions, by exp then jti, so that every
	// instance renders the same bytes and the same ETag.
	Revoked []Revocation `json:"revoked"`
}

// Revocation is an admission ended early.
type Revocation struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"` // the token's: drop the entry after it
}
