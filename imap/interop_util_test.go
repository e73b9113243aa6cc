package imap_test

// Helpers shared by the interop tests with mail synchronisers (mbsync,
// mutt, imapflow): the stores they run against, and a view of a mailbox
// as "subject → flags" on the server side and in a local Maildir, so that
// tests compare what was stored, not what the client printed.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
)

// interopStore is a Store implementation the interop tests run against.
type interopStore struct {
	name string
	open func(t *testing.T) mailbox.Store
}

// interopStores returns every Store implementation the interop tests run
// against.
func interopStores() []interopStore {
	return []interopStore{
		{"memstore", func(t *testing.T) mailbox.Store { return memstore.New(nil) }},
		{"maildir", func(t *testing.T) mailbox.Store {
			st, err := maildir.Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	}
}

// forEachStore runs f as a subtest per store, with a server over it.
func forEachStore(t *testing.T, f func(t *testing.T, is *interopServer)) {
	for _, s := range interopStores() {
		t.Run(s.name, func(t *testing.T) {
			f(t, startInteropOn(t, false, s.open(t)))
		})
	}
}

// maildirLetters maps system flags to Maildir info letters (the
// "Experimental semantics" of https://cr.yp.to/proto/maildir.html), in
// the ASCII order Maildir requires.
var maildirLetters = []struct {
	letter byte
	flag   mailbox.Flags
}{
	{'D', mailbox.FlagDraft},
	{'F', mailbox.FlagFlagged},
	{'R', mailbox.FlagAnswered},
	{'S', mailbox.FlagSeen},
	{'T', mailbox.FlagDeleted},
}

// letters returns flags as Maildir info letters, e.g. "FS".
func letters(f mailbox.Flags) string {
	var b []byte
	for _, l := range maildirLetters {
		if f&l.flag != 0 {
			b = append(b, l.letter)
		}
	}
	return string(b)
}

// boxMessage is one message of a mailbox as the interop tests see it.
type boxMessage struct {
	UID     mailbox.UID
	Flags   string // Maildir letters
	Body    string // text after the header, CRLF as stored
	Path    string // file in a local Maildir
	Subject string
}

// splitMessage returns a message's Subject and its body.
func splitMessage(raw []byte) (subject, body string) {
	head, b, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !bytes.Contains(raw, []byte("\r\n")) {
		head, b, _ = bytes.Cut(raw, []byte("\n\n"))
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.EqualFold(k, "Subject") {
			subject = strings.TrimSpace(v)
		}
	}
	return subject, string(b)
}

// serverBox returns the messages of a user's mailbox by Subject, failing
// on two messages with one Subject.
func serverBox(t *testing.T, st mailbox.Store, user, box string) map[string]boxMessage {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, box, &mailbox.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	out := make(map[string]boxMessage)
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(raw)) != m.Size {
			t.Errorf("UID %d: %d bytes served, size %d", m.UID, len(raw), m.Size)
		}
		subj, body := splitMessage(raw)
		if _, dup := out[subj]; dup {
			t.Errorf("server %s/%s: two messages with Subject %q", user, box, subj)
		}
		out[subj] = boxMessage{UID: m.UID, Flags: letters(m.Flags), Body: body, Subject: subj}
	}
	return out
}

// maildirBox returns the messages of a local Maildir folder (cur and new)
// by Subject.
func maildirBox(t *testing.T, dir string) map[string]boxMessage {
	t.Helper()
	out := make(map[string]boxMessage)
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(dir, sub, e.Name())
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			subj, body := splitMessage(raw)
			var fl string
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				fl = info
			}
			if _, dup := out[subj]; dup {
				t.Errorf("Maildir %s: two messages with Subject %q", dir, subj)
			}
			out[subj] = boxMessage{Flags: fl, Body: body, Path: path, Subject: subj}
		}
	}
	return out
}

// compareBox reports every difference between got and want (Subject →
// flags letters), and checks each message's body is the one the test
// generated for its Subject.
func compareBox(t *testing.T, where string, got map[string]boxMessage, want map[string]string) {
	t.Helper()
	var diffs []string
	for subj, fl := range want {
		m, ok := got[subj]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %q", subj))
		case m.Flags != fl:
			diffs = append(diffs, fmt.Sprintf("%q has flags %q, want %q", subj, m.Flags, fl))
		case m.Body != bodyOf(subj):
			diffs = append(diffs, fmt.Sprintf("%q has body %q", subj, m.Body))
		}
	}
	for subj := range got {
		if _, ok := want[subj]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %q", subj))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Fatalf("%s: %d messages, want %d:\n%s", where, len(got), len(want), strings.Join(diffs, "\n"))
	}
}

// bodyOf is the body of the test message with Subject subj, CRLF.
func bodyOf(subj string) string {
	return "Body of " + subj + ".\r\nSecond line, with \xc3\xa9 in UTF-8.\r\n"
}

// testMessage is a test message with Subject subj, LF line endings (as
// deliver takes them).
func testMessage(subj string) string {
	return "From: Sender <sender@example.com>\nTo: alice@example.org\nSubject: " + subj +
		"\nDate: Tue, 1 Apr 2025 10:00:00 +0000\nMessage-ID: <" + subj + "@example.com>\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
		strings.ReplaceAll(bodyOf(subj), "\r\n", "\n")
}

// flagsOf turns Maildir letters into system flags.
func flagsOf(s string) mailbox.Flags {
	var f mailbox.Flags
	for _, l := range maildirLetters {
		if strings.IndexByte(s, l.letter) >= 0 {
			f |= l.flag
		}
	}
	return f
}

// updateFlags changes flags on the server side, as another client would.
func updateFlags(t *testing.T, st mailbox.Store, user, box string, uids []mailbox.UID, op mailbox.FlagOp, fl mailbox.Flags) {
	t.Helper()
	withBox(t, st, user, box, func(mb mailbox.Mailbox) {
		if _, err := mb.UpdateFlags(context.Background(), mailbox.UIDSetOf(uids...), &mailbox.FlagUpdate{Op: op, Flags: fl}); err != nil {
			t.Fatal(err)
		}
	})
}

// expunge sets \Deleted on uids and expunges them on the server side.
func expunge(t *testing.T, st mailbox.Store, user, box string, uids []mailbox.UID) {
	t.Helper()
	updateFlags(t, st, user, box, uids, mailbox.FlagsAdd, mailbox.FlagDeleted)
	withBox(t, st, user, box, func(mb mailbox.Mailbox) {
		if _, err := mb.Expunge(context.Background(), mailbox.UIDSetOf(uids...)); err != nil {
			t.Fatal(err)
		}
	})
}

func withBox(t *testing.T, st mailbox.Store, user, box string, f func(mb mailbox.Mailbox)) {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, box, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	f(mb)
}
