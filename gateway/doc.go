// Package gateway is Crowdgate's HTTP face and the only package that imports
// echo: the organizers' admin API, the fans' API, forward auth for nginx,
// Traefik and Envoy, the JWKS, health, readiness and metrics. It maps every
// error to the contract's HTTP form in one place (toAPIError) and parses
// outside input strictly (decodeJSON, ParseRoutes).
//
// It holds no state of its own beyond caches: any number of gateways can
// serve the same rooms. It may import admission and queue; nothing imports it
// but cmd.
package gateway
