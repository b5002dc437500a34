package queuetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a Redis started for one test.
type Server struct {
	// Addr is "unix:/path" for a redis-server, or "host:port" for the
	// embedded fallback.
	Addr string
	// Real reports whether this is a real redis-server.
	Real bool
	cmd  *exec.Cmd
	sock string
	dir  string
}

// Options returns client options for the server.
func (s *Server) Options() *redis.Options {
	if s.sock != "" {
		return &redis.Options{Network: "unix", Addr: s.sock}
	}
	return &redis.Options{Addr: s.Addr}
}

// Client returns a new client to the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(s.Options())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server at once (SIGKILL), as a crash would.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Start starts redis-server again after Stop, on the same socket and data
// directory, so an AOF written before the crash is replayed.
func (s *Server) Start(tb testing.TB, extra ...string) {
	tb.Helper()
	s.start(tb, extra...)
}

// Run starts a private redis-server listening on a unix socket in a
// temporary directory, stopped when the test ends. Without redis-server on
// the PATH it falls back to the embedded store, except when CI is set: CI
// must test the Lua scripts against real Redis.
func Run(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server not found and CI is set: install it (apt-get install redis-server)")
		}
		m := miniredis.RunT(tb)
		return &Server{Addr: m.Addr()}
	}
	dir, err := os.MkdirTemp("", "cg-redis-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{dir: dir, sock: filepath.Join(dir, "redis.sock"), Real: true}
	s.Addr = "unix:" + s.sock
	tb.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	s.start(tb, extra...)
	return s
}

func (s *Server) start(tb testing.TB, extra ...string) {
	tb.Helper()
	args := append([]string{
		"--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700",
		"--dir", s.dir, "--save", "", "--appendonly", "no", "--logfile", "",
		"--loglevel", "warning", "--daemonize", "no",
	}, extra...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	if err := waitPing(s.Options()); err != nil {
		s.Stop()
		tb.Fatalf("redis-server did not come up: %v", err)
	}
}

// NewClient starts a private Redis (see Run) and returns a client to it.
func NewClient(tb testing.TB) *redis.Client {
	tb.Helper()
	return Run(tb).Client(tb)
}
