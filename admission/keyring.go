package admission

// The keyring document.
//
// Every instance signs admission tokens that every other instance must accept, and issues
// queue tokens that every other instance must recognise, so the keys live in one small JSON
// document in the shared store rather than in process memory:
//
//	{"version":1, "queue_secret":"<base64>", "current":"<kid>",
//	 "keys":[{"kid":"...", "alg":"EdDSA", "created":"...", "retire_after":"...",
//	          "private_key":"-----BEGIN PRIVATE KEY-----...", "jwk":{"kty":"OKP","crv":"Ed25519","x":"..."}}]}
//
// The private keys of generated signing keys are stored in it in the clear: anyone who can read
// the store can mint admissions, so protect the store like the key itself, or configure a key
// file. A key from a file is recorded with its public half only, so that instances without the
// file still publish and accept it. "current" names the generated key that instances without a
// key file sign with. A key with retire_after stays published (and accepted) until then, which
// is what lets tokens signed before a rotation outlive it. A kid is the RFC 7638 thumbprint of
// the public key, so it cannot be attached to a different key.
//
// Every change is a compare-and-swap of the whole document (KeyStore.SwapKeyring), retried on
// conflict, so instances that start, rotate or refresh at the same moment converge on one
// document instead of overwriting each other. Between store reads an instance works from an
// immutable snapshot behind an atomic pointer, so signing and verifying never take a lock.

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/internal/claims"
	"github.com/crowdgate/crowdgate/queue"
)

// KeyStore persists the shared keyring document so every instance signs alike.
// Implementations store the document as opaque bytes and must be safe for concurrent use.
type KeyStore interface {
	// GetKeyring returns the stored document, or (nil, nil) when none is stored.
	GetKeyring(ctx context.Context) ([]byte, error)
	// PutKeyringIfAbsent stores doc unless a document exists, and returns the document
	// stored now (doc, or the one that won). It is atomic: of several concurrent callers
	// on an empty store exactly one document is kept, and all of them get it back.
	PutKeyringIfAbsent(ctx context.Context, doc []byte) ([]byte, error)
	// SwapKeyring replaces old with doc atomically (compare-and-swap on the bytes); it
	// returns ErrKeyringConflict when the stored document is not old.
	SwapKeyring(ctx context.Context, old, doc []byte) error
}

var (
	// ErrKeyringConflict is returned by KeyStore.SwapKeyring when another instance changed
	// the document first; Keyring retries on it and wraps it only after giving up. It is
	// queue.ErrConflict, so queue.Store is a KeyStore as it is.
	ErrKeyringConflict = queue.ErrConflict
	// ErrRotateFileKey is returned by Keyring.Rotate when the signing key comes from a file:
	// the file is the operator's, so rotating means replacing it and restarting.
	// It is a Conflict whose Message tells the organizer what to do instead.
	ErrRotateFileKey error = &crowdgate.Error{Kind: crowdgate.Conflict, Message: "the signing key comes from a file: rotate by replacing the file", Err: errors.New("admission: cannot rotate")}
)

const (
	documentVersion = 1
	queueSecretSize = 32
	// maxSwapAttempts bounds the compare-and-swap loop; losing this many races in a row
	// means something rewrites the document continuously.
	maxSwapAttempts = 8
	// missRefreshInterval bounds the store reads that tokens with an unknown kid can cause,
	// since anyone can send such tokens.
	missRefreshInterval = time.Second
	missRefreshTimeout  = 2 * time.Second
)

// KeyringConfig configures a Keyring. The zero value is usable.
type KeyringConfig struct {
	// Issuer is the JWT iss of the tokens signed and required of the tokens verified.
	// Default "crowdgate".
	Issuer string
	// KeyPEM is an optional PEM private key: PKCS#8 Ed25519 or P-256, or SEC 1
	// ("EC PRIVATE KEY") P-256. When set it is this instance's signing key.
	KeyPEM []byte
	// MaxTokenLifetime is how long a key stays published after it stops being current;
	// it must be at least the longest admission session. Default 24h.
	MaxTokenLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate reports whether the configuration can be used; zero fields take their defaults.
func (c KeyringConfig) Validate() error {
	if c.MaxTokenLifetime < 0 {
		return errors.New("admission: MaxTokenLifetime must not be negative")
	}
	if len(c.KeyPEM) > 0 {
		if _, err := parsePrivateKey(c.KeyPEM); err != nil {
			return err
		}
	}
	return nil
}

func (c KeyringConfig) withDefaults() KeyringConfig {
	if c.Issuer == "" {
		c.Issuer = "crowdgate"
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Keyring holds the keys that sign and verify admission tokens and the secret behind queue
// tokens, shared with every other instance through a KeyStore. It is safe for concurrent use;
// Sign, Verify, JWKS and the queue token methods do not touch the store, except that Verify
// re-reads it (at most once a second) when it meets a kid it does not know.
type Keyring struct {
	store  KeyStore
	cfg    KeyringConfig
	now    func() time.Time
	file   *key // the signing key from KeyPEM, nil without one
	parser *jwt.Parser
	snap   atomic.Pointer[snapshot]

	mu       sync.Mutex // serialises store updates so an older read never replaces a newer snapshot
	lastMiss time.Time  // guarded by mu
}

// NewKeyring loads the shared document from store, creating it (with a generated Ed25519 key
// unless cfg.KeyPEM is set) when this is the first instance, and records the file key, if any,
// so the other instances publish it too. A file key newer than the file keys already recorded
// retires them: they stay published for cfg.MaxTokenLifetime.
func NewKeyring(ctx context.Context, store KeyStore, cfg KeyringConfig) (*Keyring, error) {
	if store == nil {
		return nil, errors.New("admission: nil KeyStore")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	k := &Keyring{store: store, cfg: cfg, now: cfg.Now}
	if len(cfg.KeyPEM) > 0 {
		priv, err := parsePrivateKey(cfg.KeyPEM)
		if err != nil {
			return nil, err
		}
		if k.file, err = newKey(priv.Public(), priv); err != nil {
			return nil, err
		}
	}
	k.parser = claims.NewParser(cfg.Issuer, k.now)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.update(ctx, func(d *document, now time.Time) (bool, error) {
		return k.ensure(d, now, true)
	}); err != nil {
		return nil, err
	}
	return k, nil
}

// Refresh re-reads the shared document so that rotations and key files of other instances
// take effect here. Instances call it every few seconds. If the store has lost the document,
// Refresh stores the last one this instance knew, so tokens and queue tokens stay valid.
func (k *Keyring) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refreshLocked(ctx)
}

func (k *Keyring) refreshLocked(ctx context.Context) error {
	return k.update(ctx, func(d *document, now time.Time) (bool, error) {
		return k.ensure(d, now, false)
	})
}

// Rotate makes a new generated Ed25519 key current for every instance and returns its kid.
// The previous key stays published until MaxTokenLifetime from now, so the admissions it
// signed stay valid; keys retired before that are dropped. Other instances sign with the new
// key after their next Refresh. With a key file configured it returns ErrRotateFileKey.
func (k *Keyring) Rotate(ctx context.Context) (newKID string, err error) {
	if k.file != nil {
		return "", ErrRotateFileKey
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.update(ctx, func(d *document, now time.Time) (bool, error) {
		if _, err := k.ensure(d, now, false); err != nil {
			return false, err
		}
		if i := d.find(d.Current); i >= 0 {
			d.Keys[i].RetireAfter = stamp(now.Add(k.cfg.MaxTokenLifetime))
		}
		e, err := generateEntry(now)
		if err != nil {
			return false, err
		}
		d.Keys = append(d.Keys, e)
		d.Current = e.KID
		newKID = e.KID
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return newKID, nil
}

// JWKS returns the RFC 7517 key set {"keys":[...]} of the current and the still-published
// previous public keys, current first. It is precomputed; callers must not modify it.
func (k *Keyring) JWKS() []byte { return k.current().jwks }

// CurrentKID returns the kid of the key this instance signs with.
func (k *Keyring) CurrentKID() string { return k.current().signer.kid }

// QueueSecret returns a copy of the 32-byte secret shared by all instances that
// authenticates queue tokens.
func (k *Keyring) QueueSecret() []byte { return bytes.Clone(k.current().queueSecret) }

// current returns the snapshot in force, first dropping keys whose retire_after has passed
// so that a retired key stops verifying on time even between store reads.
func (k *Keyring) current() *snapshot {
	s := k.snap.Load()
	if s.expires.IsZero() {
		return s
	}
	now := k.now()
	if now.Before(s.expires) {
		return s
	}
	next := newSnapshot(s.raw, s.all, s.signer, s.queueSecret, now)
	k.snap.CompareAndSwap(s, next)
	return next
}

// lookup finds the published key for kid, re-reading the store once (rate-bounded) when
// kid is unknown: it may be a key another instance has just rotated in.
func (k *Keyring) lookup(kid string) *key {
	if key := k.current().keys[kid]; key != nil {
		return key
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// A concurrent miss may have loaded it while we waited for the lock.
	if key := k.current().keys[kid]; key != nil {
		return key
	}
	now := k.now()
	if since := now.Sub(k.lastMiss); since >= 0 && since < missRefreshInterval {
		return nil
	}
	k.lastMiss = now
	ctx, cancel := context.WithTimeout(context.Background(), missRefreshTimeout)
	defer cancel()
	// A failed read only means the token is rejected; the periodic Refresh reports errors.
	_ = k.refreshLocked(ctx)
	return k.current().keys[kid]
}

// update applies mutate to the stored document with compare-and-swap, retrying on conflict,
// and installs the result. The caller holds k.mu.
func (k *Keyring) update(ctx context.Context, mutate func(*document, time.Time) (bool, error)) error {
	for range maxSwapAttempts {
		raw, err := k.store.GetKeyring(ctx)
		if err != nil {
			return fmt.Errorf("admission: read keyring: %w", err)
		}
		now := k.now()
		if raw == nil {
			if raw, err = k.seed(ctx, now); err != nil {
				return err
			}
		}
		doc, err := decodeDocument(raw)
		if err != nil {
			return err
		}
		changed, err := mutate(&doc, now)
		if err != nil {
			return err
		}
		if changed {
			next, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("admission: encode keyring: %w", err)
			}
			err = k.store.SwapKeyring(ctx, raw, next)
			if errors.Is(err, ErrKeyringConflict) {
				continue
			}
			if err != nil {
				return fmt.Errorf("admission: store keyring: %w", err)
			}
			raw = next
		}
		return k.install(raw, now)
	}
	return fmt.Errorf("admission: keyring update lost %d races: %w", maxSwapAttempts, ErrKeyringConflict)
}

// seed offers a document to an empty store and returns the one that won: the document this
// instance last knew (the store lost it) or a new one. Offering a complete document, key
// included, is what makes concurrent first starts agree on a single key.
func (k *Keyring) seed(ctx context.Context, now time.Time) ([]byte, error) {
	var doc document
	if s := k.snap.Load(); s != nil {
		d, err := decodeDocument(s.raw)
		if err != nil {
			return nil, err
		}
		doc = d
	} else {
		doc = document{Version: documentVersion, QueueSecret: make([]byte, queueSecretSize)}
		rand.Read(doc.QueueSecret)
	}
	if _, err := k.ensure(&doc, now, false); err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("admission: encode keyring: %w", err)
	}
	won, err := k.store.PutKeyringIfAbsent(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("admission: store keyring: %w", err)
	}
	if won == nil {
		return nil, errors.New("admission: store returned no keyring after PutKeyringIfAbsent")
	}
	return won, nil
}

// ensure makes doc serve this instance: a generated current key (without a key file) or the
// file key's public entry (with one), minus keys whose retire_after has passed. At startup
// it also retires older file keys, since a new file means the operator replaced the old one.
func (k *Keyring) ensure(d *document, now time.Time, startup bool) (changed bool, err error) {
	d.Keys = slices.DeleteFunc(d.Keys, func(e entry) bool {
		drop := !e.RetireAfter.IsZero() && !now.Before(e.RetireAfter) &&
			e.KID != d.Current && (k.file == nil || e.KID != k.file.kid)
		changed = changed || drop
		return drop
	})
	if k.file == nil {
		if i := d.find(d.Current); i < 0 || d.Keys[i].PrivateKey == "" {
			e, err := generateEntry(now)
			if err != nil {
				return false, err
			}
			d.Keys = append(d.Keys, e)
			d.Current = e.KID
			changed = true
		}
		return changed, nil
	}
	own := d.find(k.file.kid)
	if own < 0 {
		d.Keys = append(d.Keys, entry{KID: k.file.kid, Alg: k.file.alg, Created: stamp(now), JWK: k.file.jwk})
		own = len(d.Keys) - 1
		changed = true
	}
	if startup {
		created := d.Keys[own].Created
		for i := range d.Keys {
			e := &d.Keys[i]
			if e.PrivateKey == "" && i != own && e.RetireAfter.IsZero() && e.Created.Before(created) {
				e.RetireAfter = stamp(now.Add(k.cfg.MaxTokenLifetime))
				changed = true
			}
		}
	}
	return changed, nil
}

// install parses raw into a snapshot and makes it current. The caller holds k.mu.
func (k *Keyring) install(raw []byte, now time.Time) error {
	if s := k.snap.Load(); s != nil && bytes.Equal(s.raw, raw) {
		return nil
	}
	doc, err := decodeDocument(raw)
	if err != nil {
		return err
	}
	if len(doc.QueueSecret) != queueSecretSize {
		return fmt.Errorf("admission: keyring queue secret has %d bytes, want %d", len(doc.QueueSecret), queueSecretSize)
	}
	var all []*key
	var signer *key
	for _, e := range doc.Keys {
		key, err := e.parse()
		if err != nil {
			return err
		}
		if k.file != nil && key.kid == k.file.kid {
			key.priv = k.file.priv
		}
		all = append(all, key)
		if k.file == nil && key.kid == doc.Current {
			signer = key
		}
	}
	if k.file != nil {
		if i := slices.IndexFunc(all, func(key *key) bool { return key.kid == k.file.kid }); i >= 0 {
			signer = all[i]
		} else {
			signer = k.file
			all = append(all, signer)
		}
	}
	if signer == nil || signer.priv == nil {
		return errors.New("admission: keyring has no current signing key")
	}
	k.snap.Store(newSnapshot(bytes.Clone(raw), all, signer, doc.QueueSecret, now))
	return nil
}

// snapshot is an immutable view of the keyring at one moment.
type snapshot struct {
	raw         []byte // the stored document it was built from, for compare-and-swap
	all         []*key // every key in the document, published or not yet pruned
	signer      *key
	queueSecret []byte
	keys        map[string]*key // published keys by kid
	jwks        []byte
	expires     time.Time // when the next published key retires; zero if none does
}

func newSnapshot(raw []byte, all []*key, signer *key, queueSecret []byte, now time.Time) *snapshot {
	s := &snapshot{raw: raw, all: all, signer: signer, queueSecret: queueSecret, keys: map[string]*key{}}
	published := []*key{signer}
	s.keys[signer.kid] = signer
	for _, key := range all {
		if key == signer || (!key.retireAfter.IsZero() && !now.Before(key.retireAfter)) {
			continue
		}
		published = append(published, key)
		s.keys[key.kid] = key
	}
	slices.SortFunc(published[1:], func(a, b *key) int {
		return cmp.Or(b.created.Compare(a.created), cmp.Compare(a.kid, b.kid))
	})
	type jwksKey struct {
		jwk
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	set := struct {
		Keys []jwksKey `json:"keys"`
	}{Keys: []jwksKey{}}
	for _, key := range published {
		set.Keys = append(set.Keys, jwksKey{jwk: key.jwk, Kid: key.kid, Alg: key.alg, Use: "sig"})
		if key != signer && !key.retireAfter.IsZero() && (s.expires.IsZero() || key.retireAfter.Before(s.expires)) {
			s.expires = key.retireAfter
		}
	}
	s.jwks, _ = json.Marshal(set) // cannot fail: strings only
	return s
}

// document is the stored JSON; see the comment at the top of this file.
type document struct {
	Version     int     `json:"version"`
	QueueSecret []byte  `json:"queue_secret"`
	Current     string  `json:"current,omitempty"`
	Keys        []entry `json:"keys"`
}

type entry struct {
	KID         string    `json:"kid"`
	Alg         string    `json:"alg"`
	Created     time.Time `json:"created"`
	RetireAfter time.Time `json:"retire_after,omitzero"`
	PrivateKey  string    `json:"private_key,omitempty"` // PKCS#8 PEM; empty for a key file's entry
	JWK         jwk       `json:"jwk"`
}

func decodeDocument(raw []byte) (document, error) {
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		return document{}, fmt.Errorf("admission: decode keyring: %w", err)
	}
	// Refuse a newer format rather than rewrite it in ours and lose what we do not know.
	if d.Version != documentVersion {
		return document{}, fmt.Errorf("admission: keyring version %d, want %d", d.Version, documentVersion)
	}
	return d, nil
}

func (d *document) find(kid string) int {
	if kid == "" {
		return -1
	}
	return slices.IndexFunc(d.Keys, func(e entry) bool { return e.KID == kid })
}

// parse checks an entry against itself (kid is the key's thumbprint, the private half matches
// the public one), so a damaged document fails loudly instead of signing unverifiable tokens.
func (e entry) parse() (*key, error) {
	pub, err := e.JWK.publicKey()
	if err != nil {
		return nil, fmt.Errorf("admission: keyring key %q: %w", e.KID, err)
	}
	var priv crypto.Signer
	if e.PrivateKey != "" {
		if priv, err = parsePrivateKey([]byte(e.PrivateKey)); err != nil {
			return nil, fmt.Errorf("admission: keyring key %q: %w", e.KID, err)
		}
	}
	key, err := newKey(pub, priv)
	if err != nil {
		return nil, fmt.Errorf("admission: keyring key %q: %w", e.KID, err)
	}
	if key.kid != e.KID || key.alg != e.Alg {
		return nil, fmt.Errorf("admission: keyring key %q: kid or alg does not match the key", e.KID)
	}
	key.created, key.retireAfter = e.Created, e.RetireAfter
	return key, nil
}

func generateEntry(now time.Time) (entry, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return entry{}, fmt.Errorf("admission: generate key: %w", err)
	}
	key, err := newKey(priv.Public(), priv)
	if err != nil {
		return entry{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return entry{}, fmt.Errorf("admission: encode key: %w", err)
	}
	return entry{
		KID:        key.kid,
		Alg:        key.alg,
		Created:    stamp(now),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		JWK:        key.jwk,
	}, nil
}

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// key is one signing key; priv is nil when only its public half is known here.
type key struct {
	kid         string
	alg         string
	method      jwt.SigningMethod
	pub         crypto.PublicKey
	priv        crypto.Signer
	jwk         jwk
	created     time.Time
	retireAfter time.Time
}

func newKey(pub crypto.PublicKey, priv crypto.Signer) (*key, error) {
	j, alg, err := publicJWK(pub)
	if err != nil {
		return nil, err
	}
	if priv != nil {
		if p, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !p.Equal(pub) {
			return nil, errors.New("private key does not match public key")
		}
	}
	return &key{kid: j.thumbprint(), alg: alg, method: jwt.GetSigningMethod(alg), pub: pub, priv: priv, jwk: j}, nil
}

// parsePrivateKey accepts what operators are likely to have: PKCS#8 from `openssl genpkey`
// and SEC 1 from `openssl ecparam -genkey`, which puts an EC PARAMETERS block first.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("admission: no PRIVATE KEY or EC PRIVATE KEY block in PEM")
		}
		var k any
		var err error
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("admission: unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("admission: parse private key: %w", err)
		}
		switch k := k.(type) {
		case ed25519.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			if k.Curve == elliptic.P256() {
				return k, nil
			}
		}
		return nil, errors.New("admission: signing key must be Ed25519 or ECDSA P-256")
	}
}

// jwk is the public part of an RFC 7517 JSON Web Key.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
}

func publicJWK(pub crypto.PublicKey) (jwk, string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) == ed25519.PublicKeySize {
			return jwk{Kty: "OKP", Crv: "Ed25519", X: b64(p)}, jwt.SigningMethodEdDSA.Alg(), nil
		}
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P256() {
			b, err := p.Bytes() // 0x04 || X || Y
			if err != nil {
				return jwk{}, "", err
			}
			return jwk{Kty: "EC", Crv: "P-256", X: b64(b[1:33]), Y: b64(b[33:])}, jwt.SigningMethodES256.Alg(), nil
		}
	}
	return jwk{}, "", errors.New("unsupported public key")
}

func (j jwk) publicKey() (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding.Strict().DecodeString
	x, err := dec(j.X)
	if err != nil {
		return nil, fmt.Errorf("jwk x: %w", err)
	}
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && j.Y == "" && len(x) == ed25519.PublicKeySize:
		return ed25519.PublicKey(x), nil
	case j.Kty == "EC" && j.Crv == "P-256" && len(x) == 32:
		y, err := dec(j.Y)
		if err != nil || len(y) != 32 {
			return nil, errors.New("jwk y: not a P-256 coordinate")
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
	}
	return nil, errors.New("unsupported jwk")
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 over the required members in
// lexicographic order, which is the field order of the struct below.
func (j jwk) thumbprint() string {
	b, _ := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y,omitempty"`
	}{j.Crv, j.Kty, j.X, j.Y})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
