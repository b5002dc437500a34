package queue

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are the Lua programs behind every multi-step change. go-redis
// runs them with EVALSHA and falls back to EVAL once per connection after a
// SCRIPT FLUSH or a failover, so callers never see NOSCRIPT.
type scripts struct {
	join, admit, leave, sweep, heartbeat, putRoom, patchRoom, keyring, snapshot, fair, adapt, soldOut, codes, renew, hooks, template *redis.Script
}

func loadScripts() (*scripts, error) {
	set := NewScriptSet(scriptFS)
	s := &scripts{
		join:      set.LoadWith("join", gateHeader),
		admit:     set.Load("admit"),
		leave:     set.Load("leave"),
		sweep:     set.Load("sweep"),
		heartbeat: set.Load("heartbeat"),
		putRoom:   set.Load("putroom"),
		patchRoom: set.Load("patchroom"),
		keyring:   set.Load("keyring"),
		snapshot:  set.Load("snapshot"),
		fair:      set.Load("fair"),
		adapt:     set.Load("adapt"),
		soldOut:   set.Load("soldout"),
		codes:     set.Load("codes"),
		renew:     set.Load("renew"),
		hooks:     set.Load("hooks"),
		template:  set.Load("template"),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return s, nil
}

// ScriptSet loads Lua scripts from the scripts/ folder of an embedded file
// system, each with scripts/prelude.lua in front: the queue's scripts and
// the booking core's are built alike. Load returns nil once anything
// failed; Err says what.
type ScriptSet struct {
	fsys    fs.FS
	prelude []byte
	err     error
}

// NewScriptSet reads the prelude of fsys's scripts.
func NewScriptSet(fsys fs.FS) *ScriptSet {
	prelude, err := fs.ReadFile(fsys, "scripts/prelude.lua")
	return &ScriptSet{fsys: fsys, prelude: prelude, err: err}
}

// Load returns scripts/<name>.lua behind the prelude.
func (s *ScriptSet) Load(name string) *redis.Script { return s.LoadWith(name, "") }

// LoadWith returns scripts/<name>.lua behind the prelude and header: Go
// constants the script reads, spelled once in Go.
func (s *ScriptSet) LoadWith(name, header string) *redis.Script {
	if s.err != nil {
		return nil
	}
	body, err := fs.ReadFile(s.fsys, "scripts/"+name+".lua")
	if err != nil {
		s.err = fmt.Errorf("script %s: %w", name, err)
		return nil
	}
	return redis.NewScript(header + string(s.prelude) + "\n" + string(body))
}

// Err is the first error of NewScriptSet or Load.
func (s *ScriptSet) Err() error { return s.err }
