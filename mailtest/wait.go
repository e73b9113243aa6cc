package mailtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// WaitOne waits for a message matching all of match and returns the first
// one accepted (since the server started or was Reset), which may have
// arrived before the call. On timeout it fails the test with t.Fatalf,
// listing the near misses and the SMTP transcripts. It must be called from
// the test's goroutine.
func (s *Server) WaitOne(t testing.TB, match ...Matcher) *Message {
	t.Helper()
	ms := s.WaitN(t, 1, match...)
	if len(ms) == 0 {
		return nil // t was a fake that did not stop
	}
	return ms[0]
}

// WaitN waits until n messages matching all of match have been accepted
// (since the server started or was Reset) and returns the first n, oldest
// first. It blocks without polling, for at most the wait timeout (see
// WithWaitTimeout), cut short to leave time before the test's deadline
// (go test -timeout). On timeout it fails the test as WaitOne does.
func (s *Server) WaitN(t testing.TB, n int, match ...Matcher) []*Message {
	t.Helper()
	d := s.waitTimeout(t)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		got, all, ch := s.matching(match)
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("mailtest: timed out after %v waiting for %d message(s) matching %s; %d matched\n%s",
				d, n, describeOrAny(match), len(got), s.report(all, match))
			return nil
		}
	}
}

// AssertNone fails the test if a message matching all of match is
// accepted within d, or was accepted before (since the server started or
// was Reset). It returns after d, or as soon as it fails.
func (s *Server) AssertNone(t testing.TB, d time.Duration, match ...Matcher) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		got, _, ch := s.matching(match)
		if len(got) > 0 {
			t.Fatalf("mailtest: want no message matching %s, got %d:\n%s",
				describeOrAny(match), len(got), listMessages(got))
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}

// matching returns the matching messages, all messages, and the channel
// closed when the next message arrives.
func (s *Server) matching(match []Matcher) (got, all []*Message, ch <-chan struct{}) {
	s.mu.Lock()
	all = append([]*Message(nil), s.msgs...)
	ch = s.notify
	s.mu.Unlock()
	for _, m := range all {
		if matchAll(match, m) {
			got = append(got, m)
		}
	}
	return got, all, ch
}

// waitTimeout is the wait timeout, bounded by the test's deadline.
func (s *Server) waitTimeout(t testing.TB) time.Duration {
	d := s.cfg.timeout
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := testDeadline(dt); ok {
			// Leave time for the failure report and cleanup.
			left := time.Until(dl)
			left -= max(left/10, 100*time.Millisecond)
			d = max(min(d, left), 10*time.Millisecond)
		}
	}
	return d
}

func describeOrAny(ms []Matcher) string {
	if len(ms) == 0 {
		return "(anything)"
	}
	return describe(ms)
}

// maxNearMisses bounds the messages a failure report lists.
const maxNearMisses = 5

// report lists the messages that matched most matchers, and the SMTP
// transcripts.
func (s *Server) report(all []*Message, match []Matcher) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d message(s) received", len(all))
	if len(all) > 0 {
		type miss struct {
			m      *Message
			ok     int
			failed []string
		}
		misses := make([]miss, 0, len(all))
		for _, m := range all {
			ms := miss{m: m}
			for _, mt := range match {
				if mt.Match(m) {
					ms.ok++
				} else {
					ms.failed = append(ms.failed, mt.desc)
				}
			}
			misses = append(misses, ms)
		}
		slices.SortStableFunc(misses, func(a, b miss) int { return b.ok - a.ok })
		if len(misses) > maxNearMisses {
			fmt.Fprintf(&b, "; nearest %d", maxNearMisses)
			misses = misses[:maxNearMisses]
		}
		b.WriteString(":\n")
		for _, ms := range misses {
			fmt.Fprintf(&b, "  %s", ms.m)
			if len(ms.failed) > 0 {
				fmt.Fprintf(&b, "\n    does not match %s", strings.Join(ms.failed, ", "))
			}
			b.WriteString("\n")
		}
	} else {
		b.WriteString("\n")
	}
	trs := s.Transcripts()
	const shown = 5
	if len(trs) > shown {
		fmt.Fprintf(&b, "SMTP transcripts (last %d of %d connections):\n", shown, len(trs))
		trs = trs[len(trs)-shown:]
	} else {
		fmt.Fprintf(&b, "SMTP transcripts (%d connections):\n", len(trs))
	}
	for _, tr := range trs {
		b.WriteString(tr)
	}
	return b.String()
}

func listMessages(ms []*Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}

// testDeadline returns the test's deadline. Inside a testing/synctest
// bubble, where the deadline is on another clock and T.Deadline panics,
// it reports none.
func testDeadline(dt interface{ Deadline() (time.Time, bool) }) (dl time.Time, ok bool) {
	defer func() {
		if recover() != nil {
			dl, ok = time.Time{}, false
		}
	}()
	return dt.Deadline()
}
