package admission

import (
	"github.com/crowdgate/crowdgate/admission/admissiontest"

	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"slices"
	"sync"
	"testing"
	"time"
)

// MemKeyStore is the shared in-memory KeyStore.
type MemKeyStore = admissiontest.KeyStore

var _ KeyStore = (*MemKeyStore)(nil)

// storedDocument decodes what store holds.
func storedDocument(tb testing.TB, store *MemKeyStore) document {
	tb.Helper()
	d, err := decodeDocument(store.Doc())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

type fakeClock = queuetest.Clock

func newClock() *fakeClock { return queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) }

func mustKeyring(tb testing.TB, store KeyStore, cfg KeyringConfig) *Keyring {
	tb.Helper()
	k, err := NewKeyring(context.Background(), store, cfg)
	if err != nil {
		tb.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func mustRotate(tb testing.TB, k *Keyring) string {
	tb.Helper()
	kid, err := k.Rotate(context.Background())
	if err != nil {
		tb.Fatalf("Rotate: %v", err)
	}
	return kid
}

func mustRefresh(tb testing.TB, k *Keyring) {
	tb.Helper()
	if err := k.Refresh(context.Background()); err != nil {
		tb.Fatalf("Refresh: %v", err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKCS8(tb testing.TB, priv crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func mustEd25519PEM(tb testing.TB) ([]byte, ed25519.PrivateKey) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return mustPKCS8(tb, priv), priv
}

func mustP256(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// mustP256SEC1PEM writes what `openssl ecparam -genkey -name prime256v1` writes.
func mustP256SEC1PEM(tb testing.TB) ([]byte, *ecdsa.PrivateKey) {
	tb.Helper()
	priv := mustP256(tb)
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	params := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // OID prime256v1
	return append(pemBlock("EC PARAMETERS", params), pemBlock("EC PRIVATE KEY", der)...), priv
}

func jwksKIDs(tb testing.TB, k *Keyring) []string {
	tb.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		tb.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, key := range set.Keys {
		kids = append(kids, key.Kid)
	}
	return kids
}

func TestNewKeyringSharesOneDocument(t *testing.T) {
	store := &MemKeyStore{}
	a := mustKeyring(t, store, KeyringConfig{})
	b := mustKeyring(t, store, KeyringConfig{})
	if a.CurrentKID() != b.CurrentKID() {
		t.Errorf("CurrentKID: %s vs %s", a.CurrentKID(), b.CurrentKID())
	}
	if !bytes.Equal(a.QueueSecret(), b.QueueSecret()) || len(a.QueueSecret()) != 32 {
		t.Errorf("QueueSecret differs or has the wrong size")
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Errorf("JWKS differs:\n%s\n%s", a.JWKS(), b.JWKS())
	}
	other := mustKeyring(t, &MemKeyStore{}, KeyringConfig{})
	if other.CurrentKID() == a.CurrentKID() || bytes.Equal(other.QueueSecret(), a.QueueSecret()) {
		t.Errorf("independent stores share keys")
	}
}

func TestNewKeyringConcurrentStartsAgree(t *testing.T) {
	store := &MemKeyStore{}
	const n = 16
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := NewKeyring(context.Background(), store, KeyringConfig{})
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.CurrentKID()
		})
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("instances disagree on the key: %v", kids)
		}
	}
	if d := storedDocument(t, store); len(d.Keys) != 1 || d.Current != kids[0] {
		t.Errorf("document has %d keys, current %s; want 1, %s", len(d.Keys), d.Current, kids[0])
	}
}

func TestRotate(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	k := mustKeyring(t, store, KeyringConfig{MaxTokenLifetime: time.Hour, Now: clock.Now})
	oldKID := k.CurrentKID()
	// Longer than MaxTokenLifetime so that only the key's retirement can end it.
	long := testPass(clock.Now(), "launch")
	long.Expires = clock.Now().Add(3 * time.Hour)
	oldToken := mustSign(t, k, long)

	newKID := mustRotate(t, k)
	if newKID == oldKID || k.CurrentKID() != newKID {
		t.Fatalf("Rotate returned %s, CurrentKID %s, old %s", newKID, k.CurrentKID(), oldKID)
	}
	newToken := mustSign(t, k, long)
	if kidOf(t, newToken) != newKID {
		t.Errorf("new token signed with %s, want %s", kidOf(t, newToken), newKID)
	}
	for _, tok := range []string{oldToken, newToken} {
		if _, err := k.Verify(tok, "launch"); err != nil {
			t.Errorf("Verify after rotation: %v", err)
		}
	}
	if got, want := jwksKIDs(t, k), []string{newKID, oldKID}; !slices.Equal(got, want) {
		t.Errorf("JWKS kids = %v, want %v", got, want)
	}

	clock.Add(time.Hour - time.Second)
	if _, err := k.Verify(oldToken, "launch"); err != nil {
		t.Errorf("old token just before retirement: %v", err)
	}
	clock.Add(time.Second)
	if _, err := k.Verify(oldToken, "launch"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("old token after retirement: %v, want ErrTokenInvalid", err)
	}
	if got := jwksKIDs(t, k); !slices.Equal(got, []string{newKID}) {
		t.Errorf("JWKS kids after retirement = %v, want only %s", got, newKID)
	}
	if _, err := k.Verify(newToken, "launch"); err != nil {
		t.Errorf("new token after retirement: %v", err)
	}

	mustRefresh(t, k)
	if d := storedDocument(t, store); len(d.Keys) != 1 || d.Keys[0].KID != newKID {
		t.Errorf("stored document still has retired keys: %+v", d.Keys)
	}
}

func TestRotationReachesOtherInstances(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	a := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	b := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	oldKID := b.CurrentKID()
	newKID := mustRotate(t, a)

	// b has not refreshed: the unknown kid makes it read the store.
	tok := mustSign(t, a, testPass(clock.Now(), "launch"))
	if _, err := b.Verify(tok, "launch"); err != nil {
		t.Fatalf("b.Verify of a token signed with the rotated key: %v", err)
	}
	mustRefresh(t, b)
	if b.CurrentKID() != newKID {
		t.Errorf("b.CurrentKID after Refresh = %s, want %s", b.CurrentKID(), newKID)
	}
	if got := jwksKIDs(t, b); !slices.Equal(got, []string{newKID, oldKID}) {
		t.Errorf("b JWKS kids = %v", got)
	}
	if _, err := a.Verify(mustSign(t, b, testPass(clock.Now(), "launch")), "launch"); err != nil {
		t.Errorf("a.Verify of b's token: %v", err)
	}
}

func TestUnknownKIDStoreReadsAreRateBounded(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	k := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	foreign := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	tok := mustSign(t, foreign, testPass(clock.Now(), "launch"))

	before := store.Reads()
	for range 100 {
		if _, err := k.Verify(tok, "launch"); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("foreign token: %v", err)
		}
	}
	if got := store.Reads() - before; got != 1 {
		t.Errorf("store reads in one second = %d, want 1", got)
	}
	clock.Add(time.Second)
	k.Verify(tok, "launch")
	if got := store.Reads() - before; got != 2 {
		t.Errorf("store reads after a second = %d, want 2", got)
	}
}

func TestFileKeyIsSharedWithOtherInstances(t *testing.T) {
	for _, tc := range []struct {
		name string
		pem  func(testing.TB) []byte
		alg  string
	}{
		{"ed25519", func(tb testing.TB) []byte { p, _ := mustEd25519PEM(tb); return p }, "EdDSA"},
		{"p256", func(tb testing.TB) []byte { return mustPKCS8(tb, mustP256(tb)) }, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			store := &MemKeyStore{}
			file := mustKeyring(t, store, KeyringConfig{KeyPEM: tc.pem(t), Now: clock.Now})
			gen := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
			if file.CurrentKID() == gen.CurrentKID() {
				t.Fatal("instances without the file signed with the file key")
			}
			if _, err := file.Rotate(context.Background()); !errors.Is(err, ErrRotateFileKey) {
				t.Errorf("Rotate with a key file: %v, want ErrRotateFileKey", err)
			}
			if _, err := gen.Verify(mustSign(t, file, testPass(clock.Now(), "launch")), "launch"); err != nil {
				t.Errorf("token from the file instance: %v", err)
			}
			if _, err := file.Verify(mustSign(t, gen, testPass(clock.Now(), "launch")), "launch"); err != nil {
				t.Errorf("token from the generated-key instance: %v", err)
			}
			mustRefresh(t, file)
			for name, k := range map[string]*Keyring{"file": file, "generated": gen} {
				if kids := jwksKIDs(t, k); !slices.Contains(kids, file.CurrentKID()) || !slices.Contains(kids, gen.CurrentKID()) {
					t.Errorf("%s JWKS %v lacks a key", name, kids)
				}
			}
			for _, e := range storedDocument(t, store).Keys {
				if e.KID == file.CurrentKID() && (e.PrivateKey != "" || e.Alg != tc.alg) {
					t.Errorf("file key entry: alg %s, private key stored %v", e.Alg, e.PrivateKey != "")
				}
			}
		})
	}
}

func TestReplacedFileKeyStaysPublishedUntilRetired(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	pemA, _ := mustEd25519PEM(t)
	pemB, _ := mustEd25519PEM(t)
	a := mustKeyring(t, store, KeyringConfig{KeyPEM: pemA, MaxTokenLifetime: time.Hour, Now: clock.Now})
	long := testPass(clock.Now(), "launch")
	long.Expires = clock.Now().Add(3 * time.Hour)
	tokA := mustSign(t, a, long)

	clock.Add(time.Minute)
	b := mustKeyring(t, store, KeyringConfig{KeyPEM: pemB, MaxTokenLifetime: time.Hour, Now: clock.Now})
	if got, want := jwksKIDs(t, b), []string{b.CurrentKID(), a.CurrentKID()}; !slices.Equal(got, want) {
		t.Errorf("JWKS kids = %v, want %v", got, want)
	}
	if _, err := b.Verify(tokA, "launch"); err != nil {
		t.Errorf("token of the replaced key: %v", err)
	}
	// The old instance restarting with its stale file must not retire the new key.
	mustKeyring(t, store, KeyringConfig{KeyPEM: pemA, MaxTokenLifetime: time.Hour, Now: clock.Now})
	clock.Add(time.Hour)
	mustRefresh(t, b)
	if got := jwksKIDs(t, b); !slices.Equal(got, []string{b.CurrentKID()}) {
		t.Errorf("JWKS kids after retirement = %v, want only %s", got, b.CurrentKID())
	}
	if _, err := b.Verify(tokA, "launch"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("token of the retired key: %v, want ErrTokenInvalid", err)
	}
}

func TestJWKS(t *testing.T) {
	edPEM, edPriv := mustEd25519PEM(t)
	ecPEM, ecPriv := mustP256SEC1PEM(t)
	for _, tc := range []struct {
		name string
		pem  []byte
		pub  crypto.PublicKey
	}{
		{"ed25519", edPEM, edPriv.Public()},
		{"p256", ecPEM, ecPriv.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{KeyPEM: tc.pem})
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(k.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1: %s", len(set.Keys), k.JWKS())
			}
			m := set.Keys[0]
			if m["use"] != "sig" || m["kid"] != k.CurrentKID() {
				t.Errorf("use %q kid %q", m["use"], m["kid"])
			}
			j := jwk{Kty: m["kty"], Crv: m["crv"], X: m["x"], Y: m["y"]}
			if j.thumbprint() != m["kid"] {
				t.Errorf("kid is not the RFC 7638 thumbprint")
			}
			pub, err := j.publicKey()
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) {
				t.Errorf("JWKS key is not the configured key")
			}
			want := map[string]string{"ed25519": "OKP/Ed25519/EdDSA", "p256": "EC/P-256/ES256"}[tc.name]
			if got := m["kty"] + "/" + m["crv"] + "/" + m["alg"]; got != want {
				t.Errorf("kty/crv/alg = %s, want %s", got, want)
			}
		})
	}
}

// RFC 8037, appendix A.3.
func TestThumbprint(t *testing.T) {
	j := jwk{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	if got, want := j.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestKeyringConfigValidate(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPEM, _ := mustEd25519PEM(t)
	ecPEM, _ := mustP256SEC1PEM(t)
	for _, tc := range []struct {
		name string
		cfg  KeyringConfig
		ok   bool
	}{
		{"zero", KeyringConfig{}, true},
		{"ed25519", KeyringConfig{KeyPEM: edPEM}, true},
		{"p256 sec1", KeyringConfig{KeyPEM: ecPEM}, true},
		{"negative lifetime", KeyringConfig{MaxTokenLifetime: -time.Second}, false},
		{"not pem", KeyringConfig{KeyPEM: []byte("hello")}, false},
		{"rsa", KeyringConfig{KeyPEM: mustPKCS8(t, rsaKey)}, false},
		{"p384", KeyringConfig{KeyPEM: mustPKCS8(t, p384)}, false},
		{"public key", KeyringConfig{KeyPEM: pemBlock("PUBLIC KEY", []byte{1, 2, 3})}, false},
		{"corrupt pkcs8", KeyringConfig{KeyPEM: pemBlock("PRIVATE KEY", []byte{1, 2, 3})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			_, err = NewKeyring(context.Background(), &MemKeyStore{}, tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("NewKeyring() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNewKeyringRejectsDamagedDocument(t *testing.T) {
	good := &MemKeyStore{}
	mustKeyring(t, good, KeyringConfig{})
	doc := storedDocument(t, good)
	damage := func(f func(d *document)) []byte {
		d := doc
		d.Keys = slices.Clone(doc.Keys)
		f(&d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	_, other := mustEd25519PEM(t)
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"not json", []byte("{")},
		{"newer version", damage(func(d *document) { d.Version = 2 })},
		{"short queue secret", damage(func(d *document) { d.QueueSecret = d.QueueSecret[:16] })},
		{"kid of another key", damage(func(d *document) { d.Keys[0].KID = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) })},
		{"private key of another key", damage(func(d *document) { d.Keys[0].PrivateKey = string(mustPKCS8(t, other)) })},
		{"alg mismatch", damage(func(d *document) { d.Keys[0].Alg = "ES256" })},
		{"bad jwk", damage(func(d *document) { d.Keys[0].JWK.X = "!!" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &MemKeyStore{}
			store.Set(tc.doc)
			if _, err := NewKeyring(context.Background(), store, KeyringConfig{}); err == nil {
				t.Error("NewKeyring accepted a damaged document")
			}
		})
	}
}

func TestRefreshRestoresLostDocument(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	a := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	tok := mustSign(t, a, testPass(clock.Now(), "launch"))
	qt := a.QueueToken("launch", "abc")

	store.Set(nil)
	mustRefresh(t, a)
	b := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	if b.CurrentKID() != a.CurrentKID() {
		t.Errorf("a new instance made a new key after the store lost the document")
	}
	if _, err := b.Verify(tok, "launch"); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := b.ParseQueueToken("launch", qt); err != nil {
		t.Errorf("ParseQueueToken: %v", err)
	}
}

func TestKeyringConcurrentUse(t *testing.T) {
	clock := newClock()
	store := &MemKeyStore{}
	a := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	b := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	// Tokens are verified by the instance that signed them: the other one would learn of
	// a rotation through a rate-bounded read, and this clock does not move.
	cache := NewPassCache(a, 128, clock.Now)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				switch {
				case i == 0 && j%10 == 0:
					mustRotate(t, a)
				case i == 1:
					mustRefresh(t, b)
				}
				p := testPass(clock.Now(), "launch")
				tok := mustSign(t, a, p)
				if _, err := cache.Verify(tok, "launch"); err != nil {
					t.Errorf("PassCache.Verify: %v", err)
				}
				if _, err := b.Verify(mustSign(t, b, p), "launch"); err != nil {
					t.Errorf("Verify: %v", err)
				}
				_ = b.JWKS()
				if _, err := b.ParseQueueToken("launch", a.QueueToken("launch", "q1")); err != nil {
					t.Errorf("ParseQueueToken: %v", err)
				}
			}
		})
	}
	wg.Wait()
}
