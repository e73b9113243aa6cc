package filequeue_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/smtp"
)

// crashChildEnv, when set to a directory, makes the test binary run
// crashChild on it instead of the tests.
const crashChildEnv = "FILEQUEUE_CRASH_DIR"

// crashOptions are the options of the queue in the crash test: retries
// and back-off of a few milliseconds, so that messages cycle quickly.
func crashOptions() *queue.Options {
	return &queue.Options{
		Hostname: "crash.example",
		Schedule: &queue.Schedule{Initial: time.Millisecond, Max: time.Millisecond, DestinationMax: time.Millisecond, Jitter: -1},
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// crashContent is the content of the message that carries token.
func crashContent(token string) string {
	return "Subject: " + token + "\r\n\r\n" + strings.Repeat(token+"\r\n", 20)
}

// crashChild is the process the crash test kills. It opens the queue and
// enqueues and delivers messages until it is killed, reporting on stdout,
// one line per write:
//
//	R            the queue is open (first line)
//	E id token   Enqueue returned id for the message carrying token
//	L id r...    Lease returned these recipients of id
//	P id         Complete returned: recipient 0 delivered, 1 deferred
//	D id         Complete returned: the last recipient delivered
//	X id why     the content read back was wrong
//
// Each message has two recipients: the first lease delivers recipient 0
// and defers 1 by a millisecond, the second delivers 1.
func crashChild() int {
	q, err := filequeue.Open(os.Getenv(crashChildEnv), crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n")
		mu.Unlock()
	}
	say("R") // the queue is open
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for p := range 3 {
		go func() {
			for i := 0; i < 30; i++ {
				b := make([]byte, 8)
				rand.Read(b)
				token := hex.EncodeToString(b)
				env := &queue.Envelope{
					From: smtp.Path{Local: "s", Domain: "origin.example"},
					Recipients: []queue.Recipient{
						{To: smtp.Path{Local: "a", Domain: fmt.Sprintf("p%d-%d.example", p, i)}},
						{To: smtp.Path{Local: "b", Domain: "b.example"}, Options: smtp.RcptOptions{Notify: smtp.NotifyNever}},
					},
				}
				id, err := q.Enqueue(ctx, env, strings.NewReader(crashContent(token)))
				if err != nil {
					fail(err)
				}
				say("E %s %s", id, token)
			}
		}()
	}
	for range 3 {
		go func() {
			for {
				l, err := q.Lease(ctx, nil)
				if err != nil {
					fail(err)
				}
				say("L %s %s", l.ID(), strings.Trim(fmt.Sprint(l.Recipients), "[]"))
				rc, err := q.Open(ctx, l.ID())
				if err != nil {
					fail(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				subject, _, _ := strings.Cut(strings.TrimPrefix(string(b), "Subject: "), "\r\n")
				if err != nil || string(b) != crashContent(subject) {
					say("X %s %q %v", l.ID(), b, err)
				}
				// Deliver recipient 0, defer 1 while 0 is pending, then deliver 1.
				rs := l.Message.Recipients
				var outcomes []queue.Outcome
				delivered := 0
				for _, r := range rs {
					if r.State == queue.RecipientDelivered {
						delivered++
					}
				}
				for _, r := range l.Recipients {
					if r == 1 && rs[0].State == queue.RecipientPending {
						outcomes = append(outcomes, queue.TempFail(1, nil, time.Now().Add(time.Millisecond)))
						continue
					}
					outcomes = append(outcomes, queue.Delivered(r, ""))
					delivered++
				}
				if err := q.Complete(ctx, l, outcomes); err != nil {
					fail(err)
				}
				switch {
				case delivered == len(rs):
					say("D %s", l.ID())
				case rs[0].State == queue.RecipientPending && outcomes[0].Result == queue.ResultDelivered:
					say("P %s", l.ID())
				}
			}
		}()
	}
	select {}
}

// TestCrash kills a process that enqueues and delivers at 60 random
// points, and after each kill checks that the queue it left has every
// message whose Enqueue returned, exactly once and whole, and none of the
// recipients whose Complete returned.
func TestCrash(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs SIGKILL")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	kills := 60
	if testing.Short() {
		kills = 20
	}
	dir := t.TempDir()
	seed := mrand.Uint64()
	r := mrand.New(mrand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	type msgState struct {
		token     string
		leased    [2]bool // a lease of the recipient was reported: it may be delivered
		partial   bool    // recipient 0 reported delivered
		delivered bool    // both reported delivered: gone
	}
	acked := make(map[queue.ID]*msgState)
	seen := func(id queue.ID) *msgState {
		if acked[id] == nil {
			acked[id] = new(msgState) // enqueued without the child saying so
		}
		return acked[id]
	}
	var lines, leases int
	start := time.Now()
	for k := range kills {
		// Kill anywhere: one time in four counting from the start (before
		// or during recovery), otherwise counting from when the queue is
		// open, so that the child gets work done however slow the machine.
		fromStart := k%4 == 0
		delay := time.Duration(r.IntN(150)) * time.Millisecond
		if fromStart {
			delay = time.Duration(r.IntN(60)) * time.Millisecond
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		ready, read := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(read)
			br := bufio.NewReader(pipe)
			for first := true; ; first = false {
				line, err := br.ReadString('\n')
				if err != nil {
					if first {
						close(ready)
					}
					return // a partial last line is dropped
				}
				if first {
					close(ready)
					if line == "R\n" {
						continue
					}
				}
				stdout.WriteString(line)
			}
		}()
		if !fromStart {
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				t.Fatalf("kill %d: child did not open the queue in 30s", k)
			}
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		<-read
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != -1 { // -1: killed by a signal
			t.Fatalf("kill %d: child ended on its own: %v\n%s", k, err, stderr.Bytes())
		}

		// What the child reported, in order.
		sc := bufio.NewScanner(&stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			lines++
			id := queue.ID(f[1])
			switch f[0] {
			case "E":
				acked[id] = &msgState{token: f[2]}
			case "L":
				leases++
				ms := seen(id)
				for _, r := range f[2:] {
					if ms.delivered || ms.partial && r == "0" {
						t.Errorf("kill %d: %s leased again (%v) after its delivery was reported", k, id, f[2:])
					}
					ms.leased[r[0]-'0'] = true
				}
			case "P":
				seen(id).partial = true
			case "D":
				seen(id).delivered = true
			case "X":
				t.Errorf("kill %d: child read wrong content: %s", k, sc.Text())
			}
		}

		// What the queue kept.
		q := openQueue(t, dir, crashOptions())
		tokens := make(map[string]queue.ID)
		for m, err := range q.List(ctx, nil) {
			if err != nil {
				t.Fatalf("kill %d: List: %v", k, err)
			}
			c := content(t, q, m.ID)
			subject, _, _ := strings.Cut(strings.TrimPrefix(c, "Subject: "), "\r\n")
			if c != crashContent(subject) {
				t.Errorf("kill %d: %s has content %q", k, m.ID, c)
			}
			if other, dup := tokens[subject]; dup {
				t.Errorf("kill %d: message %s is queued twice, as %s and %s", k, subject, other, m.ID)
			}
			tokens[subject] = m.ID
			ms := acked[m.ID]
			switch {
			case ms == nil:
				// Enqueued, but killed before the child could say so.
			case ms.token != "" && ms.token != subject:
				t.Errorf("kill %d: %s carries %s, want %s", k, m.ID, subject, ms.token)
			case ms.delivered:
				t.Errorf("kill %d: %s is still queued after its delivery was reported", k, m.ID)
			case ms.partial && m.Recipients[0].State != queue.RecipientDelivered:
				t.Errorf("kill %d: %s recipient 0 is %v after its delivery was reported", k, m.ID, m.Recipients[0].State)
			}
		}
		for id, ms := range acked {
			// A message whose recipients were all leased may be gone
			// without the child having said so: killed after Complete.
			if !ms.delivered && ms.token != "" && tokens[ms.token] != id && !(ms.leased[0] && ms.leased[1]) {
				t.Errorf("kill %d: acknowledged message %s (%s) is lost", k, id, ms.token)
			}
		}
		q.Close()
		if q, _ := os.ReadDir(filepath.Join(dir, "quarantine")); len(q) > 0 {
			t.Fatalf("kill %d: %d files quarantined", k, len(q))
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	var n, gone int
	for _, ms := range acked {
		if ms.token != "" {
			n++
		}
		if ms.delivered {
			gone++
		}
	}
	t.Logf("%d kills in %v: %d acknowledged enqueues, %d leases, %d deliveries reported, %d report lines",
		kills, time.Since(start).Round(time.Millisecond), n, leases, gone, lines)
	if n == 0 || gone == 0 {
		t.Error("the child got nothing done: kill delays too short for this machine?")
	}
}
