// Package gateway is Crowdgate's HTTP face and the only package that imports
// echo: the organizers' admin API, the fans' API and waiting-room page, the
// WebSocket route (served by ws.Hub), forward auth for nginx, Traefik and
// Envoy, the reverse proxy to an origin (embedding mode), the JWKS, health,
// readiness and metrics. It maps every error to the contract's HTTP form in
// one place (toAPIError): domain packages return a *crowdgate.Error with a
// Kind and the Message the caller may read, and one table (kinds) turns each
// kind into a status and a contract code; no domain message is cut out of
// err.Error(). It parses outside input strictly (decodeJSON, ParseRoutes,
// the page's return_to).
//
// Who owns what: rooms are written, and fans joined and admitted, only
// through the admission.Controller given to New, which keeps its own cache
// right. Config.Store, passed openly, serves the queue data that is no
// admission decision: the admin API's and dashboard's room reads and
// figures, history, the audit log, fairness proofs and notify-me contacts.
//
// It holds no state of its own beyond caches: any number of gateways can
// serve the same rooms. It may import admission, ws and queue; nothing
// imports it but cmd.
package gateway
