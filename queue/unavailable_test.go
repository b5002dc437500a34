package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestUnavailable: what a restarting, failing-over or unreachable Redis
// answers is "try again", and what a wrong request gets is not.
func TestUnavailable(t *testing.T) {
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
