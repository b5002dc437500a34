package queue

import "strconv"

// roomKeys names every key of one room. The room is the hash tag, so all of a
// room's keys live in one Redis Cluster slot and each script can touch them
// together.
type roomKeys struct {
	cfg, line, seq, active, admittedAt, bucket, stats, rate, log, sweep string
	prefix                                                              string
}

func keysFor(room string) roomKeys {
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

// keyringKey holds the signing keyring document shared by all instances.
const keyringKey = "cg:keyring"
