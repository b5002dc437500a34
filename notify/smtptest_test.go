package notify

import (
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// testSMTP is a real SMTP server on 127.0.0.1 speaking just enough of RFC
// 5321 for net/smtp, recording what it accepts.
type testSMTP struct {
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup

	mu         sync.Mutex
	msgs       []smtpTestMsg
	rcpts      int      // RCPT commands seen
	sessions   int      // connections accepted
	auths      []string // "user:pass" of each AUTH PLAIN
	failData   int      // answer 451 to the end of DATA this many more times
	rejectRcpt bool     // answer 550 to RCPT
	offerAuth  bool     // advertise AUTH PLAIN
	silent     bool     // accept connections but never greet
	conns      map[net.Conn]bool
	closed     bool
}

// smtpTestMsg is one accepted message.
type smtpTestMsg struct {
	From string
	To   []string
	Data string // with CRLF line ends, dot-stuffing undone
}

// startTestSMTP starts a server, stopped (connections closed, goroutines
// waited for) when the test ends. opt may set fields before it accepts.
func startTestSMTP(tb testing.TB, opt func(*testSMTP)) *testSMTP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &testSMTP{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	if opt != nil {
		opt(s)
	}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

func (s *testSMTP) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testSMTP) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = true
		s.sessions++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.serve(c)
		}()
	}
}

func (s *testSMTP) messages() []smtpTestMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpTestMsg(nil), s.msgs...)
}

func (s *testSMTP) counts() (msgs, rcpts, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs), s.rcpts, s.sessions
}

func (s *testSMTP) serve(c net.Conn) {
	s.mu.Lock()
	silent := s.silent
	s.mu.Unlock()
	if silent {
		_, _ = c.Read(make([]byte, 1)) // until the client or close gives up
		return
	}
	tc := textproto.NewConn(c)
	if tc.PrintfLine("220 test.invalid ESMTP") != nil {
		return
	}
	var cur smtpTestMsg
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		var reply string
		switch strings.ToUpper(verb) {
		case "EHLO":
			s.mu.Lock()
			auth := s.offerAuth
			s.mu.Unlock()
			if auth {
				_ = tc.PrintfLine("250-test.invalid")
				reply = "250 AUTH PLAIN"
			} else {
				reply = "250 test.invalid"
			}
		case "HELO", "NOOP":
			reply = "250 ok"
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 {
				reply = "535 5.7.8 bad credentials"
				break
			}
			s.mu.Lock()
			s.auths = append(s.auths, parts[1]+":"+parts[2])
			s.mu.Unlock()
			reply = "235 2.7.0 ok"
		case "MAIL":
			cur = smtpTestMsg{From: smtpTestPath(arg)}
			reply = "250 2.1.0 ok"
		case "RCPT":
			s.mu.Lock()
			s.rcpts++
			reject := s.rejectRcpt
			s.mu.Unlock()
			if reject {
				reply = "550 5.1.1 no such user"
				break
			}
			cur.To = append(cur.To, smtpTestPath(arg))
			reply = "250 2.1.5 ok"
		case "DATA":
			if tc.PrintfLine("354 end with <CRLF>.<CRLF>") != nil {
				return
			}
			data, err := tc.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.failData > 0 {
				s.failData--
				reply = "451 4.3.0 try again later"
			} else {
				cur.Data = strings.ReplaceAll(string(data), "\n", "\r\n")
				s.msgs = append(s.msgs, cur)
				reply = "250 2.0.0 queued"
			}
			s.mu.Unlock()
		case "RSET":
			cur = smtpTestMsg{}
			reply = "250 ok"
		case "QUIT":
			_ = tc.PrintfLine("221 bye")
			return
		default:
			reply = "502 5.5.2 unknown command"
		}
		if tc.PrintfLine("%s", reply) != nil {
			return
		}
	}
}

// smtpTestPath extracts the address of "FROM:<a@b> BODY=8BITMIME".
func smtpTestPath(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}
