//go:build unix

package ws

import (
	"io"
	"net"
	"syscall"
)

// rawConn is the socket under nc when nc is a plain one (TCP, Unix), nil
// otherwise (TLS, a wrapper): raw writes must not bypass a layer.
func rawConn(nc net.Conn) syscall.RawConn {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		raw, err := nc.(syscall.Conn).SyscallConn()
		if err != nil {
			return nil
		}
		return raw
	}
	return nil
}

// writeRaw writes b with write(2) until the socket's send buffer is full,
// and returns what did not fit. The socket's write lock is held while it
// writes, so no other write (gorilla answering a protocol error) lands
// inside b.
func (c *conn) writeRaw(b []byte) (rest []byte, err error) {
	var werr error
	err = c.raw.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.Write(int(fd), b)
			if n > 0 {
				b = b[n:]
			}
			switch err {
			case nil:
				if n <= 0 {
					werr = io.ErrShortWrite
					return true
				}
			case syscall.EINTR:
			case syscall.EAGAIN:
				return true // full: the caller decides whether to wait
			default:
				werr = err
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return b, err
}
