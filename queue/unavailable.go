package queue

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err says the store could not serve the
// request now but may in a moment, rather than that the request is wrong:
// Redis restarting from its AOF (LOADING), a cluster or replica between
// masters (CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY after a failover),
// too many clients, a connection refused, reset or closed mid-reply (EOF),
// a timeout, or a client pool that is closed or exhausted. Callers answer
// these with "try again" (503 and Retry-After), never as an internal error.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.As(err, &netErr):
		return true
	}
	return redis.IsLoadingError(err) || redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.IsMasterDownError(err) || redis.IsReadOnlyError(err) || redis.IsMaxClientsError(err)
}
