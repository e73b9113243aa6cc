package mailboxtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

func (s *suite) testConcurrentAppend(t *testing.T) {
	const (
		appenders  = 8
		deliverers = 2
		each       = 20
	)
	st, u, _ := s.inbox(t)
	sub := watch(t, open(t, u, mailbox.Inbox, nil))
	var wg sync.WaitGroup
	errs := make(chan error, (appenders+deliverers)*each)
	for g := range appenders {
		mb := open(t, u, mailbox.Inbox, nil) // a session each
		wg.Go(func() {
			for i := range each {
				_, err := mb.Append(t.Context(), strings.NewReader(message(fmt.Sprintf("a%d-%d", g, i))), nil)
				errs <- err
			}
		})
	}
	for g := range deliverers {
		wg.Go(func() {
			for i := range each {
				res, err := st.Deliver(t.Context(), strings.NewReader(message(fmt.Sprintf("d%d-%d", g, i))), []mailbox.Recipient{{User: "alice"}})
				if err == nil {
					err = res[0]
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	const total = (appenders + deliverers) * each
	mb := open(t, u, mailbox.Inbox, nil)
	ms := messages(t, mb, mailbox.AllUIDs(), nil)
	if len(ms) != total {
		t.Fatalf("%d messages, want %d", len(ms), total)
	}
	subjects := map[string]bool{}
	var maxModSeq mailbox.ModSeq
	for i, m := range ms {
		if i > 0 && m.UID <= ms[i-1].UID {
			t.Fatalf("UIDs not ascending: %d after %d", m.UID, ms[i-1].UID)
		}
		raw := read(t, mb, m.UID)
		subj, _, _ := strings.Cut(raw[strings.Index(raw, "Subject: ")+9:], "\r\n")
		if subjects[subj] || raw != message(subj) {
			t.Fatalf("UID %d: duplicate or damaged message %q", m.UID, subj)
		}
		subjects[subj] = true
		maxModSeq = max(maxModSeq, m.ModSeq)
	}
	ss := status(t, mb)
	if ss.UIDNext <= ms[total-1].UID || ss.HighestModSeq < maxModSeq || ss.Messages != total {
		t.Errorf("Status %+v, last UID %d, greatest MODSEQ %d", ss, ms[total-1].UID, maxModSeq)
	}
	evs := take(t, sub)
	var evUIDs []mailbox.UID
	for _, e := range evs {
		if e.Kind == mailbox.EventNew {
			evUIDs = append(evUIDs, e.UID)
		}
	}
	if len(evs) != total || !slices.Equal(evUIDs, uidsOf(ms)) {
		t.Errorf("%d events (%d new), want %d in UID order", len(evs), len(evUIDs), total)
	}
	if q := usage(t, u); q.Messages != total {
		t.Errorf("quota usage %+v after %d appends", q, total)
	}
}

func (s *suite) testConcurrentFlags(t *testing.T) {
	const workers = 6
	_, u, mb := s.inbox(t)
	uids := appendN(t, mb, 20)
	sub := watch(t, mb)
	var wg sync.WaitGroup
	for w := range workers {
		h := open(t, u, mailbox.Inbox, nil)
		kw := fmt.Sprintf("kw%d", w)
		wg.Go(func() {
			for i := range 10 {
				op := mailbox.FlagsAdd
				if i%2 == 1 {
					op = mailbox.FlagsRemove
				}
				if _, err := h.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: op, Keywords: []string{kw}}); err != nil {
					t.Error(err)
					return
				}
			}
			// Ends with the keyword set.
			if _, err := h.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Keywords: []string{kw}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() { // readers and appenders alongside
		for range 10 {
			if _, err := mb.Append(t.Context(), strings.NewReader(message("x")), nil); err != nil {
				t.Error(err)
			}
			for _, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll}) {
				if err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	var want []string
	for w := range workers {
		want = append(want, fmt.Sprintf("kw%d", w))
	}
	hi := status(t, mb).HighestModSeq
	for _, m := range messages(t, mb, mailbox.UIDSetOf(uids...), nil) {
		if !slices.Equal(m.Keywords, want) || m.ModSeq > hi {
			t.Errorf("UID %d: keywords %q MODSEQ %d (HIGHESTMODSEQ %d)", m.UID, m.Keywords, m.ModSeq, hi)
		}
	}
	take(t, sub) // checks the MODSEQ order of the events
}
