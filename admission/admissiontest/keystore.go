// Package admissiontest gives tests and examples an in-memory keyring store,
// for code that signs or verifies admission tokens without a Redis.
package admissiontest

import (
	"bytes"
	"context"
	"sync"

	"github.com/crowdgate/crowdgate/queue"
)

// KeyStore keeps the keyring document in memory and implements
// admission.KeyStore (Crowdgate itself keeps it in Redis: queue.Store).
// The zero value is ready; it is safe for concurrent use.
type KeyStore struct {
	mu    sync.Mutex
	doc   []byte
	reads int
}

// GetKeyring returns the stored document, or nil.
func (m *KeyStore) GetKeyring(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return bytes.Clone(m.doc), nil
}

// PutKeyringIfAbsent stores doc unless a document exists, and returns the
// stored one.
func (m *KeyStore) PutKeyringIfAbsent(_ context.Context, doc []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.doc == nil {
		m.doc = bytes.Clone(doc)
	}
	return bytes.Clone(m.doc), nil
}

// SwapKeyring replaces old with doc, or returns queue.ErrConflict (which is
// admission.ErrKeyringConflict) when the stored document is not old.
func (m *KeyStore) SwapKeyring(_ context.Context, old, doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !bytes.Equal(m.doc, old) {
		return queue.ErrConflict
	}
	m.doc = bytes.Clone(doc)
	return nil
}

// Reads counts GetKeyring calls, for tests of how often a keyring refreshes.
func (m *KeyStore) Reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// Doc returns a copy of the stored document.
func (m *KeyStore) Doc() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.doc)
}

// Set replaces the stored document, as another instance (or a lost Redis) would.
func (m *KeyStore) Set(doc []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.doc = bytes.Clone(doc)
}
