package api

// Warning is something an accepted change may not do as its author meant,
// in the warnings of PUT and PATCH /admin/v1/rooms/{room} and PUT
// /admin/v1/events/{event}: the change is made all the same. Code is one
// of "schedule_in_past" (a queue_opens_at or sale_starts_at given is
// already past: the room acts on it at once), "room_not_found" (the
// event's room does not exist: nobody can be admitted to buy) and
// "origin_targets_without_upstream" (the room steers by its origin, but
// the instance that answered proxies to none: no --upstream, no reading)
// and "origin_targets_without_route" (it proxies, but no route of its
// names the room: none of the room's visitors reach the origin through it).
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
