package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// TestCLIRoomCodes: codes added from standard input and from a file (more
// than one request's worth), counted, and revoked; a bad file sends nothing.
func TestCLIRoomCodes(t *testing.T) {
	env := startCLIServer(t)
	mustCLI(t, env, "room", "set", "presale", "--file", mustWrite(t, "room.json", `{"access_code_required": true}`))

	var out bytes.Buffer
	cli := &adminCLI{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader("club-0001\n\n  club-0002 \r\n"), stdout: &out, stderr: &out, pollEvery: time.Second}
	if err := cli.room(context.Background(), []string{"codes", "add", "presale", "--uses", "3"}); err != nil {
		t.Fatalf("codes add from stdin: %v\n%s", err, out.String())
	}
	if m := mustJSON(t, out.String()); m["codes"] != 2.0 || m["uses_left"] != 6.0 {
		t.Fatalf("after add: %v", m)
	}

	var many strings.Builder
	for i := range queue.MaxCodesPerUpload + 500 {
		fmt.Fprintf(&many, "bulk-%06d\n", i)
	}
	m := mustJSON(t, mustCLI(t, env, "room", "codes", "add", "presale", "--file", mustWrite(t, "codes.txt", many.String())))
	if m["codes"] != float64(2+queue.MaxCodesPerUpload+500) {
		t.Fatalf("after a bulk add: %v", m)
	}
	if _, _, err := cliRun(t, env, "room", "codes", "add", "presale", "--file", mustWrite(t, "bad.txt", "good-code-1\nbad code\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a bad file: %v", err)
	}
	if m := mustJSON(t, mustCLI(t, env, "room", "codes", "presale")); m["codes"] != float64(2+queue.MaxCodesPerUpload+500) || m["used"] != 0.0 {
		t.Fatalf("count: %v", m)
	}
	mustCLI(t, env, "room", "codes", "clear", "presale")
	if m := mustJSON(t, mustCLI(t, env, "room", "codes", "presale")); m["codes"] != 0.0 || m["uses_left"] != 0.0 {
		t.Fatalf("after clear: %v", m)
	}
	if _, _, err := cliRun(t, env, "room", "codes", "nope", "presale"); err == nil {
		t.Fatal("an unknown codes command ran")
	}
}

func TestCodeBatchesStayUnderTheBodyLimit(t *testing.T) {
	long := strings.Repeat("x", queue.MaxCodeLength)
	codes := make([]string, 2500)
	for i := range codes {
		codes[i] = long
	}
	total := 0
	for _, b := range codeBatches(codes) {
		if len(b) == 0 || len(b) > queue.MaxCodesPerUpload || len(b)*(len(long)+3) > codesBatchBytes {
			t.Fatalf("a batch of %d codes", len(b))
		}
		total += len(b)
	}
	if total != len(codes) {
		t.Fatalf("batches hold %d codes, want %d", total, len(codes))
	}
}

// FuzzParseCodes: whatever the file, parseCodes returns only codes the API
// takes, or an error.
func FuzzParseCodes(f *testing.F) {
	f.Add("club-0001\nclub-0002\n")
	f.Add("  spaced-code  \r\n\n")
	f.Add("bad code\n")
	f.Add(strings.Repeat("a", 5000))
	f.Fuzz(func(t *testing.T, in string) {
		codes, err := parseCodes(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(codes) == 0 {
			t.Fatal("no codes and no error")
		}
		for _, c := range codes {
			if !queue.ValidCode(c) {
				t.Fatalf("parsed an invalid code %q", c)
			}
		}
	})
}
