package main

// `crowdgate room codes ...`: a room's access codes
// (/admin/v1/rooms/{room}/codes).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// codesBatchBytes keeps each upload under the API's 64 KiB body limit.
const codesBatchBytes = 48 << 10

func codesFlags(fs *flag.FlagSet, f *verbFlags) {
	fs.StringVar(&f.file, "file", "-", "codes, one per line; - reads standard input")
	fs.IntVar(&f.limit, "uses", 1, "new places each code is good for")
}

// roomCodes is `room codes ROOM` (counts), `room codes add ROOM --uses N`
// (codes from standard input or --file, one per line, sent in batches) and
// `room codes clear ROOM` (revoke them all).
func roomCodes(ctx context.Context, s *session, pos []string) error {
	op, room := "", pos[0]
	if len(pos) == 2 {
		op, room = pos[0], pos[1]
	}
	path := gateway.AdminRoomCodesPath(room)
	switch op {
	case "":
		raw, err := s.get(ctx, path, nil)
		if err != nil {
			return err
		}
		return s.printJSON(raw)
	case "clear":
		_, err := s.api.do(ctx, http.MethodDelete, path, nil, nil)
		return err
	case "add":
	default:
		return fmt.Errorf("room codes: unknown command %q: add, clear, or just the room", op)
	}
	in := s.stdin
	if s.file != "-" {
		f, err := os.Open(s.file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		in = f
	}
	codes, err := parseCodes(in)
	if err != nil {
		return fmt.Errorf("room codes add: %w", err)
	}
	var raw []byte
	for _, batch := range codeBatches(codes) {
		body, err := json.Marshal(api.CodesRequest{Codes: batch, Uses: s.limit})
		if err != nil {
			return err
		}
		if raw, err = s.api.do(ctx, http.MethodPost, path, nil, body); err != nil {
			return err
		}
	}
	return s.printJSON(raw)
}

// parseCodes reads access codes, one a line; blank lines and the spaces
// around a code are ignored. Every code must be one queue.ValidCode takes,
// so a bad file is refused whole, before anything is sent.
func parseCodes(r io.Reader) ([]string, error) {
	var codes []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	for n := 1; sc.Scan(); n++ {
		code := strings.TrimSpace(sc.Text())
		if code == "" {
			continue
		}
		if !queue.ValidCode(code) {
			return nil, fmt.Errorf("line %d: a code is %d to %d visible ASCII characters, without spaces", n, queue.MinCodeLength, queue.MaxCodeLength)
		}
		codes = append(codes, code)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading codes: %w", err)
	}
	if len(codes) == 0 {
		return nil, errors.New("no codes given: one per line, on standard input or in --file")
	}
	return codes, nil
}

// codeBatches splits codes into requests the API takes: at most
// queue.MaxCodesPerUpload codes and codesBatchBytes of them each.
func codeBatches(codes []string) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, c := range codes {
		if i-start == queue.MaxCodesPerUpload || size+len(c)+3 > codesBatchBytes {
			out = append(out, codes[start:i])
			start, size = i, 0
		}
		size += len(c) + 3 // quotes and comma
	}
	return append(out, codes[start:])
}
