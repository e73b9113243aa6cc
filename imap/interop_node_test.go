package imap_test

// Interop with Node's imapflow (the IMAP client of EmailEngine and many
// Node.js apps): STARTTLS, ENABLE CONDSTORE/QRESYNC, FETCH of every kind
// of item, STORE with UNCHANGEDSINCE, FETCH CHANGEDSINCE, SEARCH, IDLE
// woken by delivery, flag changes and expunges from elsewhere, and a
// QRESYNC SELECT after changes made while the client was away.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
)

const imapflowScript = `
const { ImapFlow } = require('imapflow');
const fs = require('fs');
const readline = require('readline');
const [host, port, ca] = process.argv.slice(1);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(what) {
	console.log('WAIT ' + what);
	const { value } = await lines.next();
	if (value !== 'go') throw new Error('unexpected reply ' + value);
}
function out(name, v) {
	console.log('RESULT ' + name + ' ' + JSON.stringify(v, (k, x) =>
		typeof x === 'bigint' ? Number(x) : x instanceof Set ? [...x].sort() : x));
}
async function waitFor(f, what) {
	for (let i = 0; i < 500 && !f(); i++) await new Promise(r => setTimeout(r, 10));
	if (!f()) throw new Error('timed out waiting for ' + what);
}
function client() {
	return new ImapFlow({ host, port: +port, secure: false, auth: { user: 'alice', pass: 'pass' },
		tls: { ca: [fs.readFileSync(ca)] }, logger: false, qresync: true });
}

(async () => {
	let c = client();
	await c.connect();
	out('conn', { secure: !!c.secureConnection || !!(c.socket && c.socket.encrypted), enabled: [...c.enabled].sort() });
	let mb = await c.mailboxOpen('INBOX');
	out('open', { exists: mb.exists, uidValidity: mb.uidValidity, uidNext: mb.uidNext, highestModseq: mb.highestModseq });

	let msgs = [];
	for await (let m of c.fetch('1:*', { uid: true, flags: true, envelope: true, source: true, bodyStructure: true,
		size: true, internalDate: true, headers: ['subject'], bodyParts: ['1'] })) {
		msgs.push({ seq: m.seq, uid: m.uid, flags: m.flags, subject: m.envelope.subject,
			from: m.envelope.from[0].address, messageId: m.envelope.messageId, size: m.size,
			sourceLen: m.source.length, source: m.source.toString('utf8'),
			headers: m.headers.toString(), part1: m.bodyParts.get('1').toString('utf8'),
			type: m.bodyStructure.type, charset: m.bodyStructure.parameters && m.bodyStructure.parameters.charset,
			modseq: m.modseq, date: m.internalDate.toISOString() });
	}
	out('fetch', msgs);
	let dl = await c.download('2', '1');
	let chunks = [];
	for await (let ch of dl.content) chunks.push(ch);
	out('download', Buffer.concat(chunks).toString('utf8'));

	let modseq = c.mailbox.highestModseq;
	await c.messageFlagsAdd('2', ['\\Flagged', '$Important']);
	await c.messageFlagsAdd('1:2', ['\\Answered'], { unchangedSince: modseq });
	let changed = [];
	for await (let m of c.fetch('1:*', { uid: true, flags: true }, { changedSince: modseq })) {
		changed.push({ uid: m.uid, flags: m.flags, modseq: m.modseq });
	}
	out('changed', changed);
	out('search', await c.search({ subject: 'msg-003' }, { uid: true }));
	out('searchSeen', await c.search({ seen: false, flagged: true }, { uid: true }));

	let events = [];
	c.on('exists', d => events.push({ exists: d.count }));
	c.on('flags', d => events.push({ flags: d.uid, set: [...d.flags].sort() }));
	c.on('expunge', d => events.push({ expunge: d.uid || d.seq, vanished: d.vanished }));
	let idle = c.idle();
	await waitFor(() => c.idling, 'IDLE');
	await ask('idle');
	await waitFor(() => events.some(e => e.exists) && events.some(e => e.flags) && events.some(e => e.expunge), 'IDLE events');
	out('idle', events);
	let state = { uidValidity: c.mailbox.uidValidity, highestModseq: c.mailbox.highestModseq };
	await c.logout();
	await idle.catch(() => {});

	await ask('offline');
	c = client();
	await c.connect();
	events = [];
	c.on('flags', d => events.push({ flags: d.uid, set: [...d.flags].sort() }));
	c.on('expunge', d => events.push({ expunge: d.uid || d.seq, vanished: d.vanished, earlier: d.earlier }));
	mb = await c.mailboxOpen('INBOX', { uidValidity: state.uidValidity, changedSince: state.highestModseq });
	out('qresync', { qresync: !!mb.qresync, exists: mb.exists, events });
	await c.logout();
	console.log('DONE');
	process.exit(0);
})().catch(e => { console.error('FAILED', e); process.exit(1); });
`

func TestInteropImapflow(t *testing.T) {
	modules := interop.NodeModules(t, "imapflow")
	forEachStore(t, func(t *testing.T, is *interopServer) {
		testImapflow(t, modules, is)
	})
}

func testImapflow(t *testing.T, modules string, is *interopServer) {
	for i := 1; i <= 3; i++ {
		var f mailbox.Flags
		if i == 1 {
			f = mailbox.FlagSeen
		}
		deliver(t, is.st, "alice", "", testMessage(fmt.Sprintf("msg-%03d", i)), &mailbox.AppendOptions{Flags: f})
	}
	uid := func(subj string) mailbox.UID { return serverBox(t, is.st, "alice", "INBOX")[subj].UID }
	uid1, uid3 := uid("msg-001"), uid("msg-003")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "-e", imapflowScript, "127.0.0.1", is.port, is.caFile)
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	results := make(map[string]json.RawMessage)
	var transcript []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		transcript = append(transcript, line)
		switch {
		case strings.HasPrefix(line, "RESULT "):
			name, v, _ := strings.Cut(strings.TrimPrefix(line, "RESULT "), " ")
			results[name] = json.RawMessage(v)
		case line == "DONE":
			stdin.Close()
		case line == "WAIT idle":
			// While the client IDLEs: new mail, a flag change and an
			// expunge, each by someone else.
			deliver(t, is.st, "alice", "", testMessage("msg-004"), nil)
			updateFlags(t, is.st, "alice", "INBOX", []mailbox.UID{uid1}, mailbox.FlagsAdd, mailbox.FlagDraft)
			expunge(t, is.st, "alice", "INBOX", []mailbox.UID{uid3})
			fmt.Fprintln(stdin, "go")
		case line == "WAIT offline":
			// While the client is away.
			updateFlags(t, is.st, "alice", "INBOX", []mailbox.UID{uid("msg-002")}, mailbox.FlagsRemove, mailbox.FlagFlagged)
			expunge(t, is.st, "alice", "INBOX", []mailbox.UID{uid1})
			fmt.Fprintln(stdin, "go")
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !slices.Contains(transcript, "DONE") {
		t.Fatalf("node: %v\n%s\n%s", err, strings.Join(transcript, "\n"), stderr.String())
	}
	get := func(name string, v any) {
		t.Helper()
		if err := json.Unmarshal(results[name], v); err != nil {
			t.Fatalf("result %s: %v: %s", name, err, results[name])
		}
	}

	var conn struct {
		Secure  bool
		Enabled []string
	}
	get("conn", &conn)
	if !conn.Secure || !slices.Contains(conn.Enabled, "CONDSTORE") || !slices.Contains(conn.Enabled, "QRESYNC") {
		t.Errorf("connection: %+v", conn)
	}
	var open struct{ Exists, UIDValidity, UIDNext, HighestModseq int64 }
	get("open", &open)
	if open.Exists != 3 || open.UIDNext != int64(uid3)+1 || open.HighestModseq < 1 || open.UIDValidity == 0 {
		t.Errorf("mailboxOpen: %+v", open)
	}

	var msgs []struct {
		Seq, UID, Size, SourceLen, Modseq       int64
		Flags                                   []string
		Subject, From, MessageID, Source, Part1 string
		Headers, Type, Charset, Date            string
	}
	get("fetch", &msgs)
	if len(msgs) != 3 {
		t.Fatalf("fetch: %d messages", len(msgs))
	}
	for i, m := range msgs {
		subj := fmt.Sprintf("msg-%03d", i+1)
		raw := strings.ReplaceAll(testMessage(subj), "\n", "\r\n")
		switch {
		case m.Seq != int64(i+1) || m.Subject != subj || m.From != "sender@example.com" || m.MessageID != "<"+subj+"@example.com>":
			t.Errorf("fetch %d: envelope %+v", i+1, m)
		case m.Source != raw || m.SourceLen != m.Size || m.Size != int64(len(raw)):
			t.Errorf("fetch %d: source %q (%d bytes, size %d)", i+1, m.Source, m.SourceLen, m.Size)
		case m.Part1 != bodyOf(subj) || m.Headers != "Subject: "+subj+"\r\n\r\n":
			t.Errorf("fetch %d: part 1 %q, headers %q", i+1, m.Part1, m.Headers)
		case m.Type != "text/plain" || m.Charset != "utf-8" || m.Modseq < 1 || m.Date == "":
			t.Errorf("fetch %d: %+v", i+1, m)
		case (i == 0) != slices.Equal(m.Flags, []string{`\Seen`}) || (i != 0 && len(m.Flags) != 0):
			t.Errorf("fetch %d: flags %q", i+1, m.Flags)
		}
	}
	var dl string
	get("download", &dl)
	if dl != bodyOf("msg-002") {
		t.Errorf("download: %q", dl)
	}

	// STORE UNCHANGEDSINCE: message 2 had changed, so only 1 is answered.
	var changed []struct {
		UID, Modseq int64
		Flags       []string
	}
	get("changed", &changed)
	if len(changed) != 2 || changed[0].UID != int64(uid1) || !slices.Equal(changed[0].Flags, []string{`\Answered`, `\Seen`}) ||
		!slices.Equal(changed[1].Flags, []string{"$Important", `\Flagged`}) {
		t.Errorf("FETCH CHANGEDSINCE: %+v", changed)
	}
	var search, searchSeen []int64
	get("search", &search)
	get("searchSeen", &searchSeen)
	if !slices.Equal(search, []int64{int64(uid3)}) || !slices.Equal(searchSeen, []int64{int64(uid("msg-002"))}) {
		t.Errorf("search: %v, %v", search, searchSeen)
	}

	// IDLE saw the delivery, the flag change and the expunge (as
	// VANISHED, QRESYNC being enabled).
	var idle []struct {
		Exists, Flags, Expunge int64
		Set                    []string
		Vanished               bool
	}
	get("idle", &idle)
	var sawExists, sawFlags, sawExpunge bool
	for _, e := range idle {
		sawExists = sawExists || e.Exists == 3 || e.Exists == 4
		sawFlags = sawFlags || e.Flags == int64(uid1) && slices.Equal(e.Set, []string{`\Answered`, `\Draft`, `\Seen`})
		sawExpunge = sawExpunge || e.Expunge == int64(uid3) && e.Vanished
	}
	if !sawExists || !sawFlags || !sawExpunge {
		t.Errorf("IDLE events: %+v", idle)
	}

	// QRESYNC: the flag change and the expunge made while away.
	var qr struct {
		QResync bool
		Exists  int64
		Events  []struct {
			Flags, Expunge  int64
			Set             []string
			Vanished, Early bool
		}
	}
	get("qresync", &qr)
	if !qr.QResync || qr.Exists != 2 {
		t.Errorf("QRESYNC select: %s", results["qresync"])
	}
	var sawUnflag, sawVanished bool
	for _, e := range qr.Events {
		sawUnflag = sawUnflag || e.Flags == int64(uid("msg-002")) && slices.Equal(e.Set, []string{"$Important"})
		sawVanished = sawVanished || e.Expunge == int64(uid1) && e.Vanished
	}
	if !sawUnflag || !sawVanished {
		t.Errorf("QRESYNC events: %s", results["qresync"])
	}

	want := map[string]string{"msg-002": "", "msg-004": ""}
	compareBox(t, "INBOX after imapflow", serverBox(t, is.st, "alice", "INBOX"), want)
}
