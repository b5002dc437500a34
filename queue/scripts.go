package queue

import (
	"embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are the Lua programs behind every multi-step change. go-redis
// runs them with EVALSHA and falls back to EVAL once per connection after a
// SCRIPT FLUSH or a failover, so callers never see NOSCRIPT.
type scripts struct {
	join, admit, leave, sweep, heartbeat, putRoom, patchRoom, keyring, snapshot, fair, adapt *redis.Script
}

func loadScripts() (*scripts, error) {
	prelude, err := scriptFS.ReadFile("scripts/prelude.lua")
	if err != nil {
		return nil, err
	}
	load := func(name string) *redis.Script {
		body, rerr := scriptFS.ReadFile("scripts/" + name + ".lua")
		if rerr != nil {
			err = fmt.Errorf("queue: script %s: %w", name, rerr)
			return nil
		}
		return redis.NewScript(string(prelude) + "\n" + string(body))
	}
	s := &scripts{
		join:      load("join"),
		admit:     load("admit"),
		leave:     load("leave"),
		sweep:     load("sweep"),
		heartbeat: load("heartbeat"),
		putRoom:   load("putroom"),
		patchRoom: load("patchroom"),
		keyring:   load("keyring"),
		snapshot:  load("snapshot"),
		fair:      load("fair"),
		adapt:     load("adapt"),
	}
	return s, err
}
