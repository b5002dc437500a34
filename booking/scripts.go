package booking

import (
	"embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are the Lua programs behind every change of an event's tickets,
// holds and orders. go-redis runs them with EVALSHA and falls back to EVAL
// after a SCRIPT FLUSH or a failover, so callers never see NOSCRIPT.
type scripts struct {
	putEvent, hold, release, checkout, payment, sweep, refunded *redis.Script
	deleteEvent, purgeEvent                                     *redis.Script
}

func loadScripts() (*scripts, error) {
	set := queue.NewScriptSet(scriptFS)
	s := &scripts{
		putEvent: set.Load("putevent"),
		hold:     set.Load("hold"),
		release:  set.Load("release"),
		checkout: set.Load("checkout"),
		payment:  set.Load("payment"),
		sweep:    set.Load("sweep"),
		refunded: set.Load("refunded"),

		deleteEvent: set.Load("delevent"),
		purgeEvent:  set.Load("purgeevent"),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	return s, nil
}
