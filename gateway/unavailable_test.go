package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestTransientStoreErrorsAre503: a Redis loading its AOF after a restart,
// or one whose connections end mid-reply, is a "try again" for fans (503
// with Retry-After), never an internal error.
func TestTransientStoreErrorsAre503(t *testing.T) {
	t.Parallel()
	good := newStack(t)
	for _, reply := range []string{"-LOADING Redis is loading the dataset in memory\r\n", "-MASTERDOWN Link with MASTER is down\r\n", ""} {
		g := gatewayOver(t, queuetest.Failing(t, reply), good.keys)
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/rooms/launch/join", nil))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("join with Redis answering %q: %d %s (Retry-After %q), want 503 with Retry-After", reply, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
}

// TestReadyzAnswersWithinItsTimeout: with Redis frozen, /readyz says 503
// within its one-second timeout, so a Kubernetes probe with a 1 s timeout
// sees "not ready", not a hang.
func TestReadyzAnswersWithinItsTimeout(t *testing.T) {
	t.Parallel()
	g := gatewayOver(t, queuetest.Frozen(t), newStack(t).keys)
	start := time.Now()
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if took := time.Since(start); w.Code != http.StatusServiceUnavailable || took > 1500*time.Millisecond {
		t.Fatalf("/readyz with Redis frozen: %d after %v, want 503 within its 1 s timeout", w.Code, took)
	}
}

// gatewayOver is a gateway whose store is rdb (a Redis that fails on
// purpose), signing with keys, without the controller's loops.
func gatewayOver(t *testing.T, rdb redis.UniversalClient, keys *admission.Keyring) *gateway.Server {
	t.Helper()
	store, err := queue.NewStore(rdb, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ctl, err := admission.NewController(store, keys, admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{AdminToken: adminToken, Ready: store.Ping, Store: store}, ctl, keys)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
