package maildir

import (
	"os"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// Mail readers sharing a Maildir (mutt, Dovecot) change a message's flags
// by renaming its file in cur/. A loaded folder takes such changes over
// when it is asked for its status or messages (Status, Messages: what
// IMAP's NOOP and IDLE checks call), so that the other sessions see them:
// curFlags lists cur/ when it changed since the last listing, at most
// once every curCheckEvery, and at most 1% of the time (a folder whose
// listing takes 20 ms is listed every 2 s at most).
//
// Only flags are taken over. A file gone, or one added to cur/, waits
// for the next load: a listing made while another program renames files
// may show a file under both its names or under neither, so only a base
// name listed once is trusted, and a missing one proves nothing.
const curCheckEvery = time.Second

// curFlags takes over the system flags that other programs changed in the
// names of files in cur/, publishing their events; it returns the
// messages changed (with a new MODSEQ), for the caller to record. (It
// lists new/ too, which scanNew then lists again: new/ is small.) f.mu
// is held.
func (f *folder) curFlags() []*msg {
	fi, err := os.Stat(f.cur())
	if err != nil {
		return nil
	}
	start := time.Now()
	if fi.ModTime().Equal(f.curMod) || start.Before(f.curNext) {
		return nil
	}
	f.curMod = fi.ModTime()
	defer func() {
		f.curNext = start.Add(max(curCheckEvery, 100*time.Since(start)))
	}()
	files, err := f.scan(true)
	if err != nil {
		return nil
	}
	flags := make(map[string]mailbox.Flags, len(files))
	twice := map[string]bool{}
	for _, df := range files {
		if df.inNew {
			continue
		}
		if _, dup := flags[df.fn.Base]; dup {
			twice[df.fn.Base] = true
		}
		flags[df.fn.Base] = df.fn.Flags
	}
	x := &f.idx
	var changed []*msg
	var buf []byte // a message's base name, for map lookups without allocating
	for i := range x.msgs {
		m := &x.msgs[i]
		buf = x.appendBase(buf[:0], m)
		fl, ok := flags[string(buf)]
		if ok && fl != m.flags && !twice[string(buf)] {
			m.flags = fl
			changed = append(changed, m)
		}
	}
	f.flagsTakenOver(changed)
	return changed
}

// flagsTakenOver gives ms, whose flags were just taken over from their
// file names (a mail reader's change), a new MODSEQ and publishes their
// events. f.mu is held.
func (f *folder) flagsTakenOver(ms []*msg) {
	if len(ms) == 0 {
		return
	}
	x := &f.idx
	x.modseq++
	events := make([]mailbox.Event, 0, len(ms))
	for _, m := range ms {
		m.modseq = x.modseq
		events = append(events, mailbox.Event{Kind: mailbox.EventFlags, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: x.keywords(m)})
	}
	f.hub.Publish(events...)
}
