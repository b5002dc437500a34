// Package ws pushes each waiter's place live over WebSocket and is the only
// package that imports gorilla/websocket: a hub per gateway instance that
// follows each room's position log (see queue/doc.go) with a constant number
// of Redis commands per tick and computes every local waiter's position in
// memory; one reader and one writer per connection with deadlines and
// pings; bounded send buffers; slow clients dropped.
//
// It is being built (issue 3); this file marks its place in the layout.
package ws
