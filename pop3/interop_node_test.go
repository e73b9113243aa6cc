package pop3_test

// Interop with Node's node-pop3 (installed from npm, see
// internal/interop/node/package.json): implicit TLS, USER/PASS, STAT, LIST,
// UIDL, RETR of every message, DELE and QUIT, against memstore and maildir.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
)

func TestInteropNodePOP3(t *testing.T) {
	t.Parallel()
	modules := interop.NodeModules(t, "node-pop3")
	forEachStore(t, func(t *testing.T, open openStore) {
		testInteropNodePOP3(t, modules, open)
	})
}

func testInteropNodePOP3(t *testing.T, modules string, open openStore) {
	is := startInterop(t, open, nil)
	uidValidity := inboxUIDValidity(t, is.st, "alice")
	script := filepath.Join("testdata", "interop", "node_pop3_client.js")
	out := string(interop.Run(t, nil, []string{"NODE_PATH=" + modules}, "node", script, is.host, is.tlsPort))
	var res struct {
		Stat, Dele, Quit string
		List, UIDL       [][]string
		Retr             []string
	}
	i := strings.Index(out, "RESULT ")
	if i < 0 {
		t.Fatalf("no result from node-pop3:\n%s", clip(out))
	}
	line, _, _ := strings.Cut(out[i+len("RESULT "):], "\n")
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("node-pop3 result: %v\n%s", err, clip(out))
	}

	total := 0
	var wantList, wantUIDL [][]string
	for i, m := range interopMessages {
		total += len(m)
		n := strconv.Itoa(i + 1)
		wantList = append(wantList, []string{n, strconv.Itoa(len(m))})
		wantUIDL = append(wantUIDL, []string{n, fmt.Sprintf("%08X%08X", i+1, uidValidity)})
	}
	if want := fmt.Sprintf("%d %d", len(interopMessages), total); res.Stat != want {
		t.Errorf("STAT %q, want %q", res.Stat, want)
	}
	if !slices.EqualFunc(res.List, wantList, slices.Equal) {
		t.Errorf("LIST %q, want %q", res.List, wantList)
	}
	if !slices.EqualFunc(res.UIDL, wantUIDL, slices.Equal) {
		t.Errorf("UIDL %q, want %q", res.UIDL, wantUIDL)
	}
	// node-pop3 leaves the dot-stuffing in place and drops the CRLF
	// before the terminating "." (the last line's own): undo both.
	got := make([]string, len(res.Retr))
	for i, r := range res.Retr {
		got[i] = unstuff(r + "\r\n")
	}
	checkDownloaded(t, got, interopMessages, false)
	if res.Dele != "Message 2 deleted" {
		t.Errorf("DELE 2: %q", res.Dele)
	}
	if want := "pop.interop.test POP3 server signing off (2 messages left)"; res.Quit != want {
		t.Errorf("QUIT: %q, want %q", res.Quit, want)
	}
	if left := is.left(t); !slices.Equal(left, []string{interopMessages[0], interopMessages[2]}) {
		t.Errorf("INBOX after DELE 2 and QUIT has %d messages, want messages 1 and 3", len(left))
	}
}

// unstuff undoes the dot-stuffing of RFC 1939 §3: a line that starts with
// "." had one more prepended.
func unstuff(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(strings.TrimPrefix(line, "."))
	}
	return b.String()
}

// inboxUIDValidity returns the UIDVALIDITY of user's INBOX.
func inboxUIDValidity(t *testing.T, st mailbox.Store, user string) uint32 {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, &mailbox.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	return mb.UIDValidity()
}
