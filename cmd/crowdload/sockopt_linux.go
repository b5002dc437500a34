package main

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2+), which the
// syscall package does not name.
const ipBindAddressNoPort = 24

// bindNoPort runs between socket() and bind(): it makes the kernel pick the
// source port at connect() time, per (source, destination) pair. Without
// it, binding a source address takes a port that is unique across every
// destination, and one source address runs out after ~28k connections
// whatever the number of targets.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return err
	}
	return serr
}
