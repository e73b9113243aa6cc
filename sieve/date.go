package sieve

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// The date and currentdate tests (RFC 5260 §4–5).

// parseZone reads a zone argument of the form +hhmm or -hhmm.
func parseZone(s string) (*time.Location, bool) {
	if len(s) != 5 || s[0] != '+' && s[0] != '-' {
		return nil, false
	}
	for i := 1; i < 5; i++ {
		if !isDigit(s[i]) {
			return nil, false
		}
	}
	h := int(s[1]-'0')*10 + int(s[2]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 {
		return nil, false
	}
	off := (h*60 + m) * 60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off), true
}

func zoneString(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign = '-'
		off = -off
	}
	return fmt.Sprintf("%c%02d%02d", sign, off/3600, off/60%60)
}

// datePart extracts a date-part (RFC 5260 §4.2).
func datePart(t time.Time, part string) (string, bool) {
	switch strings.ToLower(part) {
	case "year":
		return fmt.Sprintf("%04d", t.Year()), true
	case "month":
		return fmt.Sprintf("%02d", int(t.Month())), true
	case "day":
		return fmt.Sprintf("%02d", t.Day()), true
	case "date":
		return t.Format("2006-01-02"), true
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, d := t.Date()
		epoch := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return fmt.Sprintf("%d", int(day.Sub(epoch).Hours()/24)), true
	case "hour":
		return fmt.Sprintf("%02d", t.Hour()), true
	case "minute":
		return fmt.Sprintf("%02d", t.Minute()), true
	case "second":
		return fmt.Sprintf("%02d", t.Second()), true
	case "time":
		return t.Format("15:04:05"), true
	case "iso8601":
		// RFC 3339 date-time, "Z" for a zero offset (as Pigeonhole).
		z := zoneString(t)
		if z == "+0000" {
			z = "Z"
		} else {
			z = z[:3] + ":" + z[3:]
		}
		return t.Format("2006-01-02T15:04:05") + z, true
	case "std11":
		return t.Format("Mon, 02 Jan 2006 15:04:05 ") + zoneString(t), true
	case "zone":
		return zoneString(t), true
	case "weekday":
		return fmt.Sprintf("%d", int(t.Weekday())), true
	}
	return "", false
}

// parseDateValue reads an RFC 5322 date-time; for Received fields the date
// is what follows the last ";" (RFC 5260 §4.1).
func parseDateValue(name, v string) (time.Time, bool) {
	if strings.EqualFold(name, "received") {
		i := strings.LastIndexByte(v, ';')
		if i < 0 {
			return time.Time{}, false
		}
		v = v[i+1:]
	}
	v = strings.TrimSpace(stripComments(v))
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (ev *evaluator) location() *time.Location {
	if ev.opts.Location != nil {
		return ev.opts.Location
	}
	return time.Local
}

func (ev *evaluator) date(c *dateCond) (bool, error) {
	var times []time.Time
	if c.current {
		now := time.Now
		if ev.opts.Now != nil {
			now = ev.opts.Now
		}
		times = []time.Time{now()}
	} else {
		name := ev.expand(c.header)
		for _, v := range ev.headerValues(name, c.idx) {
			if t, ok := parseDateValue(name, v); ok {
				times = append(times, t)
			}
		}
	}
	var loc *time.Location
	switch {
	case c.zone != nil:
		if z, ok := parseZone(ev.expand(*c.zone)); ok {
			loc = z
		} else {
			loc = ev.location()
		}
	case c.origZone && !c.current:
	default:
		loc = ev.location()
	}
	part := ev.expand(c.part)
	var vals []string
	for _, t := range times {
		if loc != nil {
			t = t.In(loc)
		}
		v, ok := datePart(t, part)
		if !ok {
			return false, nil
		}
		vals = append(vals, v)
	}
	return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, true)
}
