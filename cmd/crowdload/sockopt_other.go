//go:build !linux

package main

import "syscall"

// bindNoPort has no portable equivalent; each bound source address is then
// limited to one ephemeral port range across all targets.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
