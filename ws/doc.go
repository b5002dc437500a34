// Package ws pushes each waiter's place live over WebSocket and is the only
// server-side importer of gorilla/websocket.
//
// A Hub holds this instance's waiting sockets, grouped by room and by place
// (a place may have several tabs). Every tick it syncs each room's
// queue.Tracker (one XREAD per room, whatever the number of waiters),
// computes every local waiter's position in memory, and queues a frame where
// the position changed or MinUpdate has passed. Waiters whose score has left
// the line are resolved with one status read each (pipelined): the admitted
// get their token, the rest are told the place is gone. Connected waiters'
// places are kept alive with one heartbeat call per 1000 waiters per
// Heartbeat period. Frames are encoded once, header included, and the bytes
// are shared by every socket that gets them (a room closing, a waiter's
// tabs).
//
// A waiter's score comes from the tracker (queue.Tracker.Score) and is
// asked again whenever the tracker rebuilds: a random_prequeue room's draw
// gives its pre-queue new scores. Until the draw, such a room's waiters are
// told "prequeue"; the first scan after it sends every waiter their drawn
// place at once, the one time a position may rise.
//
// Concurrency: each socket has exactly one reader goroutine (gorilla: pongs,
// close, the read limit) and no writer goroutine of its own: every write
// after the upgrade, answers to the client's control frames included, goes
// through a small pool of writers from a bounded per-socket queue, one
// writer at a time per socket. A writer joins what a socket has queued (a
// position and a due ping, an admission and its close) into one write(2)
// with no deadline to arm; only a socket whose send buffer is full is handed
// to a goroutine of its own that waits for room up to WriteWait, so a slow
// client never holds a pool writer. A socket whose queue overflows is
// dropped as slow (close 1013; it reconnects). On shutdown every socket gets
// close 1012 (reconnect).
//
// ws imports admission and queue; it never imports gateway.
package ws
