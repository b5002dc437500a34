package queue

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// roomKeys names every key of one room. The room is the hash tag, so all of a
// room's keys live in one Redis Cluster slot and each script can touch them
// together.
type roomKeys struct {
	cfg, line, seq, active, admittedAt, bucket, stats, rate, log, sweep, revoked, fair string
	history                                                                            string // the dashboard's samples (history.go)
	adapt, adaptLog                                                                    string // adaptive admission (adaptive.go)
	notify, notifyKeep                                                                 string // "notify me" (notifyme.go)
	users, owners                                                                      string // enqueue tokens' user ids (gate.go)
	codes                                                                              string // access codes (codes.go)
	hook, hookPrefix                                                                   string // room hooks' record and outbox (hooks.go)
	template                                                                           string // the page template's text (look.go)
	prefix                                                                             string
}

// keyCache holds the key names of rooms in use, so the hot path does not
// build a dozen strings per call. It is reset when it grows past keyCacheMax
// (only ids that passed validation reach it, but their number is not bounded).
var keyCache sync.Map

const keyCacheMax = 10000

var keyCacheLen atomic.Int64

func keysFor(room string) roomKeys {
	if k, ok := keyCache.Load(room); ok {
		return k.(roomKeys)
	}
	k := makeKeys(room)
	if keyCacheLen.Add(1) > keyCacheMax {
		keyCache.Clear()
		keyCacheLen.Store(0)
	}
	keyCache.Store(room, k)
	return k
}

func makeKeys(room string) roomKeys {
	p := "cg:{" + room + "}:"
	return roomKeys{
		prefix:     p,
		cfg:        p + "cfg",
		line:       p + "q",
		seq:        p + "seq",
		active:     p + "act",
		admittedAt: p + "iat",
		bucket:     p + "tb",
		stats:      p + "st",
		rate:       p + "rt",
		log:        p + "log",
		sweep:      p + "sw",
		revoked:    p + "rev",
		fair:       p + "fair",
		history:    p + "hist",
		adapt:      p + "adapt",
		adaptLog:   p + "adlog",
		notify:     p + "nm",
		notifyKeep: p + "nmk",
		users:      p + "users",
		owners:     p + "owners",
		codes:      p + "codes",
		hook:       p + "hook",
		hookPrefix: p + "hook:",
		template:   p + "tpl",
	}
}

// heartbeat names the liveness bitmap of one heartbeat epoch.
func (k roomKeys) heartbeat(epoch int64) string {
	return k.prefix + "hb:" + strconv.FormatInt(epoch, 10)
}

// roomsKey is the set of room names, for listing. It is the only key shared
// by all rooms; it is written after the room's own keys and read as a hint
// (a listed room whose cfg is gone is skipped).
const roomsKey = "cg:rooms"

// declaredKey remembers what configuration files last declared (see
// Store.Declared): "room/<name>" or "event/<id>" → the declaration's digest.
const declaredKey = "cg:declared"

// keyringKey holds the signing keyring document shared by all instances.
const keyringKey = "cg:keyring"
