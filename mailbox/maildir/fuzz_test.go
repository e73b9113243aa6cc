package maildir

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

// FuzzFileName checks the Maildir file name parser: it never panics, a
// name it accepts keeps its base, and the flags it reads are written
// back the same way.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{
		"1700000000.M1P2Q3.host,S=4096,U=7:2,FS",
		"1700000000.M1P2Q3.host,Z=0a1b2c3d,S=4096,U=7:2,FS",
		"x,Z=0A1B2C3D,Z=123,Z=-1234567:2,",
		"1700000000.P1Q2.other",
		"1700000000.P1Q2.other:2,",
		"x:2,abcDT",
		"x:1,junk",
		"x,S=-1,U=0,U=99999999999:2,SSS",
		".hidden",
		"a/b",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fn, ok := parseFileName(name)
		if !ok {
			return
		}
		if strings.Contains(fn.Base, ":") || !strings.HasPrefix(name, fn.Base) {
			t.Fatalf("%q: base %q", name, fn.Base)
		}
		if fn.Flags&^mailbox.AllFlags != 0 {
			t.Fatalf("%q: flags %v", name, fn.Flags)
		}
		back, ok := parseFileName(fullName(fn.Base, fn.Flags))
		if !ok || back.Flags != fn.Flags || back.Base != fn.Base || back.UID != fn.UID || back.Size != fn.Size ||
			back.Sum != fn.Sum || back.HasSum != fn.HasSum {
			t.Fatalf("%q: %+v, written back %+v", name, fn, back)
		}
		if fn.UID != 0 {
			w := withFields(fn.Base, 1, fn.UID)
			if !validBase(w) {
				t.Fatalf("withFields(%q) = %q", fn.Base, w)
			}
			if wf, _ := parseFileName(w); wf.Sum != fn.Sum || wf.HasSum != fn.HasSum {
				t.Fatalf("withFields(%q) = %q lost the checksum", fn.Base, w)
			}
		}
		if fn.HasSum {
			if s, ok := parseSum(string(appendSum(nil, fn.Sum)[3:])); !ok || s != fn.Sum {
				t.Fatalf("%q: checksum %08x written back as %08x", name, fn.Sum, s)
			}
		}
	})
}

// FuzzFolderName checks the mailbox name to directory mapping both ways.
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "a.b", "50%/x", "Entwürfe", ".x", "INBOX/child"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if n, err := mailbox.CleanName(name); err == nil && n != mailbox.Inbox {
			d, ok := folderDir(n)
			if !ok {
				return
			}
			if back, ok := folderName(d); !ok || back != n {
				t.Fatalf("%q -> %q -> %q, %v", n, d, back, ok)
			}
		}
		// Any directory name: decoding never panics and is canonical.
		if n, ok := folderName(name); ok {
			if d, _ := folderDir(n); d != name {
				t.Fatalf("dir %q decodes to %q, which encodes to %q", name, n, d)
			}
		}
	})
}

// seedIndex returns a log with every kind of record.
func seedIndex() []byte {
	x := index{validity: 7, special: mailbox.Sent, uidNext: 1, modseq: 1, header: true}
	for i := range 3 {
		m := msg{uid: mailbox.UID(i + 1), modseq: mailbox.ModSeq(i + 2), size: 100, date: 1e18}
		x.setBase(&m, "1.M2P3Q4.h,Z=0a1b2c3d,S=100,U=1")
		x.setKeywords(&m, []string{"$Label", "Work"})
		x.msgs = append(x.msgs, m)
	}
	x.uidNext, x.modseq = 4, 4
	x.tombs = []tomb{{9, 3}}
	x.durable = 3
	b := x.snapshot()
	m := msg{uid: 2, flags: mailbox.FlagSeen}
	x.setKeywords(&m, []string{"a"})
	b = append(b, x.flagsRecord(5, []*msg{&m})...)
	b = append(b, expungeRecord(6, []mailbox.UID{1, 3})...)
	b = append(b, stateRecord(10, 7)...)
	b = appendDurableRecord(b, 9)
	return b
}

// FuzzIndex checks the index decoder: any input replays without panic,
// the good part it reports replays to the same state, and the state it
// builds is consistent (UIDs ascending and below UIDNEXT, MODSEQs at most
// HIGHESTMODSEQ) and survives a snapshot.
func FuzzIndex(f *testing.F) {
	good := seedIndex()
	f.Add(good)
	f.Add(good[:len(good)-3])
	bad := bytes.Clone(good)
	bad[40] ^= 1
	f.Add(bad)
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		// data as one record's payload, past the checksum the fuzzer
		// cannot forge, after a valid start.
		var w index
		w.replay(good, 100)
		if len(data) > 0 && w.apply(string(data), 100) {
			if w.durable > w.uidNext {
				t.Fatalf("record %x made durable mark %d above UIDNEXT %d", data, w.durable, w.uidNext)
			}
			for i, m := range w.msgs {
				if m.uid >= w.uidNext || (i > 0 && m.uid <= w.msgs[i-1].uid) {
					t.Fatalf("record %x made %+v", data, w)
				}
			}
		}

		var x index
		n := x.replay(data, 100)
		if n > len(data) || (n > 0 && n < len(indexMagic)) {
			t.Fatalf("good part %d of %d", n, len(data))
		}
		var y index
		if m := y.replay(data[:n], 100); m != n {
			t.Fatalf("good part %d replays to %d", n, m)
		}
		if !x.header {
			return
		}
		if x.durable > x.uidNext {
			t.Fatalf("durable mark %d above UIDNEXT %d", x.durable, x.uidNext)
		}
		for i, m := range x.msgs {
			if m.uid >= x.uidNext || (i > 0 && m.uid <= x.msgs[i-1].uid) || m.modseq > x.modseq {
				t.Fatalf("inconsistent: %+v in %+v", m, x)
			}
		}
		snap := x.snapshot()
		var z index
		if m := z.replay(snap, 100); m != len(snap) || len(z.msgs) != len(x.msgs) || z.uidNext != x.uidNext || z.modseq != x.modseq || z.validity != x.validity ||
			z.durable != x.durable {
			t.Fatalf("snapshot replays to %+v (%d of %d bytes), want %+v", z, m, len(snap), x)
		}
		x.repack()
		for i := range x.msgs {
			xm, zm := &x.msgs[i], &z.msgs[i]
			if x.base(xm) != z.base(zm) || !slices.Equal(x.keywords(xm), z.keywords(zm)) || xm.meta != zm.meta ||
				xm.uid != zm.uid || xm.flags != zm.flags || xm.size != zm.size || xm.modseq != zm.modseq || xm.date != zm.date {
				t.Fatalf("message %+v (%q %q) replays as %+v (%q %q)", *xm, x.base(xm), x.keywords(xm), *zm, z.base(zm), z.keywords(zm))
			}
		}
	})
}

// FuzzMetadata checks the metadata cache codec: any blob decodes without
// panic, and what Parse makes of any message survives a round trip.
func FuzzMetadata(f *testing.F) {
	msgs := []string{
		"From: a@b\r\nSubject: x\r\n\r\nbody\r\n",
		"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nTo: a@b, G: c@d;\r\nDate: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
			"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X\r\n" +
			"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--X--\r\n",
	}
	for _, m := range msgs {
		md, _ := mailbox.Parse(strings.NewReader(m), nil)
		f.Add([]byte(m), encodeMetadata(nil, md))
	}
	f.Fuzz(func(t *testing.T, raw, blob []byte) {
		decodeMetadata(blob, nil)
		md, err := mailbox.Parse(bytes.NewReader(raw), nil)
		if err != nil {
			return
		}
		enc := encodeMetadata(nil, md)
		got, err := decodeMetadata(enc, &zoneCache{})
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if again := encodeMetadata(nil, got); !bytes.Equal(again, enc) {
			t.Fatalf("round trip changed the metadata:\n%x\n%x", enc, again)
		}
	})
}
