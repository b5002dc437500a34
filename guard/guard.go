package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/internal/claims"
)

var (
	// ErrNoToken means the request carried no admission token.
	ErrNoToken = errors.New("guard: no admission token")
	// ErrInvalid means the token is not an admission token signed by a published key: it is
	// malformed, its signature or algorithm is wrong, its kid is unknown, its issuer is
	// wrong, or a claim is missing.
	ErrInvalid = errors.New("guard: invalid admission token")
	// ErrExpired means a genuine token used outside its validity window: exp has passed,
	// or nbf or iat is more than 5 s in the future.
	ErrExpired = errors.New("guard: admission token expired or not yet valid")
	// ErrWrongRoom means a genuine, current token that admits to another room.
	ErrWrongRoom = errors.New("guard: admission token is for another room")
	// ErrRevoked means a genuine, current token for the room whose admission Crowdgate
	// ended before its exp: released (the fan gave up the place, an origin released it),
	// or its room deleted (and perhaps made again). See Config.RevocationsURL.
	ErrRevoked = errors.New("guard: admission ended early")
)

const (
	// maxTokenBytes caps what the parser is handed (the claim checks, the clock skew among
	// them, are internal/claims', shared with Crowdgate's admission package).
	maxTokenBytes = claims.MaxTokenBytes
	// fetchTimeout bounds one fetch of the key set, whatever the HTTP client's own timeout.
	fetchTimeout = 10 * time.Second
)

// roomPattern is the contract's id syntax; the room also names the cookie.
var roomPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Config configures a Verifier. JWKSURL and Room are required; the other fields have
// defaults.
type Config struct {
	// JWKSURL is Crowdgate's key set, e.g. https://crowdgate.example/.well-known/jwks.json.
	// Use https unless the path to Crowdgate is private: whoever can change the key set
	// in transit can mint admissions.
	JWKSURL string
	// Issuer is the iss tokens must carry. Default "crowdgate".
	Issuer string
	// Room is the room whose admissions this Verifier accepts (the tokens' aud). Required.
	Room string
	// WaitingRoomURL is where the middleware sends visitors without a valid token; it adds
	// return_to with the path they asked for. An absolute http(s) URL, or a path when
	// Crowdgate shares the site's host (e.g. "/rooms/launch"). Default: the JWKSURL's
	// scheme and host, then /rooms/{Room}; set it when the origin reaches Crowdgate at an
	// address that visitors cannot.
	WaitingRoomURL string
	// HTTPClient fetches the key set. Default: a client with a 5 s timeout.
	HTTPClient *http.Client
	// RefreshEvery is how often Run fetches the key set, so that a key Crowdgate stops
	// publishing stops verifying here. Default 5 min.
	RefreshEvery time.Duration
	// MinRefreshInterval bounds the fetches that tokens with an unknown kid cause (anyone
	// can send such tokens): at most one per interval. It is also about how long a key
	// rotated in just after such a fetch can be refused. Default 10 s.
	MinRefreshInterval time.Duration
	// CacheSize bounds how many verified tokens are remembered. Default 16384.
	CacheSize int
	// RevocationsURL is the room's list of admissions Crowdgate ended early, e.g.
	// https://crowdgate.example/api/v1/rooms/launch/revocations. Default: the JWKSURL's
	// scheme and host, then /api/v1/rooms/{Room}/revocations.
	RevocationsURL string
	// RevocationsEvery is how often Run polls that list; an unchanged list costs a 304.
	// A released admission is refused here within about this plus three seconds.
	// Default 2 s.
	RevocationsEvery time.Duration
	// IgnoreRevocations turns the list off: admissions Crowdgate ends early pass here
	// until their exp, as they did before it existed.
	IgnoreRevocations bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives failed key-set fetches and ignored keys, never tokens. Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports whether c can be used; zero fields take their defaults.
func (c Config) Validate() error {
	u, err := url.Parse(c.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("guard: JWKSURL must be an absolute http or https URL")
	}
	if !roomPattern.MatchString(c.Room) {
		return fmt.Errorf("guard: Room %q must match %s", c.Room, roomPattern)
	}
	if c.WaitingRoomURL != "" {
		w, err := url.Parse(c.WaitingRoomURL)
		local := err == nil && w.Scheme == "" && w.Host == "" && localPath(w.Path)
		remote := err == nil && (w.Scheme == "http" || w.Scheme == "https") && w.Host != ""
		if !local && !remote {
			return errors.New("guard: WaitingRoomURL must be an absolute http or https URL or a path")
		}
		if w.Fragment != "" {
			return errors.New("guard: WaitingRoomURL must not have a fragment")
		}
	}
	if c.RefreshEvery < 0 || c.MinRefreshInterval < 0 || c.CacheSize < 0 || c.RevocationsEvery < 0 {
		return errors.New("guard: RefreshEvery, MinRefreshInterval, CacheSize and RevocationsEvery must not be negative")
	}
	if c.RevocationsURL != "" {
		if u, err := url.Parse(c.RevocationsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("guard: RevocationsURL must be an absolute http or https URL")
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Issuer == "" {
		c.Issuer = "crowdgate"
	}
	if c.WaitingRoomURL == "" {
		u, _ := url.Parse(c.JWKSURL) // Validate has parsed it
		c.WaitingRoomURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/rooms/" + c.Room}).String()
	}
	if c.RevocationsURL == "" {
		u, _ := url.Parse(c.JWKSURL) // Validate has parsed it
		c.RevocationsURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/api/v1/rooms/" + c.Room + "/revocations"}).String()
	}
	if c.RevocationsEvery == 0 {
		c.RevocationsEvery = 2 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.RefreshEvery == 0 {
		c.RefreshEvery = 5 * time.Minute
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = 10 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 1 << 14
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Claims is what a verified admission token says.
type Claims struct {
	Room      string    // aud: the room admitted to
	Subject   string    // sub: the visitor's queue id, stable across their requests
	ID        string    // jti: this admission's id
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expires   time.Time // exp: the admission ends then
	// UserID is uid: the user id the organizer's site signed into the enqueue token
	// the place was made with (one place per user id); "" for a room without them.
	UserID string
}

// Verifier verifies admission tokens for one room against Crowdgate's published keys.
// It is safe for concurrent use.
type Verifier struct {
	cfg         Config
	log         *slog.Logger
	parser      *jwt.Parser
	cookie      string // cg_a_{room}
	waitingRoom string // WaitingRoomURL, ready for "return_to=" to be appended
	keys        atomic.Pointer[keySet]
	cache       *cache
	verified    atomic.Int64 // signature verifications attempted, for tests

	fetchMu  sync.Mutex // one fetch at a time; concurrent unknown kids wait for it
	lastMiss time.Time  // when an unknown kid last caused a fetch; guarded by fetchMu

	revoked atomic.Pointer[revocations] // nil until the list is first fetched
	revMu   sync.Mutex                  // one poll at a time; guards revPoll
	revPoll revocationPoll
}

// New returns a Verifier for cfg.Room after fetching the key set once, so that a wrong
// URL, an unreachable Crowdgate or a key set without a usable key is an error here rather
// than a refusal of every visitor. An origin that must start while Crowdgate is down
// retries New. It fetches the revocation list once too, but a failure there is only
// logged: the list refines the check, it is not needed to start. Call Run to keep both
// fresh.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Verifier{
		cfg:    cfg,
		log:    cfg.Logger,
		cookie: "cg_a_" + cfg.Room,
		cache:  newCache(cfg.CacheSize),
		parser: claims.NewParser(cfg.Issuer, cfg.Now),
	}
	v.waitingRoom = cfg.WaitingRoomURL + "?"
	if strings.Contains(cfg.WaitingRoomURL, "?") {
		v.waitingRoom = cfg.WaitingRoomURL + "&"
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if err := v.fetchLocked(ctx); err != nil {
		return nil, err
	}
	if !cfg.IgnoreRevocations {
		v.pollRevocations(ctx)
	}
	return v, nil
}

// Run fetches the key set every Config.RefreshEvery, and polls the revocation list every
// Config.RevocationsEvery, until ctx is done, then returns nil. A failed fetch is logged
// and the last good key set or list stays in force. Without Run a Verifier still learns
// keys that tokens name, but never forgets a key Crowdgate has withdrawn, and honours
// only the revocations New found.
func (v *Verifier) Run(ctx context.Context) error {
	keys := time.NewTicker(v.cfg.RefreshEvery)
	defer keys.Stop()
	var revs <-chan time.Time
	if !v.cfg.IgnoreRevocations {
		t := time.NewTicker(v.cfg.RevocationsEvery)
		defer t.Stop()
		revs = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keys.C:
			if err := v.refresh(ctx); err != nil && ctx.Err() == nil {
				v.log.Warn("guard: key set refresh failed; keeping the last good set", "room", v.cfg.Room, "err", err)
			}
		case <-revs:
			v.pollRevocations(ctx)
		}
	}
}

// refresh fetches the key set now.
func (v *Verifier) refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.fetchLocked(ctx)
}

// fetchLocked fetches and installs the key set. The caller holds fetchMu.
func (v *Verifier) fetchLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, ignored, err := fetchKeySet(ctx, v.cfg.HTTPClient, v.cfg.JWKSURL)
	if err != nil {
		return err
	}
	for _, why := range ignored {
		v.log.Debug("guard: key ignored", "room", v.cfg.Room, "reason", why)
	}
	if old := v.keys.Load(); old != nil {
		set.Reuse(old)
	}
	v.keys.Store(set)
	return nil
}

// Verify checks that token is a current admission token for the configured room, signed
// by a published key, and not ended early by Crowdgate, and returns its claims. Errors
// wrap exactly one of ErrNoToken, ErrInvalid, ErrExpired, ErrWrongRoom and ErrRevoked, in
// that order of precedence. A token verified before is answered from memory until it
// expires or its key is withdrawn; the revocation list is consulted on every call.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	if len(token) > maxTokenBytes {
		return Claims{}, fmt.Errorf("%w: token too long", ErrInvalid)
	}
	if e, ok := v.cache.get(token); ok && v.cfg.Now().Before(e.claims.Expires) &&
		v.keys.Load().ByKID[e.key.KID] == e.key {
		return v.admits(e.claims)
	}
	c, k, err := v.verify(token)
	if err != nil {
		return Claims{}, err
	}
	if c.Room != v.cfg.Room {
		return Claims{}, ErrWrongRoom
	}
	v.cache.put(strings.Clone(token), entry{claims: c, key: k}, v.cfg.Now())
	return v.admits(c)
}

// admits returns c, or ErrRevoked when the revocation list ends it: a map lookup.
func (v *Verifier) admits(c Claims) (Claims, error) {
	if v.revoked.Load().revokes(c) {
		return Claims{}, ErrRevoked
	}
	return c, nil
}

// verify checks everything but the room and returns the key that signed the token.
func (v *Verifier) verify(token string) (Claims, *key, error) {
	v.verified.Add(1)
	var (
		c    claims.Payload
		used *key
	)
	_, err := v.parser.ParseWithClaims(token, &c, claims.KeyFunc(func(kid string) (string, any, bool) {
		k := v.lookup(kid)
		if k == nil {
			return "", nil, false
		}
		used = k
		return k.Alg, k.Pub, true
	}))
	if err != nil {
		return Claims{}, nil, classify(err)
	}
	return Claims{
		Room:      c.Audience,
		Subject:   c.Subject,
		ID:        c.ID,
		IssuedAt:  time.Unix(c.IssuedAt, 0).UTC(),
		NotBefore: time.Unix(c.NotBefore, 0).UTC(),
		Expires:   time.Unix(c.Expires, 0).UTC(),
		UserID:    c.UserID,
	}, used, nil
}

// lookup finds the published key for kid, fetching the key set first when kid is unknown
// (Crowdgate may have rotated) and no unknown kid caused a fetch within MinRefreshInterval.
// Concurrent callers wait for that one fetch instead of starting their own.
func (v *Verifier) lookup(kid string) *key {
	if k := v.keys.Load().ByKID[kid]; k != nil {
		return k
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	// The fetch we waited for may have brought it.
	if k := v.keys.Load().ByKID[kid]; k != nil {
		return k
	}
	now := v.cfg.Now()
	if since := now.Sub(v.lastMiss); !v.lastMiss.IsZero() && since >= 0 && since < v.cfg.MinRefreshInterval {
		return nil
	}
	v.lastMiss = now
	// Not the request's context: the fetch serves every waiter, and one visitor hanging
	// up must not cancel it for the others.
	if err := v.fetchLocked(context.Background()); err != nil {
		v.log.Warn("guard: key set fetch for an unknown kid failed; keeping the last good set", "room", v.cfg.Room, "err", err)
	}
	return v.keys.Load().ByKID[kid]
}

// classify turns the parser's error into one of our sentinels. A token that fails for a
// timing reason and for another one as well is invalid, not expired.
func classify(err error) error {
	if claims.OnlyTiming(err) {
		return fmt.Errorf("%w: %v", ErrExpired, err)
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}
