package queue

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate"
)

// ClosedSoldOut is the ClosedReason of a room closed because its events
// sold out.
const ClosedSoldOut = "sold_out"

// ActorCrowdgate is the audit log's actor (AuditEntry.Actor) of changes
// Crowdgate makes to a room by itself: closing it when sold out, reopening
// it when tickets are on sale again.
const ActorCrowdgate = "crowdgate"

// Admission modes.
const (
	ModeFIFO           = "fifo"
	ModeRandomPrequeue = "random_prequeue"
)

// Limits that keep a room's configuration sane. They are generous; they exist
// so that a typo (an extra zero or three) is an error, not an incident.
const (
	MaxAdmitPerMinute = 1_000_000
	MaxActiveLimit    = 100_000_000
	MinSessionSeconds = 1
	MaxSessionSeconds = 7 * 24 * 3600

	MaxAdaptiveCheckouts = 10_000_000

	// Enqueue tokens' keys: an HS256 secret of at least 256 bits (RFC 7518
	// §3.2), and bounds that catch a pasted file rather than a key or URL.
	MinEnqueueSecretBytes = 32
	MaxEnqueueSecretBytes = 512
	MaxEnqueueJWKSURL     = 2048
	MinAdaptiveP99Ms      = 10
	MaxAdaptiveP99Ms      = 60_000
	// MaxAdaptiveOriginErrorPercent bounds adaptive_origin_error_percent:
	// a share of 100% can never be exceeded, so it would be no target.
	MaxAdaptiveOriginErrorPercent = 99
)

// DefaultSessionSeconds is the admission lifetime of a room that does not set one.
const DefaultSessionSeconds = 900

// ErrInvalidRoom is wrapped by every reason a room configuration is
// refused: a *crowdgate.Error of kind Invalid whose Message is the reason.
var ErrInvalidRoom = errors.New("invalid room")

// Room is the configuration of one sale's waiting room. The zero time means
// "not scheduled": the queue is open and the sale has started.
type Room struct {
	Name           string
	AdmitPerMinute int   // admissions per minute, spread evenly; 0 admits nobody
	MaxActive      int64 // admitted visitors whose session is alive; 0 = no cap
	SessionSeconds int   // lifetime of an admission
	QueueOpensAt   time.Time
	SaleStartsAt   time.Time
	Mode           string // ModeFIFO or ModeRandomPrequeue
	Paused         bool   // nobody is admitted; waiters keep their place
	Passthrough    bool   // everyone is admitted on arrival
	Closed         bool   // the sale is over; no new places
	// ClosedReason says why a room is Closed: "" when the organizer closed
	// it, ClosedSoldOut when it closed by itself because nothing is left
	// to sell (CloseSoldOut), and reopens by itself when tickets are on
	// sale again (ReopenSoldOut). Any change of Closed through the admin
	// API clears it: the organizer decides from then on.
	ClosedReason string
	// ClosedAt is when the room closed by itself; zero unless ClosedReason
	// is set (it is stored only with a reason).
	ClosedAt time.Time
	// FailOpen lets visitors without an admission token through forward
	// auth and the reverse proxy while the store is unreachable (no
	// waiting room can run then). The default, fail closed, keeps sending
	// them to the waiting room; admitted visitors pass either way, since
	// their tokens verify without the store.
	FailOpen bool

	// Adaptive admission (adaptive.go, package admission): admit as fast
	// as the booking core behind the room stays under its targets, never
	// faster than AdmitPerMinute. Off by default; when on, at least one
	// target is set.
	Adaptive bool
	// AdaptiveMaxCheckouts is how many tickets in live holds behind the
	// room count as full; 0: not a target.
	AdaptiveMaxCheckouts int64
	// AdaptiveP99Ms is the ceiling of the booking core's 99th-percentile
	// latency, in milliseconds; 0: not a target.
	AdaptiveP99Ms int
	// AdaptiveOriginP99Ms is the ceiling of the origin's 99th-percentile
	// latency as the reverse proxy measures it (to its response headers),
	// in milliseconds; 0: not a target.
	AdaptiveOriginP99Ms int
	// AdaptiveOriginErrorPercent is the ceiling of the share of the
	// origin's answers that are 5xx or no answer at all, in percent
	// (1 to MaxAdaptiveOriginErrorPercent); 0: not a target.
	AdaptiveOriginErrorPercent int

	// Challenge is when a new place needs a solved proof-of-work challenge
	// (gate.go): ChallengeOff, ChallengeAuto (under pressure; the default)
	// or ChallengeAlways.
	Challenge string
	// ChallengeBits is the base difficulty; 0: DefaultChallengeBits.
	ChallengeBits int
	// AddressJoinsPerMinute caps new places per address (IPv4, or IPv6
	// /64) per minute in this room; 0: DefaultAddressJoinsPerMinute.
	AddressJoinsPerMinute int
	// AddressLivePlaces caps the live places one address holds in this
	// room; 0: DefaultAddressLivePlaces.
	AddressLivePlaces int

	// Captcha names the CAPTCHA provider every new place needs a solved
	// widget of (one of CaptchaProviders); "" for none. The deployment
	// holds the provider's secret; the room only its public site key.
	Captcha string
	// CaptchaSiteKey is the provider's public site key the page's widget
	// uses.
	CaptchaSiteKey string
	// CaptchaAction, when set, is the action the widget is given and the
	// provider's answer must report (Turnstile, reCAPTCHA v3).
	CaptchaAction string
	// CaptchaFallback is what a join does while the provider cannot be
	// reached: CaptchaFallbackPoW (the default) or CaptchaFallbackRefuse.
	CaptchaFallback string

	// Enqueue tokens (gate.go, package admission): JWTs the organizer's own
	// site signs with a user's id, so that one user id holds one place.
	// EnqueueSecret (HS256, at least MinEnqueueSecretBytes) or
	// EnqueueJWKSURL (EdDSA or ES256, keys from the site's JWKS) says how
	// tokens are checked; at most one is set. With EnqueueTokenRequired a
	// new place needs a valid token; without it a token is optional (a fan
	// who brings one still holds one place per user id).
	EnqueueTokenRequired bool
	EnqueueSecret        string
	EnqueueJWKSURL       string
	// EnqueuePreviousSecret is the HS256 secret a rotation replaced, still
	// accepted until EnqueuePreviousSecretUntil so that tokens the site
	// signed before it switched keep working (RotateEnqueueSecret).
	EnqueuePreviousSecret      string
	EnqueuePreviousSecretUntil time.Time
	// AccessCodeRequired: a new place needs one of the room's access codes
	// with a use left (codes.go), which the join uses up. Invite-only rooms
	// and presales.
	AccessCodeRequired bool

	// Traffic trigger (trigger.go): the room stays out of the way, every
	// newcomer admitted on arrival, until its active users reach
	// TriggerActiveUsers or its new users over the last minute reach
	// TriggerNewPerMinute (0: not a threshold; a room with either set is
	// traffic-triggered). Then newcomers queue and are admitted at
	// AdmitPerMinute, never above the active cap (MaxActive, else
	// TriggerActiveUsers); once the line is empty and traffic is under
	// TriggerLowPercent of each threshold, the room is quiet again.
	TriggerActiveUsers  int64
	TriggerNewPerMinute int
	TriggerLowPercent   int // 0: DefaultTriggerLowPercent
	// SessionMaxSeconds makes sessions sliding: an admitted visitor's
	// session is renewed on activity (each renewal runs SessionSeconds from
	// then) up to SessionMaxSeconds after admission; one who goes quiet
	// frees the slot SessionSeconds after their last renewal. 0: fixed
	// sessions of SessionSeconds.
	SessionMaxSeconds int

	// Destination is where an admitted fan who came with no return_to is
	// sent: a path on the site; "": the room's event page when an event
	// sells through it, else "/".
	Destination string

	// Bypass are the requests the room lets through without an admission
	// (bypass.go): from some networks, with a secret header, or to some
	// paths.
	Bypass Bypass

	// Appearance of the waiting-room page.
	Title           string // heading; default: the room id
	Message         string // organizer's note under the heading
	PrimaryColor    string // #rrggbb: buttons, progress bar
	BackgroundColor string // #rrggbb
	Language        string // language of the fans' pages, one of Languages; empty: the fan's browser decides
	// LogoURL is an image shown above the title: a path on the site, or an
	// https URL (the page's policy then allows images from its origin).
	// LogoAlt describes it to those who cannot see it; "": the title.
	LogoURL, LogoAlt string
	// embedOrigins are the sites (origins) whose pages may show the
	// waiting room in an iframe, space-separated (EmbedOrigins); none: no
	// page may frame it. A string keeps Room comparable.
	embedOrigins string
	// PageTemplate is the SHA-256 (hex) of the room's own page template
	// (look.go), "" for Crowdgate's page. The text is stored beside the
	// configuration and set apart from it: PutRoom keeps it.
	PageTemplate string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// WithDefaults returns r with unset fields filled in.
func (r Room) WithDefaults() Room {
	if r.SessionSeconds == 0 {
		r.SessionSeconds = DefaultSessionSeconds
	}
	if r.Mode == "" {
		r.Mode = ModeFIFO
	}
	return r.withGateDefaults()
}

// withGateDefaults fills in the gate's settings (gate.go); rooms stored
// before they existed read with them too.
func (r Room) withGateDefaults() Room {
	if r.Challenge == "" {
		r.Challenge = ChallengeAuto
	}
	if r.ChallengeBits == 0 {
		r.ChallengeBits = DefaultChallengeBits
	}
	if r.AddressJoinsPerMinute == 0 {
		r.AddressJoinsPerMinute = DefaultAddressJoinsPerMinute
	}
	if r.AddressLivePlaces == 0 {
		r.AddressLivePlaces = DefaultAddressLivePlaces
	}
	if r.Captcha != "" && r.CaptchaFallback == "" {
		r.CaptchaFallback = CaptchaFallbackPoW
	}
	if r.Triggered() && r.TriggerLowPercent == 0 {
		r.TriggerLowPercent = DefaultTriggerLowPercent
	}
	return r
}

// CAPTCHA settings of a room (Room.Captcha and the fields after it).
const (
	// CaptchaFallbackPoW: while the provider cannot be reached, a new
	// place needs a solved proof-of-work challenge instead.
	CaptchaFallbackPoW = "pow"
	// CaptchaFallbackRefuse: while the provider cannot be reached, no new
	// places (503 with Retry-After).
	CaptchaFallbackRefuse = "refuse"
)

// CaptchaProviders are the providers a room may name (package captcha
// speaks to them).
var CaptchaProviders = map[string]bool{"turnstile": true, "hcaptcha": true, "recaptcha": true}

// validCaptchaWord reports whether s is a site key or an action as the
// providers spell them: 1 to max letters, digits, '-' and '_'.
func validCaptchaWord(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Validate reports the first thing wrong with r, wrapping ErrInvalidRoom.
func (r Room) Validate() error {
	bad := func(format string, args ...any) error {
		return &crowdgate.Error{Kind: crowdgate.Invalid, Message: fmt.Sprintf(format, args...), Err: ErrInvalidRoom}
	}
	switch {
	case r.AdmitPerMinute < 0 || r.AdmitPerMinute > MaxAdmitPerMinute:
		return bad("admit_per_minute must be between 0 and %d", MaxAdmitPerMinute)
	case r.MaxActive < 0 || r.MaxActive > MaxActiveLimit:
		return bad("max_active must be between 0 and %d", MaxActiveLimit)
	case r.SessionSeconds < MinSessionSeconds || r.SessionSeconds > MaxSessionSeconds:
		return bad("session_seconds must be between %d and %d", MinSessionSeconds, MaxSessionSeconds)
	case r.ClosedReason != "" && (r.ClosedReason != ClosedSoldOut || !r.Closed):
		return bad("closed_reason %q: only %q, and only for a closed room", r.ClosedReason, ClosedSoldOut)
	case r.Mode != ModeFIFO && r.Mode != ModeRandomPrequeue:
		return bad("mode must be %q or %q", ModeFIFO, ModeRandomPrequeue)
	case !r.QueueOpensAt.IsZero() && !r.SaleStartsAt.IsZero() && r.SaleStartsAt.Before(r.QueueOpensAt):
		return bad("sale_starts_at must not be before queue_opens_at")
	case r.Mode == ModeRandomPrequeue && r.SaleStartsAt.IsZero():
		return bad("mode %q needs sale_starts_at", ModeRandomPrequeue)
	case r.AdaptiveMaxCheckouts < 0 || r.AdaptiveMaxCheckouts > MaxAdaptiveCheckouts:
		return bad("adaptive_max_checkouts must be between 0 and %d", MaxAdaptiveCheckouts)
	case r.AdaptiveP99Ms != 0 && (r.AdaptiveP99Ms < MinAdaptiveP99Ms || r.AdaptiveP99Ms > MaxAdaptiveP99Ms):
		return bad("adaptive_p99_ms must be 0 (no target) or between %d and %d", MinAdaptiveP99Ms, MaxAdaptiveP99Ms)
	case r.AdaptiveOriginP99Ms != 0 && (r.AdaptiveOriginP99Ms < MinAdaptiveP99Ms || r.AdaptiveOriginP99Ms > MaxAdaptiveP99Ms):
		return bad("adaptive_origin_p99_ms must be 0 (no target) or between %d and %d", MinAdaptiveP99Ms, MaxAdaptiveP99Ms)
	case r.AdaptiveOriginErrorPercent < 0 || r.AdaptiveOriginErrorPercent > MaxAdaptiveOriginErrorPercent:
		return bad("adaptive_origin_error_percent must be 0 (no target) or between 1 and %d", MaxAdaptiveOriginErrorPercent)
	case r.Adaptive && r.AdaptiveMaxCheckouts == 0 && r.AdaptiveP99Ms == 0 && !r.AdaptiveOrigin():
		return bad("adaptive admission needs a target: adaptive_max_checkouts, adaptive_p99_ms, adaptive_origin_p99_ms or adaptive_origin_error_percent")
	case r.Challenge != "" && r.Challenge != ChallengeOff && r.Challenge != ChallengeAuto && r.Challenge != ChallengeAlways:
		return bad("challenge must be %q, %q or %q", ChallengeOff, ChallengeAuto, ChallengeAlways)
	case r.ChallengeBits != 0 && (r.ChallengeBits < MinChallengeBits || r.ChallengeBits > MaxChallengeBits):
		return bad("challenge_bits must be between %d and %d", MinChallengeBits, MaxChallengeBits)
	case r.AddressJoinsPerMinute < 0 || r.AddressJoinsPerMinute > MaxAddressLimit:
		return bad("address_joins_per_minute must be between 1 and %d (0: the default, %d)", MaxAddressLimit, DefaultAddressJoinsPerMinute)
	case r.AddressLivePlaces < 0 || r.AddressLivePlaces > MaxAddressLimit:
		return bad("address_live_places must be between 1 and %d (0: the default, %d)", MaxAddressLimit, DefaultAddressLivePlaces)
	case r.EnqueueSecret != "" && (len(r.EnqueueSecret) < MinEnqueueSecretBytes || len(r.EnqueueSecret) > MaxEnqueueSecretBytes):
		return bad("enqueue_token.hs256_secret must be %d to %d bytes", MinEnqueueSecretBytes, MaxEnqueueSecretBytes)
	case r.EnqueueJWKSURL != "" && !ValidJWKSURL(r.EnqueueJWKSURL):
		return bad("enqueue_token.jwks_url must be an https URL (http only to a loopback host) of at most %d bytes", MaxEnqueueJWKSURL)
	case r.EnqueuePreviousSecret != "" && (r.EnqueueSecret == "" || r.EnqueuePreviousSecretUntil.IsZero()):
		return bad("a previous enqueue secret needs a current one and an end")
	case r.EnqueuePreviousSecret != "" && (len(r.EnqueuePreviousSecret) < MinEnqueueSecretBytes || len(r.EnqueuePreviousSecret) > MaxEnqueueSecretBytes):
		return bad("the previous enqueue secret must be %d to %d bytes", MinEnqueueSecretBytes, MaxEnqueueSecretBytes)
	case r.EnqueueSecret != "" && r.EnqueueJWKSURL != "":
		return bad("enqueue_token: set hs256_secret or jwks_url, not both")
	case r.EnqueueTokenRequired && r.EnqueueSecret == "" && r.EnqueueJWKSURL == "":
		return bad("enqueue_token.required needs hs256_secret or jwks_url")
	case r.Captcha != "" && !CaptchaProviders[r.Captcha]:
		return bad("captcha must be \"turnstile\", \"hcaptcha\" or \"recaptcha\" (or \"\" for none)")
	case r.Captcha != "" && r.CaptchaSiteKey == "":
		return bad("captcha needs captcha_site_key, the provider's public site key")
	case r.CaptchaSiteKey != "" && !validCaptchaWord(r.CaptchaSiteKey, 100):
		return bad("captcha_site_key must be 1 to 100 letters, digits, '-' or '_'")
	case r.CaptchaAction != "" && !validCaptchaWord(r.CaptchaAction, 32):
		return bad("captcha_action must be 1 to 32 letters, digits, '-' or '_'")
	case r.Captcha == "hcaptcha" && r.CaptchaAction != "":
		return bad("captcha_action: hCaptcha reports no action; leave it empty")
	case r.CaptchaFallback != "" && r.CaptchaFallback != CaptchaFallbackPoW && r.CaptchaFallback != CaptchaFallbackRefuse:
		return bad("captcha_fallback must be %q or %q", CaptchaFallbackPoW, CaptchaFallbackRefuse)
	case utf8.RuneCountInString(r.Title) > 120 || !utf8.ValidString(r.Title):
		return bad("title must be valid UTF-8 of at most 120 characters")
	case utf8.RuneCountInString(r.Message) > 1000 || !utf8.ValidString(r.Message):
		return bad("message must be valid UTF-8 of at most 1000 characters")
	case !validColor(r.PrimaryColor) || !validColor(r.BackgroundColor):
		return bad("colours must be #rrggbb")
	case r.Language != "" && !Languages[r.Language]:
		return bad("language must be one of %s (or \"\" for the fan's browser's)", strings.Join(LanguageCodes(), ", "))
	case r.Destination != "" && !ValidDestination(r.Destination):
		return bad("destination must be a path on the site (starting with one /, at most %d bytes, no control characters or backslashes)", MaxDestination)
	}
	if err := r.validateTrigger(bad); err != nil {
		return err
	}
	if err := r.validateLook(bad); err != nil {
		return err
	}
	return r.Bypass.validate(bad)
}

// ValidJWKSURL reports whether u may be a room's enqueue_token.jwks_url:
// https, or http to a loopback host (a site on the same box, tests), with a
// host and no userinfo or fragment. Whoever can change the key set in
// transit can mint enqueue tokens.
func ValidJWKSURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || len(u) > MaxEnqueueJWKSURL || p.Host == "" || p.User != nil || p.Fragment != "" {
		return false
	}
	switch p.Scheme {
	case "https":
		return true
	case "http":
		h := p.Hostname()
		ip, err := netip.ParseAddr(h)
		return h == "localhost" || err == nil && ip.IsLoopback()
	}
	return false
}

// Languages the fans' pages (waiting room, shop, pay and order pages) are
// translated into, by ISO 639-1 code. The gateway's string tables are the
// translations; a gateway test keeps this list and those tables the same,
// so adding a language is adding its tables and its code here.
var Languages = map[string]bool{
	"ar": true, "bn": true, "de": true, "en": true, "es": true, "fr": true, "gu": true,
	"hi": true, "kn": true, "ml": true, "mr": true, "pt": true, "ta": true, "te": true,
}

// LanguageCodes is Languages, sorted.
func LanguageCodes() []string {
	codes := make([]string, 0, len(Languages))
	for l := range Languages {
		codes = append(codes, l)
	}
	slices.Sort(codes)
	return codes
}

func validColor(c string) bool {
	if c == "" {
		return true
	}
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c[i])) {
			return false
		}
	}
	return true
}

// AdaptiveOrigin reports whether the room's adaptive admission follows
// the origin's health (as the reverse proxy measures it): a target for its
// p99 or its error share is set.
func (r Room) AdaptiveOrigin() bool {
	return r.AdaptiveOriginP99Ms > 0 || r.AdaptiveOriginErrorPercent > 0
}

// InPrequeue reports whether, at now, fans join the pre-queue: the queue is
// open but the sale has not started.
func (r Room) InPrequeue(now time.Time) bool {
	return !r.SaleStartsAt.IsZero() && now.Before(r.SaleStartsAt)
}

// Admitting reports whether, at now, the room lets anyone in: it is neither
// closed nor paused, and the sale has started (not in the pre-queue). A
// passthrough room is admitting (everyone gets in); a room whose
// AdmitPerMinute is 0 is admitting too, at a rate of nobody, so callers
// that care about the rate check it themselves.
//
// This is the Go half of the rule admit.lua applies on each tick. The
// script also holds a random_prequeue room until its draw is done, which
// the configuration does not record: a caller that knows the draw state
// (queue.Place.Undrawn, Tracker.Drawn) adds it.
func (r Room) Admitting(now time.Time) bool {
	return !r.Closed && !r.Paused && !r.InPrequeue(now)
}

// fields is the room as the flat hash the scripts read.
func (r Room) fields() map[string]string {
	return map[string]string{
		"rate":         strconv.Itoa(r.AdmitPerMinute),
		"max_active":   strconv.FormatInt(r.MaxActive, 10),
		"session":      strconv.Itoa(r.SessionSeconds),
		"opens_ms":     msString(r.QueueOpensAt),
		"sale_ms":      msString(r.SaleStartsAt),
		"mode":         r.Mode,
		"paused":       flag(r.Paused),
		"passthrough":  flag(r.Passthrough),
		"closed":       flag(r.Closed),
		"closed_why":   r.ClosedReason,
		"closed_at_ms": closedAtField(r),
		"fail_open":    flag(r.FailOpen),
		"adaptive":     flag(r.Adaptive),
		"ad_checkouts": strconv.FormatInt(r.AdaptiveMaxCheckouts, 10),
		"ad_p99_ms":    strconv.Itoa(r.AdaptiveP99Ms),
		"ad_o_p99_ms":  strconv.Itoa(r.AdaptiveOriginP99Ms),
		"ad_o_err_pct": strconv.Itoa(r.AdaptiveOriginErrorPercent),
		"challenge":    r.Challenge,
		"ch_bits":      strconv.Itoa(r.ChallengeBits),
		"ip_rate":      strconv.Itoa(r.AddressJoinsPerMinute),
		"ip_live":      strconv.Itoa(r.AddressLivePlaces),
		"captcha":      r.Captcha,
		"cap_key":      r.CaptchaSiteKey,
		"cap_action":   r.CaptchaAction,
		"cap_fallback": r.CaptchaFallback,
		"enq":          flag(r.EnqueueTokenRequired),
		"enq_secret":   r.EnqueueSecret,
		"enq_jwks":     r.EnqueueJWKSURL,
		"enq_prev":     r.EnqueuePreviousSecret,
		"enq_prev_ms":  previousSecretUntilField(r),
		"code_req":     flag(r.AccessCodeRequired),
		"title":        r.Title,
		"message":      r.Message,
		"color":        r.PrimaryColor,
		"bg":           r.BackgroundColor,
		"lang":         r.Language,
		"logo":         r.LogoURL,
		"logo_alt":     r.LogoAlt,
		"embed":        r.embedOrigins,
		"t_active":     strconv.FormatInt(r.TriggerActiveUsers, 10),
		"t_new":        strconv.Itoa(r.TriggerNewPerMinute),
		"t_low":        strconv.Itoa(r.TriggerLowPercent),
		"session_max":  strconv.Itoa(r.SessionMaxSeconds),
		"dest":         r.Destination,
		"bypass":       r.Bypass.field(),
	}
}

func roomFromHash(name string, h map[string]string) (Room, error) {
	var err error
	num := func(k string) int64 {
		v, perr := strconv.ParseInt(h[k], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("queue: room %s: field %s: %w", name, k, perr)
		}
		return v
	}
	// Fields added later are absent from rooms stored before them.
	opt := func(k string) int64 {
		if h[k] == "" {
			return 0
		}
		return num(k)
	}
	at := func(k string) time.Time {
		if ms := num(k); ms != 0 {
			return time.UnixMilli(ms).UTC()
		}
		return time.Time{}
	}
	bypass, berr := bypassFromField(h["bypass"])
	if berr != nil {
		err = fmt.Errorf("queue: room %s: field bypass: %w", name, berr)
	}
	closedAt := time.Time{}
	if h["closed_why"] != "" && opt("closed_at_ms") != 0 {
		closedAt = at("closed_at_ms")
	}
	r := Room{
		Name:                  name,
		AdmitPerMinute:        int(num("rate")),
		MaxActive:             num("max_active"),
		SessionSeconds:        int(num("session")),
		QueueOpensAt:          at("opens_ms"),
		SaleStartsAt:          at("sale_ms"),
		Mode:                  h["mode"],
		Paused:                h["paused"] == "1",
		Passthrough:           h["passthrough"] == "1",
		Closed:                h["closed"] == "1",
		ClosedReason:          h["closed_why"],
		ClosedAt:              closedAt,
		FailOpen:              h["fail_open"] == "1",
		Adaptive:              h["adaptive"] == "1",
		AdaptiveMaxCheckouts:  opt("ad_checkouts"),
		AdaptiveP99Ms:         int(opt("ad_p99_ms")),
		Challenge:             h["challenge"],
		ChallengeBits:         int(opt("ch_bits")),
		AddressJoinsPerMinute: int(opt("ip_rate")),
		AddressLivePlaces:     int(opt("ip_live")),
		Captcha:               h["captcha"],
		CaptchaSiteKey:        h["cap_key"],
		CaptchaAction:         h["cap_action"],
		CaptchaFallback:       h["cap_fallback"],
		EnqueueTokenRequired:  h["enq"] == "1",
		EnqueueSecret:         h["enq_secret"],
		EnqueueJWKSURL:        h["enq_jwks"],
		EnqueuePreviousSecret: h["enq_prev"],
		AccessCodeRequired:    h["code_req"] == "1",
		Title:                 h["title"],
		Message:               h["message"],
		PrimaryColor:          h["color"],
		BackgroundColor:       h["bg"],
		Language:              h["lang"],
		LogoURL:               h["logo"],
		LogoAlt:               h["logo_alt"],
		embedOrigins:          h["embed"],
		PageTemplate:          h["tpl"],
		TriggerActiveUsers:    opt("t_active"),
		TriggerNewPerMinute:   int(opt("t_new")),
		TriggerLowPercent:     int(opt("t_low")),
		SessionMaxSeconds:     int(opt("session_max")),
		Destination:           h["dest"],
		Bypass:                bypass,
		CreatedAt:             at("created_ms"),
		UpdatedAt:             at("updated_ms"),
	}
	if r.EnqueuePreviousSecret != "" && opt("enq_prev_ms") != 0 {
		r.EnqueuePreviousSecretUntil = at("enq_prev_ms")
	}
	r.AdaptiveOriginP99Ms, r.AdaptiveOriginErrorPercent = int(opt("ad_o_p99_ms")), int(opt("ad_o_err_pct"))
	return r.withGateDefaults(), err
}

// closedAtField is the stored closed_at_ms of r: kept only beside a reason, so
// an organizer's change of Closed, which clears the reason, clears it too.
func closedAtField(r Room) string {
	if r.ClosedReason == "" {
		return "0"
	}
	return msString(r.ClosedAt)
}

func msString(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// MaxDestination bounds Room.Destination.
const MaxDestination = 2048

// ValidDestination reports whether d may be a room's destination: a path
// on the site, never another site's URL.
func ValidDestination(d string) bool {
	if len(d) > MaxDestination || !strings.HasPrefix(d, "/") || strings.HasPrefix(d, "//") || strings.ContainsAny(d, "\\") || !utf8.ValidString(d) {
		return false
	}
	for _, r := range d {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
