package imap

import (
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// seqRange is a range of a sequence set; 0 stands for "*".
type seqRange struct{ lo, hi uint32 }

// seqSet is a parsed sequence-set (RFC 9051 §9), of sequence numbers or
// UIDs. "$" (SEARCHRES) is not supported.
type seqSet []seqRange

// parseSeqSet parses a sequence set of at most maxRanges ranges.
func parseSeqSet(s string, maxRanges int) (seqSet, error) {
	if s == "" {
		return nil, bad("Missing sequence set")
	}
	var set seqSet
	for part := range strings.SplitSeq(s, ",") {
		if maxRanges > 0 && len(set) >= maxRanges {
			return nil, bad("Sequence set too long")
		}
		a, b, isRange := strings.Cut(part, ":")
		lo, err := parseSeqNum(a)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = parseSeqNum(b); err != nil {
				return nil, err
			}
		}
		set = append(set, seqRange{lo, hi})
	}
	return set, nil
}

func parseSeqNum(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	if s == "" || s[0] == '0' || len(s) > 10 {
		return 0, bad("Invalid sequence number")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, bad("Invalid sequence number")
	}
	return uint32(n), nil
}

// isSeqSetChar reports the octets of a sequence set.
func isSeqSetChar(c byte) bool {
	return '0' <= c && c <= '9' || c == ':' || c == ',' || c == '*'
}

func (c *conn) readSeqSet() (seqSet, error) {
	tok := c.sc.Token("*")
	for i := 0; i < len(tok); i++ {
		if !isSeqSetChar(tok[i]) {
			return nil, bad("Invalid sequence set")
		}
	}
	return parseSeqSet(tok, defInt(c.s.MaxSeqSetRanges, DefaultMaxSeqSetRanges))
}

// spSeqSet reads a space and a sequence set.
func (c *conn) spSeqSet() (seqSet, error) {
	if err := c.sc.SP(); err != nil {
		return nil, err
	}
	return c.readSeqSet()
}

// spMailbox reads a space and a mailbox name.
func (c *conn) spMailbox() (string, error) {
	if err := c.sc.SP(); err != nil {
		return "", err
	}
	return c.readMailbox()
}

// flagList parses flags (system flags and keywords) as in STORE and APPEND.
type flagList struct {
	flags    mailbox.Flags
	keywords []string
}

func (c *conn) readFlag(fl *flagList) error {
	if c.sc.Accept('\\') {
		name := c.sc.Token("")
		if name == "" {
			return bad("Invalid flag")
		}
		f, ok := mailbox.ParseFlag(`\` + name)
		if !ok {
			if strings.EqualFold(name, "Recent") {
				return bad(`\Recent cannot be set`)
			}
			return bad("Unknown system flag")
		}
		fl.flags |= f
		return nil
	}
	kw, err := c.sc.Atom()
	if err != nil {
		return err
	}
	if !mailbox.ValidKeyword(kw) {
		return bad("Invalid keyword")
	}
	fl.keywords = append(fl.keywords, kw)
	return nil
}

// readFlagList parses "(" [flag *(SP flag)] ")", or with bare set a
// space-separated list without parentheses (STORE allows both).
func (c *conn) readFlagList(bare bool) (flagList, error) {
	var fl flagList
	if c.sc.Peek() != '(' && bare {
		for {
			if err := c.readFlag(&fl); err != nil {
				return fl, err
			}
			if c.sc.Peek() != ' ' {
				return fl, nil
			}
			c.sc.Accept(' ')
		}
	}
	err := c.sc.List(true, func() error { return c.readFlag(&fl) })
	return fl, err
}

// readMailbox reads a mailbox name and returns it in UTF-8, canonical.
func (c *conn) readMailbox() (string, error) {
	name, err := c.sc.AString()
	if err != nil {
		return "", err
	}
	return c.decodeMailbox(name)
}

// decodeMailbox converts a name from the client's encoding and checks it.
func (c *conn) decodeMailbox(name string) (string, error) {
	if len(name) > 1024 {
		return "", no("CANNOT", "Mailbox name too long")
	}
	if strings.EqualFold(name, "INBOX") {
		return mailbox.Inbox, nil
	}
	if !c.utf8 {
		dec, err := DecodeUTF7(name)
		if err != nil {
			return "", bad("Mailbox name is not valid modified UTF-7")
		}
		name = dec
	}
	clean, err := mailbox.CleanName(name)
	if err != nil {
		return "", no("CANNOT", "Invalid mailbox name")
	}
	return clean, nil
}

// encodeMailbox converts a name to the client's encoding.
func (c *conn) encodeMailbox(name string) string {
	if c.utf8 {
		return name
	}
	return EncodeUTF7(name)
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseDate parses a SEARCH date (RFC 9051 §9: d-MMM-yyyy).
func parseDate(s string) (time.Time, error) {
	d, m, ok := strings.Cut(s, "-")
	m, y, ok2 := strings.Cut(m, "-")
	if !ok || !ok2 || len(d) < 1 || len(d) > 2 || len(y) != 4 {
		return time.Time{}, bad("Invalid date")
	}
	day, err1 := strconv.Atoi(d)
	year, err2 := strconv.Atoi(y)
	mon := 0
	for i, name := range months {
		if strings.EqualFold(name, m) {
			mon = i + 1
		}
	}
	if err1 != nil || err2 != nil || mon == 0 || day < 1 || day > 31 {
		return time.Time{}, bad("Invalid date")
	}
	return time.Date(year, time.Month(mon), day, 0, 0, 0, 0, time.UTC), nil
}

// parseDateTime parses an APPEND date-time: "dd-MMM-yyyy hh:mm:ss +zzzz".
func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		return time.Time{}, bad("Invalid date-time")
	}
	return t, nil
}

func formatDateTime(t time.Time) string {
	return t.Format("02-Jan-2006 15:04:05 -0700")
}
