//go:build !unix

package ws

import (
	"net"
	"syscall"
)

// rawConn: raw writes are for unix sockets; elsewhere every write arms a
// deadline (writeWire's fallback).
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *conn) writeRaw([]byte) ([]byte, error) { panic("ws: no raw writes on this system") }
