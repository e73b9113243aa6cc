package sieve

import (
	"context"
	"regexp"
	"strconv"
	"strings"
)

// The spamtest, spamtestplus and virustest tests (RFC 5235).

// StatusType says how HeaderScorer reads a verdict.
type StatusType uint8

const (
	// StatusScore: the value is a decimal number, divided by Max.
	StatusScore StatusType = iota
	// StatusStrlen: the value's length is the score (SpamAssassin's
	// "X-Spam-Level: *****"), divided by Max.
	StatusStrlen
	// StatusText: the value is looked up in Text; its index is the score
	// (0 to 10 for spamtest, 0 to 5 for virustest, as RFC 5235 defines
	// them).
	StatusText
)

// HeaderScorer is a Scorer that reads a verdict a filter recorded in a
// header field, configured as Pigeonhole's sieve_spamtest_* and
// sieve_virustest_* settings. The first field named Header is read; if
// Regexp is set, its first submatch is the value.
type HeaderScorer struct {
	Header string
	Regexp *regexp.Regexp
	Type   StatusType
	// Max is the score that means certainly spam (or infected): required
	// for StatusScore and StatusStrlen unless MaxHeader is set.
	Max float64
	// MaxHeader, if set, names a field holding the maximum instead
	// (with MaxRegexp like Regexp).
	MaxHeader string
	MaxRegexp *regexp.Regexp
	// Text maps values to scores for StatusText: Text[i] is score i.
	Text []string
	// Virus is true for a virustest scorer (score range 0..5 for
	// StatusText).
	Virus bool
}

func headerValue(m *Message, name string, re *regexp.Regexp) (string, bool) {
	vals := m.Header().Values(name)
	if len(vals) == 0 {
		return "", false
	}
	v := vals[0]
	if re != nil {
		sm := re.FindStringSubmatch(v)
		if len(sm) < 2 {
			return "", false
		}
		v = sm[1]
	}
	return v, true
}

// Score implements Scorer.
func (h *HeaderScorer) Score(_ context.Context, m *Message) (float64, bool, error) {
	max := h.Max
	if h.Type == StatusText {
		max = 10
		if h.Virus {
			max = 5
		}
	} else if h.MaxHeader != "" {
		v, ok := headerValue(m, h.MaxHeader, h.MaxRegexp)
		if !ok {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false, nil
		}
		max = f
	}
	if max == 0 {
		return 0, false, nil
	}
	v, ok := headerValue(m, h.Header, h.Regexp)
	if !ok {
		return 0, false, nil
	}
	var score float64
	switch h.Type {
	case StatusScore:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false, nil
		}
		score = f
	case StatusStrlen:
		score = float64(len(v))
	case StatusText:
		found := false
		for i, t := range h.Text {
			if t != "" && t == v {
				score, found = float64(i), true
				break
			}
		}
		if !found {
			return 0, false, nil
		}
	}
	switch {
	case score < 0:
		return 0, true, nil
	case score > max:
		return 1, true, nil
	}
	return score / max, true, nil
}

// spamValue turns a ratio into the test's value (RFC 5235 §3.2, §3.3,
// §4): "0" untested, then 1..10 (spamtest), 1..5 (virustest) or 0..100
// (:percent). The rounding is Pigeonhole's.
func spamValue(ratio float64, tested, virus, percent bool) string {
	if !tested || ratio < 0 {
		return "0"
	}
	r := float32(min(ratio, 1))
	var n int
	switch {
	case percent:
		n = int(r*100 + 0.001)
	case virus:
		n = int(r*4 + 1.001)
	default:
		n = int(r*9 + 1.001)
	}
	return strconv.Itoa(n)
}

func (ev *evaluator) spamtest(c *spamtestCond) (bool, error) {
	sc := ev.opts.Spam
	if c.virus {
		sc = ev.opts.Virus
	}
	ratio, tested := 0.0, false
	if sc != nil {
		var err error
		ratio, tested, err = sc.Score(ev.ctx, ev.msg)
		if err != nil {
			e := ev.errorf(c.pos, "spamtest: scorer failed")
			e.Err = err
			return false, e
		}
	}
	v := spamValue(ratio, tested, c.virus, c.percent)
	return ev.matchValues(c.pos, &c.m, []string{v}, strList{c.value}, nil, true)
}
