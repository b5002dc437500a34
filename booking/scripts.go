package booking

import (
	"embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are the Lua programs behind every change of an event's tickets,
// holds and orders. go-redis runs them with EVALSHA and falls back to EVAL
// after a SCRIPT FLUSH or a failover, so callers never see NOSCRIPT.
type scripts struct {
	putEvent, hold, release, checkout, payment, sweep, refunded *redis.Script
}

func loadScripts() (*scripts, error) {
	prelude, err := scriptFS.ReadFile("scripts/prelude.lua")
	if err != nil {
		return nil, err
	}
	load := func(name string) *redis.Script {
		body, rerr := scriptFS.ReadFile("scripts/" + name + ".lua")
		if rerr != nil {
			err = fmt.Errorf("booking: script %s: %w", name, rerr)
			return nil
		}
		return redis.NewScript(string(prelude) + "\n" + string(body))
	}
	s := &scripts{
		putEvent: load("putevent"),
		hold:     load("hold"),
		release:  load("release"),
		checkout: load("checkout"),
		payment:  load("payment"),
		sweep:    load("sweep"),
		refunded: load("refunded"),
	}
	return s, err
}
