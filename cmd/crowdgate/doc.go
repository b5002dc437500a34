// Command crowdgate runs the Crowdgate virtual waiting room (serve), and
// is its organizers' command line (room, event, verify-shuffle).
//
// It is wiring, and owns no concept of its own: every rule lives in a
// package below it, which owns its Redis keys and its paths. What it does:
//
//   - options.go parses flags and environment (flag wins) into a checked
//     serveConfig, so serve never starts on settings that cannot work;
//   - run.go's serve opens Redis (redis.go: one node, Sentinel or Cluster),
//     builds the queue store, keyring, booking core (booking.go), notifier,
//     admission controller, WebSocket hub and gateway, runs them in one
//     errgroup until SIGTERM, then lets requests drain;
//   - config.go applies a --config file's rooms and events at start, without
//     undoing live changes made since (queue's declared digests);
//   - cli.go and one file per noun (cli_room.go, cli_event.go) are the admin
//     API's client, over the wire types of package api and the paths gateway
//     spells;
//   - verify.go (verify-shuffle) checks a room's published draw offline.
package main
