package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// floorCmd measures what the kernel alone costs for a broadcast on this
// machine, as the floor under crowdload broadcast's figures: this process
// accepts -sockets loopback TCP connections from a reader process (this
// binary again, which only reads and discards), then, -rounds times,
// writes one -size-byte message to every socket from -writers goroutines,
// with nothing else: no WebSocket framing, no queue, no deadline. It
// prints each round's wall time and this process's CPU time per write.
func floorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sockets := fs.Int("sockets", 18000, "connections (at most 19000: one process each side)")
	rounds := fs.Int("rounds", 10, "messages per socket, one round at a time")
	size := fs.Int("size", 140, "bytes per message (a position frame is ~140)")
	writers := fs.Int("writers", 2, "goroutines writing each round")
	sources := fs.String("sources", "8", "local addresses the reader binds (see crowdload ws -h)")
	reader := fs.String("reader", "", "internal: run as the reader, connecting to this address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srcs, err := parseSources(*sources)
	if err != nil {
		return err
	}
	if *reader != "" {
		return floorReader(ctx, *reader, *sockets, srcs, os.Stdin)
	}
	switch {
	case *sockets < 1 || *sockets > 19000:
		return errors.New("-sockets must be in 1..19000")
	case *rounds < 1 || *size < 1 || *size > 1<<16 || *writers < 1:
		return errors.New("-rounds, -size (up to 64 KiB) and -writers must be positive")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "floor", "-reader", ln.Addr().String(),
		"-sockets", strconv.Itoa(*sockets), "-sources", *sources)
	cmd.Stderr = stderr
	stop, err := cmd.StdinPipe() // closing it stops the reader
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = stop.Close(); _ = cmd.Wait() }()

	conns := make([]net.Conn, 0, *sockets)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for len(conns) < *sockets {
		if d, ok := ln.(*net.TCPListener); ok {
			_ = d.SetDeadline(time.Now().Add(30 * time.Second))
		}
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accepted %d of %d: %w", len(conns), *sockets, err)
		}
		conns = append(conns, c)
	}
	fmt.Fprintf(stdout, "%d loopback sockets open; %d rounds of one %d-byte write each, %d writers\n", *sockets, *rounds, *size, *writers)
	time.Sleep(time.Second)

	msg := make([]byte, *size)
	for i := range msg {
		msg[i] = 'x'
	}
	pid := os.Getpid()
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	var walls []time.Duration
	for r := range *rounds {
		start := time.Now()
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		per := (len(conns) + *writers - 1) / *writers
		for w := range *writers {
			part := conns[min(w*per, len(conns)):min((w+1)*per, len(conns))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range part {
					if _, err := c.Write(msg); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if failed != nil {
			return failed
		}
		walls = append(walls, time.Since(start))
		fmt.Fprintf(stdout, "round %d: %d writes in %v\n", r+1, len(conns), walls[r].Round(time.Millisecond))
		time.Sleep(500 * time.Millisecond) // let the reader drain
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	// The pauses between rounds cost next to nothing: the CPU is the writes'.
	writes := *rounds * len(conns)
	fmt.Fprintf(stdout, "writer CPU %v for %d writes: %.1f µs per write\n",
		cpu1-cpu0, writes, float64((cpu1-cpu0).Nanoseconds())/1e3/float64(writes))
	return nil
}

// floorReader opens the connections and discards what arrives until stdin
// closes.
func floorReader(ctx context.Context, addr string, n int, srcs []string, stdin io.Reader) error {
	dialers, err := sourceDialers(srcs)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := dialers[i%len(dialers)].DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("reader: connection %d: %w", i, err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(c, 512)
			_, _ = io.Copy(io.Discard, br)
		}()
	}
	_, _ = io.Copy(io.Discard, stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	return nil
}
