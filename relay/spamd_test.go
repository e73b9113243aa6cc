package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/smtp"
)

// fakeSpamd answers spamd requests over net.Pipe with a canned response,
// and keeps the requests it got.
type fakeSpamd struct {
	mu       sync.Mutex
	response string // "" means never answer
	requests []string
	dials    int
}

func (f *fakeSpamd) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, s := net.Pipe()
	f.mu.Lock()
	f.dials++
	resp := f.response
	f.mu.Unlock()
	go func() {
		defer s.Close()
		br := bufio.NewReader(s)
		var req strings.Builder
		length := -1
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			req.WriteString(line)
			if n, ok := strings.CutPrefix(line, "Content-length: "); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(n))
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		req.Write(body)
		f.mu.Lock()
		f.requests = append(f.requests, req.String())
		f.mu.Unlock()
		if resp == "" {
			io.Copy(io.Discard, s) // until the client gives up
			return
		}
		io.WriteString(s, resp)
	}()
	return c, nil
}

func spamdResponse(spam string, headers string) string {
	return "SPAMD/1.1 0 EX_OK\r\nContent-length: " + strconv.Itoa(len(headers)) + "\r\nSpam: " + spam + "\r\n\r\n" + headers
}

const spamdHeaders = "Received: from localhost by mx.example\r\n\twith SpamAssassin (version 4.0.1);\r\n\tWed, 02 Dec 2026 15:45:49 +0000\r\n" +
	"Subject: x\r\nX-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-25) on mx.example\r\nX-Spam-Flag: YES\r\nX-Spam-Level: *******\r\n" +
	"X-Spam-Status: Yes, score=7.3 required=5.0 tests=GTUBE,MISSING_DATE,\r\n\tMISSING_FROM autolearn=disabled version=4.0.1\r\n" +
	"MIME-Version: 1.0\r\n\r\n"

func TestSpamdVerdicts(t *testing.T) {
	msg := "Subject: x\r\n\r\nbody\r\n"
	spamFields := []Field{
		{"X-Spam-Checker-Version", "SpamAssassin 4.0.1 (2024-03-25) on mx.example"},
		{"X-Spam-Flag", "YES"},
		{"X-Spam-Level", "*******"},
		{"X-Spam-Status", "Yes, score=7.3 required=5.0 tests=GTUBE,MISSING_DATE,\n\tMISSING_FROM autolearn=disabled version=4.0.1"},
	}
	for _, tc := range []struct {
		name     string
		sd       Spamd
		response string
		want     string // the Verdict's action and reply, or "error"
		fields   []Field
	}{
		{"spam is quarantined", Spamd{}, spamdResponse("True ; 7.3 / 5.0", spamdHeaders), "quarantine", spamFields},
		{"spam rejected", Spamd{SpamAction: ActionReject}, spamdResponse("True ; 7.3 / 5.0", spamdHeaders), "reject 550 5.7.1 Message rejected as spam", spamFields},
		{"reject score reached", Spamd{RejectScore: 7, Reply: &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "spam"}}, spamdResponse("Yes ; 7.3 / 5.0", spamdHeaders), "reject 554 5.7.1 spam", spamFields},
		{"reject score not reached", Spamd{RejectScore: 15}, spamdResponse("True ; 7.3 / 5.0", spamdHeaders), "quarantine", spamFields},
		{"ham", Spamd{}, spamdResponse("False ; 1.2 / 5.0", "Subject: x\r\nX-Spam-Status: No, score=1.2 required=5.0 tests=MISSING_DATE\r\n\r\n"), "default",
			[]Field{{"X-Spam-Status", "No, score=1.2 required=5.0 tests=MISSING_DATE"}}},
		{"no fields from spamd", Spamd{}, "SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.5 / 5.0\r\n\r\n", "default",
			[]Field{{"X-Spam-Status", "No, score=-0.5 required=5.0"}}},
		{"spamd error", Spamd{}, "SPAMD/1.0 76 Bad header line: x\r\n", "error", nil},
		{"spamd error, OnError accept", Spamd{OnError: ActionAccept}, "SPAMD/1.0 76 Bad header line: x\r\n", "default", nil},
		{"spamd error, OnError quarantine", Spamd{OnError: ActionQuarantine}, "SPAMD/1.0 76 Bad header line: x\r\n", "quarantine", nil},
		{"garbage", Spamd{}, "HTTP/1.0 200 OK\r\n\r\n", "error", nil},
		{"no Spam header", Spamd{}, "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n", "error", nil},
		{"bad score", Spamd{}, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5.0\r\n\r\n", "error", nil},
		{"short body", Spamd{}, "SPAMD/1.1 0 EX_OK\r\nContent-length: 100\r\nSpam: True ; 7 / 5.0\r\n\r\nX-Spam-Flag: YES\r\n", "error", nil},
		{"endless line", Spamd{}, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 7 / 5.0" + strings.Repeat(" ", 2000) + "\r\n\r\n", "error", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeSpamd{response: tc.response}
				sd := tc.sd
				sd.Network, sd.Address, sd.DialContext, sd.Logger = "tcp", "spamd:783", f.dial, slog.New(slog.DiscardHandler)
				v, err := toolRunData(t, &sd, msg)
				if got := toolVerdict(v, err); got != tc.want {
					t.Errorf("got %s, want %s", got, tc.want)
				}
				if fmt.Sprint(v.Headers) != fmt.Sprint(tc.fields) {
					t.Errorf("fields %q, want %q", v.Headers, tc.fields)
				}
			})
		})
	}
}

// toolRunData runs a Filter's Data stage on a message.
func toolRunData(t *testing.T, f Filter, raw string) (Verdict, error) {
	t.Helper()
	ctx := context.Background()
	c := toolConnInfo()
	fs, err := f.NewSession(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	tx := &Transaction{Conn: c, From: toolPath("s@remote.example"), Rcpts: []smtp.Path{toolPath("alice@example.com")}}
	if v, err := fs.Mail(ctx, tx); err != nil || v.Action != ActionDefault {
		t.Fatalf("Mail: %+v %v", v, err)
	}
	if v, err := fs.Rcpt(ctx, tx, tx.Rcpts[0]); err != nil || v.Action != ActionDefault {
		t.Fatalf("Rcpt: %+v %v", v, err)
	}
	v, err := fs.Data(ctx, tx, toolMessage(t, raw))
	fs.Reset(ctx)
	return v, err
}

func toolVerdict(v Verdict, err error) string {
	if err != nil {
		return "error"
	}
	s := v.Action.String()
	if v.Reply != nil {
		s += fmt.Sprintf(" %d %s %s", v.Reply.Code, v.Reply.EnhancedCode, v.Reply.Message)
	}
	return s
}

// TestSpamdRequest checks the request byte for byte.
func TestSpamdRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSpamd{response: spamdResponse("False ; 0.0 / 5.0", "\r\n")}
		sd := &Spamd{Network: "tcp", Address: "spamd:783", DialContext: f.dial, User: "alice"}
		raw := "Received: from client.example\r\n\tby mx.example\r\nSubject: x\r\n\r\nline 1\r\nline 2\r\n"
		if _, err := toolRunData(t, sd, raw); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("HEADERS SPAMC/1.5\r\nContent-length: %d\r\nUser: alice\r\n\r\n%s", len(raw), raw)
		if len(f.requests) != 1 || f.requests[0] != want {
			t.Fatalf("request %q\nwant %q", f.requests, want)
		}
	})
}

// TestSpamdLimits: a message over MaxSize is not sent; a spamd that does
// not answer fails the check after Timeout, or at the context's deadline.
func TestSpamdLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSpamd{response: spamdResponse("True ; 9 / 5.0", "\r\n")}
		sd := &Spamd{Network: "tcp", Address: "spamd:783", DialContext: f.dial, MaxSize: 100}
		v, err := toolRunData(t, sd, "Subject: x\r\n\r\n"+strings.Repeat("x", 100))
		if err != nil || v.Action != ActionDefault || v.Headers != nil || f.dials != 0 {
			t.Fatalf("big message: %+v %v, %d dials", v, err, f.dials)
		}
		sd.MaxSize = 0 // 500 KiB
		if v, err := toolRunData(t, sd, "Subject: x\r\n\r\n"+strings.Repeat("x\r\n", 100<<10)); err != nil || v.Action != ActionQuarantine {
			t.Fatalf("300 KiB message: %+v %v", v, err)
		}
		if v, err := toolRunData(t, sd, "Subject: x\r\n\r\n"+strings.Repeat("x\r\n", 200<<10)); err != nil || v.Action != ActionDefault || f.dials != 1 {
			t.Fatalf("600 KiB message: %+v %v, %d dials", v, err, f.dials)
		}

		f.response = ""
		sd.Timeout = 3 * time.Second
		start := time.Now()
		_, err = toolRunData(t, sd, "Subject: x\r\n\r\nbody\r\n")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) != 3*time.Second {
			t.Fatalf("silent spamd: %v after %v", err, time.Since(start))
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		fs, _ := sd.NewSession(ctx, toolConnInfo())
		_, err = fs.Data(ctx, &Transaction{Conn: toolConnInfo()}, toolMessage(t, "Subject: x\r\n\r\nbody\r\n"))
		// The connection's deadline is the context's: either may report it.
		if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) || time.Since(start) != time.Second {
			t.Fatalf("silent spamd, context deadline 1s: %v after %v", err, time.Since(start))
		}
	})
}
