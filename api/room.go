package api

import (
	"encoding/json"
	"errors"
	"time"
)

// Room is a room as organizers read it: GET, PUT and PATCH
// /admin/v1/rooms/{room}, and each entry of GET /admin/v1/rooms.
type Room struct {
	Room                 string     `json:"room"`
	AdmitPerMinute       int        `json:"admit_per_minute"`
	MaxActive            int64      `json:"max_active"`
	SessionSeconds       int        `json:"session_seconds"`
	QueueOpensAt         *time.Time `json:"queue_opens_at"`
	SaleStartsAt         *time.Time `json:"sale_starts_at"`
	Mode                 string     `json:"mode"`
	Paused               bool       `json:"paused"`
	Passthrough          bool       `json:"passthrough"`
	Closed               bool       `json:"closed"`
	ClosedReason         string     `json:"closed_reason,omitempty"` // "sold_out" when it closed by itself
	ClosedAt             *time.Time `json:"closed_at,omitempty"`     // when it closed by itself
	OnStoreFailure       string     `json:"on_store_failure"`
	Title                string     `json:"title"`
	Message              string     `json:"message"`
	PrimaryColor         string     `json:"primary_color"`
	BackgroundColor      string     `json:"background_color"`
	Language             string     `json:"language"`
	Adaptive             bool       `json:"adaptive"`
	AdaptiveMaxCheckouts int64      `json:"adaptive_max_checkouts"`
	AdaptiveP99Ms        int        `json:"adaptive_p99_ms"`
	// The origin's targets (reverse-proxy mode): its p99 to response
	// headers, and its share of 5xx answers and failures, in percent.
	AdaptiveOriginP99Ms        int `json:"adaptive_origin_p99_ms"`
	AdaptiveOriginErrorPercent int `json:"adaptive_origin_error_percent"`
	// The gate against scripts (docs/organizer.md): when a new place needs
	// a proof-of-work challenge ("off", "auto", "always"), its base
	// difficulty, and the per-address limits.
	Challenge             string `json:"challenge"`
	ChallengeBits         int    `json:"challenge_bits"`
	AddressJoinsPerMinute int    `json:"address_joins_per_minute"`
	AddressLivePlaces     int    `json:"address_live_places"`
	// The CAPTCHA a new place needs (docs/organizer.md): the provider
	// ("turnstile", "hcaptcha", "recaptcha"; "" for none), its public site
	// key, the action the widget is given (checked in the answer), and
	// what a join does while the provider is down ("pow" or "refuse").
	Captcha         string    `json:"captcha"`
	CaptchaSiteKey  string    `json:"captcha_site_key"`
	CaptchaAction   string    `json:"captcha_action"`
	CaptchaFallback string    `json:"captcha_fallback"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	// Stats are the live figures, in GET answers only.
	Stats *Stats `json:"stats,omitempty"`
	// Warnings, in PUT and PATCH answers only, say what the change may not
	// do as meant (a schedule already past).
	Warnings []Warning `json:"warnings,omitempty"`

	// EnqueueToken is how the room takes enqueue tokens; its secret is
	// never shown.
	EnqueueToken EnqueueToken `json:"enqueue_token"`
	// AccessCodeRequired: a new place needs one of the room's access codes
	// (POST /admin/v1/rooms/{room}/codes), which the join uses up.
	AccessCodeRequired bool `json:"access_code_required"`
	// Trigger are the thresholds past which the room queues; all 0: it
	// always does (docs/organizer.md).
	Trigger Trigger `json:"trigger"`
	// SessionMaxSeconds makes sessions sliding: renewed on activity up to
	// this long after admission; 0: fixed sessions of session_seconds.
	SessionMaxSeconds int `json:"session_max_seconds"`
	// Destination is where an admitted fan who came with no return_to is
	// sent: a path on the site; "": the room's event page, else "/".
	Destination string `json:"destination"`
	// Bypass are the requests the room lets through without an admission
	// (docs/organizer.md); the header's secret is never shown.
	Bypass Bypass `json:"bypass"`
	// The organizer's own look (docs/organizer.md): a logo (a path on the
	// site or an https URL) and its text, the sites that may show the
	// waiting room in an iframe, and the digest of the room's page
	// template ("" for Crowdgate's page; the text is at
	// /admin/v1/rooms/{room}/template).
	LogoURL            string   `json:"logo_url"`
	LogoAlt            string   `json:"logo_alt"`
	EmbedOrigins       []string `json:"embed_origins"`
	PageTemplateSHA256 string   `json:"page_template_sha256"`
}

// PageTemplate is the answer to PUT /admin/v1/rooms/{room}/template.
type PageTemplate struct {
	Room   string `json:"room"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// Bypass are a room's bypass rules as organizers read them: requests from
// CIDRs, with Header's secret, or to Paths pass without an admission.
type Bypass struct {
	CIDRs  []string     `json:"cidrs"`
	Paths  []string     `json:"paths"`
	Header BypassHeader `json:"header"`
}

// BypassHeader is a room's secret header rule: Name "" for none. The secret
// is never shown; SecretSet says one is stored.
type BypassHeader struct {
	Name      string `json:"name"`
	SecretSet bool   `json:"secret_set"`
}

// BypassRequest is the bypass of a RoomRequest. An absent list or header
// keeps its value on PATCH; an empty list clears it.
type BypassRequest struct {
	CIDRs  *[]string            `json:"cidrs,omitempty"`
	Paths  *[]string            `json:"paths,omitempty"`
	Header *BypassHeaderRequest `json:"header,omitempty"`
}

// BypassHeaderRequest sets the header rule: Name "" removes it. A new name
// with no Secret keeps the stored secret; SecretSet without Secret is what
// GET shows: true keeps the stored secret (so a document read back can be
// set again, also with PUT), false clears it.
type BypassHeaderRequest struct {
	Name      *string `json:"name,omitempty"`
	Secret    *string `json:"secret,omitempty"` // 16 to 256 visible ASCII characters
	SecretSet *bool   `json:"secret_set,omitempty"`
}

// BypassCounts are the requests a room's bypass rules let through, by
// rule, deployment-wide (Stats.Bypassed).
type BypassCounts struct {
	CIDR   int64 `json:"cidr"`
	Header int64 `json:"header"`
	Path   int64 `json:"path"`
}

// Trigger is a room's traffic trigger: it lets everyone in at once until
// its active users reach ActiveUsers or its new users per minute reach
// NewPerMinute (0: not a threshold), then queues newcomers until its line
// is empty and its traffic under LowWatermarkPercent of each threshold.
type Trigger struct {
	ActiveUsers         int64 `json:"active_users"`
	NewPerMinute        int   `json:"new_per_minute"`
	LowWatermarkPercent int   `json:"low_watermark_percent"`
}

// TriggerRequest is the trigger of a RoomRequest; an absent field keeps its
// value on PATCH.
type TriggerRequest struct {
	ActiveUsers         *int64 `json:"active_users,omitempty"`
	NewPerMinute        *int   `json:"new_per_minute,omitempty"`
	LowWatermarkPercent *int   `json:"low_watermark_percent,omitempty"`
}

// Stats are a room's live figures (Room.Stats).
type Stats struct {
	Waiting            int64 `json:"waiting"`
	Active             int64 `json:"active"`
	AdmittedTotal      int64 `json:"admitted_total"`
	AbandonedTotal     int64 `json:"abandoned_total"`
	AdmitRatePerMinute int64 `json:"admit_rate_per_minute"`
	// DrainETASeconds is how long the line takes to drain at the observed
	// rate (the configured one before anyone was admitted); -1 when it never
	// drains at that rate (paused, or a rate of 0).
	DrainETASeconds int64 `json:"drain_eta_seconds"`
	// TriggerState is where a traffic-triggered room stands, "quiet"
	// (everyone in at once) or "queueing", and TriggerStateSince when it
	// last changed (null: quiet since created); absent for other rooms.
	TriggerState      string     `json:"trigger_state,omitempty"`
	TriggerStateSince *time.Time `json:"trigger_state_since,omitempty"`
	// Bypassed counts the requests the room's bypass rules let through;
	// absent for a room that has no rules and never had any pass.
	Bypassed *BypassCounts `json:"bypassed,omitempty"`
}

// RoomList is GET /admin/v1/rooms.
type RoomList struct {
	Rooms []Room `json:"rooms"`
}

// RoomRequest is the organizer's room document: the body of PUT and PATCH
// /admin/v1/rooms/{room}, and of the rooms a configuration file declares.
// Absent fields keep their value on PATCH and take the default on PUT; a
// nil field is absent, so a Go client's PATCH sends only what it sets.
type RoomRequest struct {
	AdmitPerMinute  *int    `json:"admit_per_minute,omitempty"`
	MaxActive       *int64  `json:"max_active,omitempty"`
	SessionSeconds  *int    `json:"session_seconds,omitempty"`
	QueueOpensAt    OptTime `json:"queue_opens_at,omitzero"`
	SaleStartsAt    OptTime `json:"sale_starts_at,omitzero"`
	Mode            *string `json:"mode,omitempty"`
	Paused          *bool   `json:"paused,omitempty"`
	Passthrough     *bool   `json:"passthrough,omitempty"`
	Closed          *bool   `json:"closed,omitempty"`
	OnStoreFailure  *string `json:"on_store_failure,omitempty"` // "open" or "closed"
	Title           *string `json:"title,omitempty"`
	Message         *string `json:"message,omitempty"`
	PrimaryColor    *string `json:"primary_color,omitempty"`
	BackgroundColor *string `json:"background_color,omitempty"`
	Language        *string `json:"language,omitempty"`
	// EnqueueToken sets how the room takes enqueue tokens.
	EnqueueToken *EnqueueTokenRequest `json:"enqueue_token,omitempty"`
	// AccessCodeRequired makes the room invite-only: see Room.
	AccessCodeRequired *bool `json:"access_code_required,omitempty"`
	// Adaptive admission.
	Adaptive             *bool  `json:"adaptive,omitempty"`
	AdaptiveMaxCheckouts *int64 `json:"adaptive_max_checkouts,omitempty"`
	AdaptiveP99Ms        *int   `json:"adaptive_p99_ms,omitempty"`
	// The origin's targets; 0: not a target.
	AdaptiveOriginP99Ms        *int `json:"adaptive_origin_p99_ms,omitempty"`
	AdaptiveOriginErrorPercent *int `json:"adaptive_origin_error_percent,omitempty"`
	// The gate against scripts; 0 for a number: the default.
	Challenge             *string `json:"challenge,omitempty"`
	ChallengeBits         *int    `json:"challenge_bits,omitempty"`
	AddressJoinsPerMinute *int    `json:"address_joins_per_minute,omitempty"`
	AddressLivePlaces     *int    `json:"address_live_places,omitempty"`
	// The CAPTCHA; "" for captcha turns it off.
	Captcha         *string `json:"captcha,omitempty"`
	CaptchaSiteKey  *string `json:"captcha_site_key,omitempty"`
	CaptchaAction   *string `json:"captcha_action,omitempty"`
	CaptchaFallback *string `json:"captcha_fallback,omitempty"`
	// Trigger and sliding sessions.
	Trigger           *TriggerRequest `json:"trigger,omitempty"`
	SessionMaxSeconds *int            `json:"session_max_seconds,omitempty"`
	Destination       *string         `json:"destination,omitempty"`
	// Bypass rules: see Bypass.
	Bypass *BypassRequest `json:"bypass,omitempty"`
	// The look: see Room. An empty list of embed_origins lets no site
	// frame the page.
	LogoURL      *string   `json:"logo_url,omitempty"`
	LogoAlt      *string   `json:"logo_alt,omitempty"`
	EmbedOrigins *[]string `json:"embed_origins,omitempty"`
}

// EnqueueToken is a room's enqueue-token setting as organizers read it
// (docs/organizer.md): short JWTs the organizer's site signs with a user's
// id, so that one user id holds one place.
type EnqueueToken struct {
	// Required: a new place needs a valid token; otherwise a token is
	// optional (a fan who brings one still holds one place per user id).
	Required bool `json:"required"`
	// HS256SecretSet says that tokens are checked with an HS256 secret,
	// which is never shown.
	HS256SecretSet bool `json:"hs256_secret_set"`
	// JWKSURL is the site's key set, for EdDSA and ES256 tokens.
	JWKSURL string `json:"jwks_url"`
	// HS256PreviousSecretUntil is when the secret the last rotation
	// replaced stops verifying; absent when none does.
	HS256PreviousSecretUntil *time.Time `json:"hs256_previous_secret_until,omitempty"`
}

// EnqueueTokenRequest is the enqueue_token of a RoomRequest. An absent
// field keeps its value on PATCH; "" clears a secret or URL. At most one of
// HS256Secret and JWKSURL may be set, and Required needs one of them.
type EnqueueTokenRequest struct {
	Required    *bool   `json:"required,omitempty"`
	HS256Secret *string `json:"hs256_secret,omitempty"` // at least 32 bytes
	JWKSURL     *string `json:"jwks_url,omitempty"`     // https (http only to a loopback host)
	// HS256SecretSet, without HS256Secret, is what GET shows: true keeps
	// the stored secret (so a document read back can be set again, also
	// with PUT), false clears it.
	HS256SecretSet *bool `json:"hs256_secret_set,omitempty"`
	// HS256PreviousSecretSeconds is how long the secret a new HS256Secret
	// replaces still verifies (default 900; 0: not at all, for a leaked
	// secret). Without a new secret it sets the time left of the last
	// rotation's overlap from now; 0 ends it.
	HS256PreviousSecretSeconds *int `json:"hs256_previous_secret_seconds,omitempty"`
}

// OptTime is a time field of a RoomRequest, which has three states: absent
// (keep it), null (unset it) or an RFC 3339 time (set it).
type OptTime struct {
	Set  bool      // the field was given, null or a time
	Time time.Time // zero for null; UTC when decoded
}

// IsZero reports whether the field is absent, so omitzero leaves it out.
func (o OptTime) IsZero() bool { return !o.Set }

// UnmarshalJSON reads null or an RFC 3339 string.
func (o *OptTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("times must be RFC 3339 strings")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return errors.New("times must be RFC 3339, e.g. 2026-12-01T10:00:00Z")
	}
	o.Time = t.UTC()
	return nil
}

// MarshalJSON writes null for the zero time, else the time in RFC 3339.
func (o OptTime) MarshalJSON() ([]byte, error) {
	if o.Time.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(o.Time.Format(time.RFC3339Nano))
}

// KeyRotation is POST /admin/v1/keys/rotate: the new signing key's id.
type KeyRotation struct {
	Kid string `json:"kid"`
}

// CodesRequest is the body of POST /admin/v1/rooms/{room}/codes: access
// codes to add (1 to 1,000, each 6 to 64 visible ASCII characters), each
// good for Uses new places (1 to 1,000,000). A code added again gets Uses.
type CodesRequest struct {
	Codes []string `json:"codes"`
	Uses  int      `json:"uses"`
}

// Codes counts a room's access codes (never shows them): GET
// /admin/v1/rooms/{room}/codes, and the answer to adding some.
type Codes struct {
	Codes    int64 `json:"codes"`     // codes stored
	UsesLeft int64 `json:"uses_left"` // new places they still allow
	Used     int64 `json:"used"`      // new places made with a code, cleared ones included
}

// RoomHookDeadLetters is GET /admin/v1/rooms/{room}/hooks/dead: the room's
// hook messages given up on, newest first.
type RoomHookDeadLetters struct {
	Dead []RoomHookDeadLetter `json:"dead"`
}

// RoomHookDeadLetter is a room hook message given up on: the body the
// webhook would have been posted (a RoomHook), with why it failed.
type RoomHookDeadLetter struct {
	Hook     json.RawMessage `json:"hook"`
	Error    string          `json:"error"`    // the last error
	Attempts int64           `json:"attempts"` // delivery attempts made
}

// RoomHookRedrive is POST /admin/v1/rooms/{room}/hooks/dead/retry: how
// many dead letters went back to be delivered again.
type RoomHookRedrive struct {
	Retried int `json:"retried"`
}
