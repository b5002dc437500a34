package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Declared returns the digest of the declaration a configuration file last
// applied under name ("room/<name>", "event/<id>"), or "" if none did. An
// instance that starts with a file applies a declaration only when it is
// new or changed since, so a restart with the same file (a rolling
// restart mid-sale) does not undo what organizers changed live.
func (s *Store) Declared(ctx context.Context, name string) (string, error) {
	d, err := s.rdb.HGet(ctx, declaredKey, name).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("queue: declared %s: %w", name, err)
	}
	return d, nil
}

// SetDeclared records that a configuration file applied the declaration
// with digest under name.
func (s *Store) SetDeclared(ctx context.Context, name, digest string) error {
	if err := s.rdb.HSet(ctx, declaredKey, name, digest).Err(); err != nil {
		return fmt.Errorf("queue: declared %s: %w", name, err)
	}
	return nil
}
