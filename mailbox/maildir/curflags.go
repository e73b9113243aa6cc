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
// messages changed (with a new MODSEQ), for the caller to record. f.mu is
// held.
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
	d, err := openFile(f.cur())
	if err != nil {
		return nil
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil
	}
	flags := make(map[string]mailbox.Flags, len(names))
	twice := map[string]bool{}
	for _, n := range names {
		fn, ok := parseFileName(n)
		if !ok {
			continue
		}
		if _, dup := flags[fn.Base]; dup {
			twice[fn.Base] = true
		}
		flags[fn.Base] = fn.Flags
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
	if len(changed) == 0 {
		return nil
	}
	x.modseq++
	events := make([]mailbox.Event, 0, len(changed))
	for _, m := range changed {
		m.modseq = x.modseq
		events = append(events, mailbox.Event{Kind: mailbox.EventFlags, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: x.keywords(m)})
	}
	f.hub.Publish(events...)
	return changed
}
