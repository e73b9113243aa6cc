package maildir_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

// The crash test re-executes the test binary as a child that delivers in
// a loop and prints each acknowledged delivery; the parent kills it with
// SIGKILL at random moments, reopens the store and checks that every
// acknowledged delivery is there, intact, once, and that the index is
// consistent.
const crashEnv = "POSTYARD_MAILDIR_CRASH_CHILD"

func crashMessage(id string) string {
	return "From: child@example.org\r\nTo: alice@example.org, bob@example.org\r\nSubject: " + id + "\r\n\r\n" +
		strings.Repeat("body of "+id+" ", 200) + "\r\n"
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	run := os.Getenv(crashEnv + "_RUN")
	st, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	ack := func(id string) {
		mu.Lock()
		os.Stdout.WriteString("ack " + id + "\n")
		mu.Unlock()
	}
	os.Stdout.WriteString("ready\n")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			u, err := st.User(ctx, "alice")
			if err != nil {
				panic(err)
			}
			mb, err := u.Open(ctx, mailbox.Inbox, nil)
			if err != nil {
				panic(err)
			}
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s-%d-%d", run, g, i)
				switch i % 3 {
				case 0: // two recipients in one delivery
					errs, err := st.Deliver(ctx, strings.NewReader(crashMessage(id)), []mailbox.Recipient{{User: "alice"}, {User: "bob"}})
					if err != nil || errs[0] != nil || errs[1] != nil {
						panic(fmt.Sprint(err, errs))
					}
				case 1:
					m, err := mb.Append(ctx, strings.NewReader(crashMessage(id)), &mailbox.AppendOptions{Keywords: []string{"k" + run}})
					if err != nil {
						panic(err)
					}
					// Flag changes rename files and write records too.
					if _, err := mb.UpdateFlags(ctx, mailbox.UIDSetOf(m.UID), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen}); err != nil {
						panic(err)
					}
				case 2:
					errs, err := st.Deliver(ctx, strings.NewReader(crashMessage(id)), []mailbox.Recipient{{User: "alice"}})
					if err != nil || errs[0] != nil {
						panic(fmt.Sprint(err, errs))
					}
				}
				ack(id)
			}
		})
	}
	wg.Wait()
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	acked := map[string]bool{} // id -> delivered to bob too
	deadline := time.Now().Add(40 * time.Second)
	kills := 0
	for run := 0; kills < 60 && time.Now().Before(deadline); run++ {
		cmd, lines := startChild(t, "TestCrashChild", crashEnv+"="+dir, fmt.Sprintf("%s_RUN=%d", crashEnv, run))
		// Kill at a random moment: sometimes while the store is still
		// recovering, mostly in the middle of deliveries.
		timer := time.NewTimer(time.Duration(rand.IntN(120)) * time.Millisecond)
		killed := false
		for !killed {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("run %d: child exited on its own: %v", run, cmd.Wait())
				}
				if id, ok := strings.CutPrefix(l, "ack "); ok {
					acked[id] = true
				}
			case <-timer.C:
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		for l := range lines { // what was printed before the kill
			if id, ok := strings.CutPrefix(l, "ack "); ok {
				acked[id] = true
			}
		}
		cmd.Wait()
		kills++
		if kills%10 == 0 || kills == 60 {
			checkCrashStore(t, dir, acked)
		}
	}
	if kills < 50 {
		t.Fatalf("only %d kills in the time limit", kills)
	}
	checkCrashStore(t, dir, acked)
	t.Logf("%d kills, %d acknowledged deliveries", kills, len(acked))
}

// checkCrashStore reopens the store and checks every acknowledged
// delivery.
func checkCrashStore(t *testing.T, dir string, acked map[string]bool) {
	t.Helper()
	st, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	for _, user := range []string{"alice", "bob"} {
		u, err := st.User(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := u.Open(ctx, mailbox.Inbox, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, err := mb.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]int{}
		var last mailbox.UID
		var size int64
		n := 0
		for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.UID <= last || m.ModSeq > status.HighestModSeq || m.UID >= status.UIDNext {
				t.Fatalf("%s: UID %d after %d (status %+v)", user, m.UID, last, status)
			}
			last = m.UID
			n++
			size += m.Size
			id := m.Metadata.Envelope.Subject
			c, err := mb.Open(ctx, m.UID)
			if err != nil {
				t.Fatalf("%s UID %d: %v", user, m.UID, err)
			}
			b, err := io.ReadAll(c)
			c.Close()
			if err != nil || string(b) != crashMessage(id) || int64(len(b)) != m.Size {
				t.Fatalf("%s UID %d (%s): damaged: %d bytes, size %d, %v", user, m.UID, id, len(b), m.Size, err)
			}
			found[id]++
		}
		if n != status.Messages || size != status.Size {
			t.Fatalf("%s: listed %d messages of %d bytes, status %+v", user, n, size, status)
		}
		for id := range acked {
			parts := strings.Split(id, "-")
			i := parts[2]
			toBob := i != "" && mustAtoi(i)%3 == 0
			if user == "bob" && !toBob {
				continue
			}
			if found[id] != 1 {
				t.Fatalf("%s: acknowledged delivery %s found %d times", user, id, found[id])
			}
		}
		for id, k := range found {
			if k != 1 {
				t.Fatalf("%s: %s stored %d times", user, id, k)
			}
		}
		mb.Close()
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
