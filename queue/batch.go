package queue

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends concurrent script calls to Redis together. A caller hands
// its call to one of a few workers; a worker takes every call waiting at
// that moment and sends them as one pipeline. Alone, a call goes out at
// once; under a surge of joins, dozens share one write and one read on the
// connection, which is where the time goes (syscalls, on both sides), not
// in the scripts. Each script stays atomic on its own; calls that arrive
// together were concurrent anyway, so no order is lost.
type batcher struct {
	rdb   redis.UniversalClient
	calls chan *scriptCall
	max   int
	stop  chan struct{}
	wg    sync.WaitGroup
}

type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
}

// batchTimeout bounds one pipeline; callers stop waiting when their own
// context ends, whichever comes first.
const batchTimeout = 5 * time.Second

func newBatcher(rdb redis.UniversalClient, workers, max int) *batcher {
	b := &batcher{rdb: rdb, calls: make(chan *scriptCall), max: max, stop: make(chan struct{})}
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b
}

// run runs script through the batcher and returns its finished command.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &scriptCall{script: script, keys: keys, args: args, done: make(chan struct{})}
	// While Redis is frozen every worker sits on a batch for up to
	// batchTimeout, and callers without a deadline of their own would
	// queue behind them for as long as the freeze: a caller waits at most
	// batchTimeout in all, for a worker and for the answer, then gets "try
	// again" (a timeout, which Unavailable reports).
	wait := time.NewTimer(batchTimeout)
	defer wait.Stop()
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return failed(ctx, ctx.Err())
	case <-wait.C:
		return failed(ctx, context.DeadlineExceeded)
	case <-b.stop:
		return failed(ctx, redis.ErrClosed)
	}
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
		return failed(ctx, ctx.Err())
	case <-wait.C:
		return failed(ctx, context.DeadlineExceeded)
	}
}

func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*scriptCall, 0, b.max)
	for {
		select {
		case c := <-b.calls:
			batch = append(batch[:0], c)
		case <-b.stop:
			return
		}
	more:
		for len(batch) < b.max {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.exec(batch)
	}
}

func (b *batcher) exec(batch []*scriptCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
		close(c.done)
		return
	}
	pipe := b.rdb.Pipeline()
	for _, c := range batch {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	for _, c := range batch {
		// After a SCRIPT FLUSH or a failover the script is gone; Run loads it.
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
		}
		close(c.done)
	}
}

// close stops the workers after the calls in flight.
func (b *batcher) close() {
	close(b.stop)
	b.wg.Wait()
}
