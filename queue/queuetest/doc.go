// Package queuetest gives tests a private Redis: a real redis-server of their
// own, never whatever listens on 6379, and the stores' failure modes.
//
//   - Run starts a redis-server on a unix socket in a temp dir (the embedded
//     store where none is installed, except under CI, which must test
//     against real Redis); NewClient is a client of a fresh one.
//   - RunCluster and ClusterClient start a three-master Redis Cluster;
//     StartCluster one with replicas, for failover (WaitPromoted, Freeze,
//     Thaw); StartSentinel a Sentinel group.
//   - Failing and Frozen are clients of a store that answers every command
//     with an error, or never answers.
//   - Clock is a clock tests move by hand.
package queuetest
