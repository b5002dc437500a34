package ws

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
)

// FuzzClientFrame: whatever a client sends, the check never panics and
// accepts only the ping message.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, ` { "type" : "ping" } `, `{"type":"join"}`, ``, `{`, "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !isClientPing(msg) {
			return
		}
		var m struct{ Type string }
		if err := json.Unmarshal(msg, &m); err != nil || m.Type != "ping" {
			t.Fatalf("accepted %q", msg)
		}
	})
}

// TestFramesAreJSON: the hand-written encoders produce the JSON the
// contract describes.
func TestFramesAreJSON(t *testing.T) {
	var pos map[string]any
	if err := json.Unmarshal(appendPosition(nil, "waiting", 42, admission.ETA{Expected: 10 * time.Second, Low: 8 * time.Second, High: 12 * time.Second}, false, tickets{}), &pos); err != nil {
		t.Fatal(err)
	}
	if pos["type"] != "position" || pos["position"] != 42.0 || pos["ahead"] != 41.0 || pos["eta_seconds"] != 10.0 || pos["eta_low_seconds"] != 8.0 || pos["eta_high_seconds"] != 12.0 {
		t.Fatalf("position frame %v", pos)
	}
	if _, ok := pos["paused"]; ok {
		t.Fatalf("a running room's frame says paused: %v", pos)
	}
	var unknown map[string]any
	_ = json.Unmarshal(appendPosition(nil, "prequeue", 1, admission.ETA{Expected: -1, Low: -1, High: -1}, true, tickets{}), &unknown)
	if unknown["eta_seconds"] != -1.0 || unknown["status"] != "prequeue" || unknown["paused"] != true {
		t.Fatalf("unknown eta frame %v", unknown)
	}
	var adm map[string]any
	tk := admission.Ticket{AdmissionToken: `a.b"c`, AdmittedAt: time.UnixMilli(1700000000123), Admission: admission.Pass{Expires: time.Unix(1700000900, 0)}}
	if err := json.Unmarshal(admittedFrame(tk), &adm); err != nil {
		t.Fatal(err)
	}
	if adm["type"] != "admitted" || adm["admission_token"] != `a.b"c` || adm["admitted_at_ms"] != 1700000000123.0 || adm["expires_at"] != "2023-11-14T22:28:20Z" {
		t.Fatalf("admitted frame %v", adm)
	}
	var closed map[string]any
	if err := json.Unmarshal(closedFrame(`sold "out"`), &closed); err != nil || closed["reason"] != `sold "out"` {
		t.Fatalf("closed frame %v %v", closed, err)
	}
}

// TestFramedIsEncodeFrame: a frame built in its payload's headroom is the
// same bytes as one encoded after the fact, on both sides of each length
// form, and a position frame carries its message.
func TestFramedIsEncodeFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		got := framed(append(make([]byte, headroom), payload...)).wire
		if want := encodeFrame(opText, payload); !bytes.Equal(got, want) {
			t.Errorf("payload %d: framed %x..., encodeFrame %x...", n, got[:min(6, len(got))], want[:min(6, len(want))])
		}
	}
	msg := appendPosition(nil, "waiting", 7, admission.ETA{}, true, tickets{available: 3, held: 1, ok: true})
	if got, want := positionFrame("waiting", 7, admission.ETA{}, true, tickets{available: 3, held: 1, ok: true}).wire, encodeFrame(opText, msg); !bytes.Equal(got, want) {
		t.Errorf("position frame %q, want %q", got, want)
	}
}
