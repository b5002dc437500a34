// Package api owns the JSON wire types of Crowdgate's HTTP API: the request
// bodies and answers of the fans' API (/api/v1: a place in line, holds,
// orders, the public proofs), of the organizers' admin API (/admin/v1:
// rooms, events, their log and recount) and the error body all of them
// share, and the body of the room hooks Crowdgate posts to organizers'
// own systems (RoomHook, docs/hooks.md). The gateway serves them and
// clients read them (the crowdgate CLI, Go integrations), so a field is
// declared once, here, and docs/api.md describes what these types encode.
//
// A type named …Request is what a client sends; the plain noun is what
// the server answers. Field names, order, omitempty and types are the
// contract: changing one changes the bytes every client reads.
//
// It is data only: no HTTP, no validation beyond the shape of a field, and
// no conversion from the domain types (queue.Room, booking.Order, …), which
// stays with the gateway. It imports the standard library only, so any Go
// program may import it without pulling in Redis or echo.
package api
