package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/smtp"
)

// toolMessage spools raw as the chain would give it to a filter.
func toolMessage(t *testing.T, raw string) *Message {
	t.Helper()
	m, err := readMessage(strings.NewReader(raw), 0, t.TempDir(), -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// milterPacket is one packet of the milter protocol: a command from the
// MTA or a reply from the milter.
type milterPacket struct {
	code byte
	data []byte
}

func readMilterPacket(r io.Reader) (milterPacket, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return milterPacket{}, err
	}
	if n == 0 || n > 1<<20 {
		return milterPacket{}, fmt.Errorf("bad packet length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return milterPacket{}, err
	}
	return milterPacket{b[0], b[1:]}, nil
}

func writeMilterPacket(w io.Writer, p milterPacket) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p.data)+1))
	b = append(b, p.code)
	_, err := w.Write(append(b, p.data...))
	return err
}

func cstrings(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

// fakeMilter is a milter on loopback that records the commands it gets and
// answers with what reply says (continue by default).
type fakeMilter struct {
	t *testing.T
	// actions and protocol are its option negotiation reply.
	actions, protocol uint32
	// reply gives the replies to a command; nil means continue, to the
	// commands that have a reply.
	reply func(p milterPacket) []milterPacket

	mu       sync.Mutex
	cmds     []milterPacket
	conns    int
	closed   int
	bodySize []int
}

func newFakeMilter(t *testing.T, reply func(p milterPacket) []milterPacket) *fakeMilter {
	return &fakeMilter{t: t, actions: 0x1ff, reply: reply}
}

// milter returns a Milter connected to f through net.Pipe.
func (f *fakeMilter) milter() *Milter {
	return &Milter{Network: "tcp", Address: "fake:1", DialContext: f.dial, Logger: slog.New(slog.DiscardHandler)}
}

func (f *fakeMilter) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, s := net.Pipe()
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	go f.serve(s)
	return c, nil
}

func (f *fakeMilter) serve(c net.Conn) {
	defer func() {
		c.Close()
		f.mu.Lock()
		f.closed++
		f.mu.Unlock()
	}()
	for {
		p, err := readMilterPacket(c)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, p)
		if p.code == 'B' {
			f.bodySize = append(f.bodySize, len(p.data))
		}
		reply := f.reply
		f.mu.Unlock()
		var out []milterPacket
		if reply != nil {
			out = reply(p)
		}
		if out == nil {
			switch p.code {
			case 'O':
				d := binary.BigEndian.AppendUint32(nil, 6)
				d = binary.BigEndian.AppendUint32(d, f.actions)
				d = binary.BigEndian.AppendUint32(d, f.protocol)
				out = []milterPacket{{'O', d}}
			case 'M':
				if f.protocol&(1<<14) == 0 { // SMFIP_NR_MAIL
					out = []milterPacket{{'c', nil}}
				}
			case 'C', 'H', 'R', 'L', 'N', 'B', 'E':
				out = []milterPacket{{'c', nil}}
			}
		}
		for _, r := range out {
			if r.code == 0 { // a pause, to test timeouts (synctest's clock)
				time.Sleep(time.Duration(binary.BigEndian.Uint32(r.data)) * time.Millisecond)
				continue
			}
			if err := writeMilterPacket(c, r); err != nil {
				return
			}
		}
		if p.code == 'Q' {
			return
		}
	}
}

// log renders the commands received, one a line: the code, then the
// NUL-separated strings (binary fields of C and O in hex).
func (f *fakeMilter) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, p := range f.cmds {
		b.WriteByte(p.code)
		switch p.code {
		case 'O':
			fmt.Fprintf(&b, " %x", p.data)
		case 'B':
			fmt.Fprintf(&b, " %q", p.data)
		case 'C':
			host, rest, _ := bytes.Cut(p.data, []byte{0})
			fmt.Fprintf(&b, " %s %c", host, rest[0])
			if len(rest) > 3 {
				fmt.Fprintf(&b, " %d %s", binary.BigEndian.Uint16(rest[1:3]), bytes.TrimSuffix(rest[3:], []byte{0}))
			}
		case 'D':
			fmt.Fprintf(&b, " %c", p.data[0])
			for _, s := range strings.Split(strings.TrimSuffix(string(p.data[1:]), "\x00"), "\x00") {
				fmt.Fprintf(&b, " %q", s)
			}
		default:
			if len(p.data) > 0 {
				for _, s := range strings.Split(strings.TrimSuffix(string(p.data), "\x00"), "\x00") {
					fmt.Fprintf(&b, " %q", s)
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (f *fakeMilter) counts() (conns, closed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, f.closed
}

func toolConnInfo() *smtp.ConnInfo {
	return &smtp.ConnInfo{
		RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40001},
		LocalAddr:  &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 25},
		Hello:      "client.example",
		ESMTP:      true,
	}
}

func toolPath(s string) smtp.Path {
	l, d, _ := strings.Cut(s, "@")
	return smtp.Path{Local: l, Domain: d}
}

// TestMilterTransaction runs a whole transaction and checks what the
// milter received, byte for byte, and what its modifications became.
func TestMilterTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fm := newFakeMilter(t, func(p milterPacket) []milterPacket {
			if p.code != 'E' {
				return nil
			}
			return []milterPacket{
				{'p', nil}, // progress
				{'h', cstrings("X-Spamd-Result", " default: False [0.50 / 15.00];\n\tSYMBOL(0.50)")},
				{'i', append([]byte{0, 0, 0, 1}, cstrings("X-Inserted", "1")...)},
				{'m', append([]byte{0, 0, 0, 1}, cstrings("Subject", "")...)},
				{'b', []byte("new body")},
				{'c', nil},
			}
		})
		var logs bytes.Buffer
		m := fm.milter()
		m.Hostname, m.Logger = "mx.example", slog.New(slog.NewTextHandler(&logs, nil))
		ctx := context.Background()
		c := toolConnInfo()
		fs, err := m.NewSession(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if conns, _ := fm.counts(); conns != 0 {
			t.Fatalf("connected at NewSession")
		}
		tx := &Transaction{Conn: c, From: toolPath("s@remote.example"), Options: &smtp.MailOptions{Size: 1234, Body: smtp.Body8BitMIME}}
		v, err := fs.Mail(ctx, tx)
		if err != nil || v.Action != ActionDefault {
			t.Fatalf("Mail: %+v %v", v, err)
		}
		if v, err := fs.Rcpt(ctx, tx, toolPath("alice@example.com")); err != nil || v.Action != ActionDefault {
			t.Fatalf("Rcpt: %+v %v", v, err)
		}
		tx.Rcpts = append(tx.Rcpts, toolPath("alice@example.com"))
		big := strings.Repeat("0123456789abcde\r\n", 5000) // 85000 octets
		msg := toolMessage(t, "Received: from client.example\r\n\tby mx.example\r\nSubject:  hello\r\nX-Empty:\r\n\r\n"+big)
		v, err = fs.Data(ctx, tx, msg)
		if err != nil {
			t.Fatal(err)
		}
		want := []Field{{"X-Spamd-Result", "default: False [0.50 / 15.00];\n\tSYMBOL(0.50)"}, {"X-Inserted", "1"}}
		if v.Action != ActionDefault || fmt.Sprint(v.Headers) != fmt.Sprint(want) {
			t.Fatalf("Data verdict: %+v", v)
		}
		fs.Reset(ctx)
		if err := fs.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, closed := fm.counts(); closed != 1 {
			t.Fatalf("milter connection not closed")
		}

		got := fm.log()
		id := toolBetween(got, "D M \"i\" \"", "\"")
		wantLog := `O 000000060000007f000ff3ff
D C "j" "mx.example" "{daemon_name}" "postyard" "v" "postyard" "{daemon_addr}" "127.0.0.1" "{daemon_port}" "25" "_" "[192.0.2.7]" "{client_addr}" "192.0.2.7" "{client_port}" "40001" "{client_name}" "unknown" "{client_ptr}" "unknown"
C [192.0.2.7] 4 40001 192.0.2.7
H "client.example"
D M "i" "` + id + `" "{mail_addr}" "s@remote.example" "{mail_mailer}" "smtp" "{mail_host}" "remote.example"
M "<s@remote.example>" "SIZE=1234" "BODY=8BITMIME"
D R "{rcpt_addr}" "alice@example.com" "{rcpt_mailer}" "smtp" "{rcpt_host}" "example.com"
R "<alice@example.com>"
D N "i" "` + id + `"
L "Received" "from client.example\n\tby mx.example"
L "Subject" "hello"
L "X-Empty" ""
N
B ` + fmt.Sprintf("%q", big[:65535]) + `
B ` + fmt.Sprintf("%q", big[65535:]) + `
D E "i" "` + id + `"
E
A
Q
`
		// go-milter sends an abort before quit even after a complete message,
		// which libmilter accepts.
		if got != wantLog {
			g, w := strings.Split(got, "\n"), strings.Split(wantLog, "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Errorf("milter got, line %d:\n%.200s...%s\nwant:\n%.200s...%s", i, g[i], g[i][max(0, len(g[i])-100):], w[i], w[i][max(0, len(w[i])-100):])
					break
				}
			}
			t.Errorf("milter got %d lines, want %d", len(g), len(w))
		}
		if len(id) != 12 {
			t.Errorf("transaction id %q", id)
		}
		for _, s := range []string{"change header", "replace body"} {
			if strings.Count(logs.String(), s) != 1 {
				t.Errorf("log should note %q once:\n%s", s, logs.String())
			}
		}
	})
}

func toolBetween(s, a, b string) string {
	_, s, _ = strings.Cut(s, a)
	s, _, _ = strings.Cut(s, b)
	return s
}

// TestMilterReplies maps each milter reply at each stage to a Verdict.
func TestMilterReplies(t *testing.T) {
	reply := func(code byte, text string) []milterPacket {
		if code == 'y' {
			return []milterPacket{{'y', cstrings(text)}}
		}
		return []milterPacket{{code, nil}}
	}
	tests := []struct {
		name  string
		stage byte // the command that gets the reply
		reply []milterPacket
		// the Verdicts of Mail, Rcpt, Data ("-" if not reached)
		mail, rcpt, data string
		// commands that must not be sent
		unsent string
	}{
		{"continue", 0, nil, "default", "default", "default", ""},
		{"reject at connect", 'C', reply('r', ""), "reject", "-", "-", "HMRLNBE"},
		{"tempfail at helo", 'H', reply('t', ""), "tempfail", "-", "-", "MRLNBE"},
		{"reply code at connect", 'C', reply('y', "554 5.7.1 Go away"), "reject 554 5.7.1 Go away", "-", "-", "HMRLNBE"},
		{"accept at connect", 'C', reply('a', ""), "default", "default", "default", "HMRLNBE"},
		{"reject at mail", 'M', reply('y', "550 5.7.1 Sender blocked"), "reject 550 5.7.1 Sender blocked", "-", "-", "RLNBE"},
		{"accept at mail", 'M', reply('a', ""), "default", "default", "default", "RLNBE"},
		{"discard at mail", 'M', reply('d', ""), "discard", "-", "-", "RLNBE"},
		{"reject rcpt", 'R', reply('r', ""), "default", "reject", "default", ""},
		{"tempfail rcpt with text", 'R', reply('y', "450 4.2.1 Mailbox busy"), "default", "tempfail 450 4.2.1 Mailbox busy", "default", ""},
		{"discard at rcpt", 'R', reply('d', ""), "default", "discard", "discard", "LNBE"},
		{"reject at header", 'L', reply('r', ""), "default", "default", "reject", "NBE"},
		{"reject at eoh", 'N', reply('y', "554 5.7.1 Bad header"), "default", "default", "reject 554 5.7.1 Bad header", "BE"},
		// go-milter does not parse SMFIR_SKIP, so it is not offered.
		{"skip not offered", 'B', reply('s', ""), "default", "default", "error", "E"},
		{"reject in body", 'B', reply('r', ""), "default", "default", "reject", "E"},
		{"reject at eom", 'E', reply('y', "554 5.7.1 Spam message rejected"), "default", "default", "reject 554 5.7.1 Spam message rejected", ""},
		{"multi-line reply", 'E', reply('y', "550 5.7.1 first line\r\n550-5.7.1 second\r\n550 5.7.1 third"), "default", "default", "reject 550 5.7.1 first line second third", ""},
		{"reply code without enhanced code", 'E', reply('y', "451 try again"), "default", "default", "tempfail 451  try again", ""},
		{"reply code 250 ignored", 'E', reply('y', "250 ok"), "default", "default", "default", ""},
		{"tempfail at eom", 'E', reply('t', ""), "default", "default", "tempfail", ""},
		{"discard at eom", 'E', reply('d', ""), "default", "default", "discard", ""},
		{"quarantine", 'E', []milterPacket{{'q', cstrings("spam")}, {'a', nil}}, "default", "default", "quarantine", ""},
		{"quarantine and reject", 'E', []milterPacket{{'q', cstrings("spam")}, {'r', nil}}, "default", "default", "reject", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fm := newFakeMilter(t, func(p milterPacket) []milterPacket {
					if p.code == tc.stage {
						return tc.reply
					}
					return nil
				})
				mail, rcpt, data := runMilter(t, fm.milter(), "Subject: x\r\n\r\nbody\r\n")
				if mail != tc.mail || rcpt != tc.rcpt || data != tc.data {
					t.Errorf("got %q %q %q, want %q %q %q\n%s", mail, rcpt, data, tc.mail, tc.rcpt, tc.data, fm.log())
				}
				// Once the milter decided, the stages after are not sent.
				for _, line := range strings.Split(fm.log(), "\n") {
					if line != "" && strings.ContainsRune(tc.unsent, rune(line[0])) {
						t.Errorf("sent %q after the milter decided:\n%s", line, fm.log())
					}
				}
			})
		})
	}
}

// runMilter runs one transaction and renders each stage's Verdict.
func runMilter(t *testing.T, m *Milter, raw string) (mail, rcpt, data string) {
	t.Helper()
	ctx := context.Background()
	c := toolConnInfo()
	fs, err := m.NewSession(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	show := func(v Verdict, err error) string {
		if err != nil {
			return "error"
		}
		s := v.Action.String()
		if v.Reply != nil {
			s += fmt.Sprintf(" %d %s %s", v.Reply.Code, v.Reply.EnhancedCode, v.Reply.Message)
		}
		return s
	}
	stop := func(s string) bool { return s != "default" && !strings.HasPrefix(s, "accept") }
	tx := &Transaction{Conn: c, From: toolPath("s@remote.example")}
	mail = show(fs.Mail(ctx, tx))
	if stop(mail) {
		return mail, "-", "-"
	}
	rcpt = show(fs.Rcpt(ctx, tx, toolPath("alice@example.com")))
	if strings.HasPrefix(rcpt, "discard") {
		return mail, rcpt, "discard"
	}
	data = show(fs.Data(ctx, tx, toolMessage(t, raw)))
	fs.Reset(ctx)
	return mail, rcpt, data
}

// TestMilterOnError: a milter that is down, or stops answering, or breaks
// the protocol gives an error (the chain tempfails) or, with OnError, the
// configured Verdict; the next transaction connects again.
func TestMilterOnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		onError Action
		want    string
	}{
		{ActionDefault, "error"},
		{ActionTempfail, "error"},
		{ActionAccept, "default"},
		{ActionReject, "reject"},
		{ActionQuarantine, "quarantine"},
	} {
		m := &Milter{Network: "tcp", Address: down, OnError: tc.onError, Logger: slog.New(slog.DiscardHandler)}
		mail, rcpt, data := runMilter(t, m, "Subject: x\r\n\r\nbody\r\n")
		if mail != tc.want {
			t.Errorf("OnError %v: Mail %q", tc.onError, mail)
		}
		if tc.want == "default" && (rcpt != "default" || data != "default") {
			t.Errorf("OnError accept: Rcpt %q Data %q", rcpt, data)
		}
	}

	// A garbage reply at RCPT: the transaction fails; the next connects
	// again and works.
	var mu sync.Mutex
	broken := true
	fm := newFakeMilter(t, func(p milterPacket) []milterPacket {
		mu.Lock()
		defer mu.Unlock()
		if p.code == 'R' && broken {
			broken = false
			return []milterPacket{{'Z', []byte("junk")}}
		}
		return nil
	})
	m := fm.milter()
	ctx := context.Background()
	c := toolConnInfo()
	fs, _ := m.NewSession(ctx, c)
	defer fs.Close()
	tx := &Transaction{Conn: c, From: toolPath("s@remote.example")}
	if _, err := fs.Mail(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Rcpt(ctx, tx, toolPath("a@example.com")); err == nil {
		t.Fatal("garbage reply: no error")
	}
	if _, err := fs.Data(ctx, tx, toolMessage(t, "Subject: x\r\n\r\nbody\r\n")); err == nil {
		t.Fatal("Data after a failure: no error")
	}
	fs.Reset(ctx)
	if _, err := fs.Mail(ctx, tx); err != nil {
		t.Fatalf("next transaction: %v", err)
	}
	if _, err := fs.Rcpt(ctx, tx, toolPath("a@example.com")); err != nil {
		t.Fatalf("next transaction: %v", err)
	}
	if conns, _ := fm.counts(); conns != 2 {
		t.Fatalf("%d milter connections, want 2", conns)
	}
}

// TestMilterTimeouts: a milter that does not answer in CommandTimeout or
// EOMTimeout, or before the context's deadline, fails the stage.
func TestMilterTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pause := func(ms uint32) milterPacket { return milterPacket{0, binary.BigEndian.AppendUint32(nil, ms)} }
		fm := newFakeMilter(t, func(p milterPacket) []milterPacket {
			switch p.code {
			case 'R', 'E':
				return []milterPacket{pause(2000), {'c', nil}}
			}
			return nil
		})
		m := fm.milter()
		m.CommandTimeout, m.EOMTimeout = 100*time.Millisecond, 3*time.Second
		ctx := context.Background()
		c := toolConnInfo()
		fs, _ := m.NewSession(ctx, c)
		t.Cleanup(func() {
			fs.Close()
			time.Sleep(5 * time.Second) // the fake's pauses end
		})
		tx := &Transaction{Conn: c, From: toolPath("s@remote.example")}
		elapsed := func(f func()) time.Duration {
			start := time.Now()
			f()
			return time.Since(start)
		}
		var ne net.Error

		// RCPT: CommandTimeout.
		if _, err := fs.Mail(ctx, tx); err != nil {
			t.Fatal(err)
		}
		var err error
		d := elapsed(func() { _, err = fs.Rcpt(ctx, tx, toolPath("a@example.com")) })
		if !errors.As(err, &ne) || !ne.Timeout() || d != 100*time.Millisecond {
			t.Fatalf("Rcpt against a slow milter: %v after %v", err, d)
		}
		fs.Reset(ctx)

		// The end of message has EOMTimeout.
		fm.mu.Lock()
		fm.reply = func(p milterPacket) []milterPacket {
			if p.code == 'E' {
				return []milterPacket{pause(2000), {'c', nil}}
			}
			return nil
		}
		fm.mu.Unlock()
		runTx := func(ctx context.Context) (err error) {
			if _, err := fs.Mail(context.Background(), tx); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Rcpt(context.Background(), tx, toolPath("a@example.com")); err != nil {
				t.Fatal(err)
			}
			_, err = fs.Data(ctx, tx, toolMessage(t, "Subject: x\r\n\r\nbody\r\n"))
			fs.Reset(context.Background())
			return err
		}
		if d := elapsed(func() { err = runTx(ctx) }); err != nil || d != 2*time.Second {
			t.Fatalf("Data against a milter taking 2s, EOMTimeout 3s: %v after %v", err, d)
		}

		// The context's deadline is shorter than EOMTimeout.
		dctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		d = elapsed(func() { err = runTx(dctx) })
		if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) || d != 150*time.Millisecond {
			t.Fatalf("Data past the context's deadline: %v after %v", err, d)
		}

		// Cancelling the context interrupts a stage at once.
		cctx, cancel2 := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel2)
		d = elapsed(func() { err = runTx(cctx) })
		if !errors.Is(err, context.Canceled) || d != 100*time.Millisecond {
			t.Fatalf("Data with a cancelled context: %v after %v", err, d)
		}
		if conns, _ := fm.counts(); conns != 3 {
			t.Fatalf("%d milter connections, want 3 (a new one after each failure)", conns)
		}
	})
}

// TestMilterAbortAndHelo: a transaction reset before its end is aborted; a
// new EHLO is sent before the next MAIL; one milter connection serves
// several transactions.
func TestMilterAbortAndHelo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fm := newFakeMilter(t, nil)
		fm.protocol = 1 << 14 // SMFIP_NR_MAIL: no reply to MAIL
		m := fm.milter()
		ctx := context.Background()
		c := toolConnInfo()
		fs, _ := m.NewSession(ctx, c)
		tx := &Transaction{Conn: c, From: smtp.Path{}}
		if _, err := fs.Mail(ctx, tx); err != nil {
			t.Fatal(err)
		}
		fs.Reset(ctx)
		c.Hello = "other.example"
		if _, err := fs.Mail(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Rcpt(ctx, tx, toolPath("a@example.com")); err != nil {
			t.Fatal(err)
		}
		fs.Close()
		synctest.Wait()
		if _, closed := fm.counts(); closed != 1 {
			t.Fatalf("milter connection not closed")
		}
		var cmds []string
		for _, l := range strings.Split(strings.TrimSpace(fm.log()), "\n") {
			if !strings.HasPrefix(l, "D ") && !strings.HasPrefix(l, "O ") && !strings.HasPrefix(l, "C ") {
				cmds = append(cmds, l)
			}
		}
		want := `H "client.example"|M "<>"|A|H "other.example"|M "<>"|R "<a@example.com>"|A|Q`
		if got := strings.Join(cmds, "|"); got != want {
			t.Fatalf("commands:\n%s\nwant\n%s", got, want)
		}
		if conns, _ := fm.counts(); conns != 1 {
			t.Fatalf("%d connections", conns)
		}
	})
}

func TestMilterHeaderFields(t *testing.T) {
	var got []string
	for n, v := range milterHeaderFields([]byte("A: 1\r\nB:2\r\n  cont\r\n\tmore\r\nC :  x \r\nno colon\r\n\r\nbody: no\r\n")) {
		got = append(got, fmt.Sprintf("%s=%q", n, v))
	}
	want := `A="1" B="2\n  cont\n\tmore" C="x " no colon=""`
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s", strings.Join(got, " "))
	}
}
