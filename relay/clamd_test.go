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
)

const testEICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// fakeClamd speaks clamd's INSTREAM over net.Pipe: it checks the framing,
// keeps the chunk sizes and the stream, and answers with reply(stream).
type fakeClamd struct {
	t *testing.T
	// limit is StreamMaxLength: past it, the size-limit reply and close.
	limit int
	// reply gives the answer ("" means none: the fake waits for the close).
	reply func(stream []byte) string

	mu      sync.Mutex
	dials   int
	chunks  []int
	streams [][]byte
	errs    []string
}

func (f *fakeClamd) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, s := net.Pipe()
	f.mu.Lock()
	f.dials++
	f.mu.Unlock()
	go f.serve(s)
	return c, nil
}

func (f *fakeClamd) fail(format string, args ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeClamd) serve(s net.Conn) {
	defer s.Close()
	cmd := make([]byte, len("zINSTREAM\x00"))
	if _, err := io.ReadFull(s, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
		f.fail("command %q %v", cmd, err)
		return
	}
	var stream []byte
	for {
		var l [4]byte
		if _, err := io.ReadFull(s, l[:]); err != nil {
			f.fail("chunk length: %v", err)
			return
		}
		n := binary.BigEndian.Uint32(l[:])
		f.mu.Lock()
		f.chunks = append(f.chunks, int(n))
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if f.limit > 0 && len(stream)+int(n) > f.limit {
			io.WriteString(s, "INSTREAM size limit exceeded. ERROR\x00")
			return
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(s, chunk); err != nil {
			f.fail("chunk: %v", err)
			return
		}
		stream = append(stream, chunk...)
	}
	f.mu.Lock()
	f.streams = append(f.streams, stream)
	f.mu.Unlock()
	reply := f.reply(stream)
	if reply == "" {
		io.Copy(io.Discard, s)
		return
	}
	io.WriteString(s, reply)
}

func clamdVerdict(stream []byte) string {
	if bytes.Contains(stream, []byte(testEICAR)) {
		return "stream: Eicar-Signature FOUND\x00"
	}
	return "stream: OK\x00"
}

// TestClamdStream checks the INSTREAM framing byte for byte on a message
// of more than two chunks.
func TestClamdStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeClamd{t: t, reply: clamdVerdict}
		cd := &Clamd{Network: "unix", Address: "/run/clamd.ctl", DialContext: f.dial, Scanned: "ClamAV at mx.example"}
		raw := "Subject: x\r\n\r\n" + strings.Repeat("0123456789abcde\r\n", 9000) // 153014 octets
		v, err := toolRunData(t, cd, raw)
		if err != nil || v.Action != ActionDefault || fmt.Sprint(v.Headers) != "[{X-Virus-Scanned ClamAV at mx.example}]" {
			t.Fatalf("clean message: %+v %v", v, err)
		}
		if len(f.errs) > 0 {
			t.Fatal(f.errs)
		}
		if fmt.Sprint(f.chunks) != fmt.Sprint([]int{65536, 65536, len(raw) - 2*65536, 0}) {
			t.Errorf("chunks %v", f.chunks)
		}
		if len(f.streams) != 1 || string(f.streams[0]) != raw {
			t.Errorf("stream differs from the message")
		}
	})
}

func TestClamdVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cd    Clamd
		reply string // "" means clamdVerdict
		limit int
		msg   string
		want  string
	}{
		{"clean", Clamd{}, "", 0, "hello", "default"},
		{"virus", Clamd{}, "", 0, testEICAR, "reject 554 5.7.1 Virus found: Eicar-Signature"},
		{"virus quarantined", Clamd{VirusAction: ActionQuarantine}, "", 0, testEICAR, "quarantine"},
		{"virus discarded", Clamd{VirusAction: ActionDiscard}, "", 0, testEICAR, "discard"},
		{"reply without NUL", Clamd{}, "stream: Win.Test.EICAR_HDB-1 FOUND\n", 0, testEICAR, "reject 554 5.7.1 Virus found: Win.Test.EICAR_HDB-1"},
		{"odd virus name", Clamd{}, "stream: Bad\r\x01Name FOUND\x00", 0, testEICAR, "reject 554 5.7.1 Virus found: Bad??Name"},
		{"size limit: let through", Clamd{}, "", 1000, strings.Repeat("x", 2000), "default"},
		{"size limit: reject", Clamd{TooBig: ActionReject}, "", 1000, strings.Repeat("x", 2000), "reject 552 5.3.4 Message too large to scan"},
		{"size limit: tempfail", Clamd{TooBig: ActionTempfail}, "", 1000, strings.Repeat("x", 2000), "tempfail 452 4.3.4 Message too large to scan"},
		{"size limit, large message", Clamd{TooBig: ActionQuarantine}, "", 100 << 10, strings.Repeat("x", 1<<20), "quarantine"},
		{"clamd error", Clamd{}, "stream: Can't allocate memory ERROR\x00", 0, "hello", "error"},
		{"clamd error, OnError accept", Clamd{OnError: ActionAccept}, "stream: Can't allocate memory ERROR\x00", 0, "hello", "default"},
		{"clamd error, OnError reject", Clamd{OnError: ActionReject}, "stream: Can't allocate memory ERROR\x00", 0, "hello", "reject"},
		{"garbage", Clamd{}, "HTTP/1.0 400 Bad Request\r\n\r\n", 0, "hello", "error"},
		{"empty name", Clamd{}, "stream:  FOUND\x00", 0, testEICAR, "error"},
		{"no reply", Clamd{}, "\x00", 0, "hello", "error"},
		{"endless reply", Clamd{}, strings.Repeat("stream: ", 1000), 0, "hello", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeClamd{t: t, limit: tc.limit, reply: clamdVerdict}
				if tc.reply != "" {
					f.reply = func([]byte) string { return tc.reply }
				}
				cd := tc.cd
				cd.Network, cd.Address, cd.DialContext, cd.Logger = "tcp", "clamd:3310", f.dial, slog.New(slog.DiscardHandler)
				v, err := toolRunData(t, &cd, "Subject: x\r\n\r\n"+tc.msg+"\r\n")
				if got := toolVerdict(v, err); got != tc.want {
					t.Errorf("got %s (%v), want %s", got, err, tc.want)
				}
				if v.Headers != nil {
					t.Errorf("fields %v", v.Headers)
				}
			})
		})
	}
}

// TestClamdLimits: a message over MaxSize is not sent; a clamd that does
// not answer fails the scan after Timeout or at the context's end.
func TestClamdLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeClamd{t: t, reply: clamdVerdict}
		cd := &Clamd{Network: "tcp", Address: "clamd:3310", DialContext: f.dial, MaxSize: 100, TooBig: ActionTempfail, Logger: slog.New(slog.DiscardHandler)}
		v, err := toolRunData(t, cd, "Subject: x\r\n\r\n"+strings.Repeat("x", 100))
		if got := toolVerdict(v, err); got != "tempfail 452 4.3.4 Message too large to scan" || f.dials != 0 {
			t.Fatalf("over MaxSize: %s, %d dials", got, f.dials)
		}

		f.reply = func([]byte) string { return "" }
		cd.MaxSize, cd.Timeout = 0, 10*time.Second
		start := time.Now()
		_, err = toolRunData(t, cd, "Subject: x\r\n\r\n"+testEICAR+"\r\n")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) != 10*time.Second {
			t.Fatalf("silent clamd: %v after %v", err, time.Since(start))
		}

		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		fs, _ := cd.NewSession(ctx, toolConnInfo())
		_, err = fs.Data(ctx, &Transaction{Conn: toolConnInfo()}, toolMessage(t, "Subject: x\r\n\r\nbody\r\n"))
		if !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Fatalf("silent clamd, cancelled after 1s: %v after %v", err, time.Since(start))
		}

		// clamd down.
		cd.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		if _, err := toolRunData(t, cd, "Subject: x\r\n\r\nbody\r\n"); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("clamd down: %v", err)
		}
	})
}
