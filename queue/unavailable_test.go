package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestUnavailable: what a restarting, failing-over or unreachable Redis
// answers is "try again", and what a wrong request gets is not.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		reply string
		want  bool
	}{
		{"loading from the AOF", "-LOADING Redis is loading the dataset in memory\r\n", true},
		{"cluster down", "-CLUSTERDOWN The cluster is down\r\n", true},
		{"try again", "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", true},
		{"master down", "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n", true},
		{"replica after failover", "-READONLY You can't write against a read only replica.\r\n", true},
		{"connection closed mid-request", "", true},
		{"a script's own error", "-ERR user_script:1: Script attempted to access nonexistent global variable\r\n", false},
		{"wrong type", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := queuetest.Failing(t, c.reply).Get(context.Background(), "k").Err()
			if err == nil {
				t.Fatal("no error")
			}
			if got := queue.Unavailable(fmt.Errorf("queue: join launch: %w", err)); got != c.want {
				t.Errorf("Unavailable(%v) = %v, want %v", err, got, c.want)
			}
		})
	}
	if queue.Unavailable(nil) || queue.Unavailable(queue.ErrRoomNotFound) || queue.Unavailable(errors.New("boom")) {
		t.Error("a plain error counts as unavailable")
	}
}

// TestFrozenRedisCallersDoNotQueue: while Redis is frozen the pipeline
// workers are stuck on their batches; a caller with no deadline of its own
// waits at most the batch timeout in all (for a worker, then for the
// answer) and is told to try again, instead of queueing for as long as the
// freeze.
func TestFrozenRedisCallersDoNotQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped with -short")
	}
	store, err := queue.NewStore(queuetest.Frozen(t), queue.Config{Pipelines: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ctx := context.Background()
	go func() { _, _ = store.Join(ctx, "launch", "") }() // holds the one worker
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	_, err = store.Join(ctx, "launch", "")
	took := time.Since(start)
	if !queue.Unavailable(err) || took > 7*time.Second {
		t.Fatalf("a join behind a frozen Redis: %v after %v, want a 'try again' within the batch timeout", err, took)
	}
	t.Logf("told to try again after %v", took.Round(time.Millisecond))
}
