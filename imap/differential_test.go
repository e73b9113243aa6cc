package imap_test

// Differential test: the same messages and the same command script
// against our server and against Dovecot, comparing the responses after
// normalising what may differ between correct servers (UIDVALIDITY,
// MODSEQ values, capability lists, response text, item order in FETCH,
// quoted string versus literal, \Recent).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// diffMessages are the test messages: MIME structures, encodings,
// charsets and headers that exercise ENVELOPE, BODYSTRUCTURE, sections,
// BINARY and SEARCH. LF line endings.
func diffMessages() []string {
	var msgs []string
	senders := []string{
		`Alice Example <alice@example.com>`,
		`"Bob, the Builder" <bob@example.net>`,
		`=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.de>`,
		`carol@example.org`,
	}
	subjects := []string{
		"Quarterly report",
		"Re: Quarterly report",
		"=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
		"Lunch?",
		"[list] Weekly digest",
		"=?ISO-8859-1?Q?caf=E9_menu?=",
	}
	for i := 0; i < 24; i++ {
		date := fmt.Sprintf("%s, %d %s 2024 %02d:%02d:00 %s", []string{"Mon", "Tue", "Wed"}[i%3], 1+i%27,
			[]string{"Jan", "Feb", "Mar", "Apr"}[i%4], 8+i%10, (i*7)%60, []string{"+0000", "+0200", "-0500"}[i%3])
		h := "From: " + senders[i%len(senders)] + "\n" +
			"To: alice@example.org, \"Team\" <team@example.org>\n"
		if i%7 == 1 {
			h = "From: " + senders[i%len(senders)] + "\nTo: undisclosed-recipients:;\n"
		}
		if i%3 == 0 {
			h += "Cc: carol@example.org\n"
		}
		if i%5 == 0 {
			h += "Bcc: dave@example.com\nReply-To: replies@example.com\n"
		}
		if i != 9 {
			h += "Subject: " + subjects[i%len(subjects)] + " " + strconv.Itoa(i) + "\n"
		}
		if i != 11 {
			h += "Date: " + date + "\n"
		}
		h += fmt.Sprintf("Message-ID: <m%d@example.com>\n", i)
		if i%4 == 1 {
			h += fmt.Sprintf("In-Reply-To: <m%d@example.com>\nReferences: <m%d@example.com>\n", i-1, i-1)
		}
		if i%6 == 4 {
			h += "List-Id: Weekly <weekly.example.org>\nX-Mailer: differ 1.0\n"
		}
		h += "X-Long: a header line that is folded\n  over two lines, number " + strconv.Itoa(i) + "\n"
		h += "MIME-Version: 1.0\n"
		var body string
		switch i % 6 {
		case 0:
			body = "Content-Type: text/plain; charset=us-ascii\n\nLorem ipsum dolor sit amet.\nReport number " + strconv.Itoa(i) + ".\n"
		case 1:
			body = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
				"Caf=C3=A9 au lait, cr=C3=A8me br=C3=BBl=C3=A9e.=\nSoft break joined.\n"
		case 2:
			body = "Content-Type: multipart/alternative; boundary=\"alt" + strconv.Itoa(i) + "\"\n\n" +
				"preamble\n--alt" + strconv.Itoa(i) + "\nContent-Type: text/plain; charset=utf-8\n\nPlain ipsum text.\n" +
				"--alt" + strconv.Itoa(i) + "\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" +
				"PGh0bWw+PGJvZHk+PHA+SFRNTCBpcHN1bSB0ZXh0LjwvcD48L2JvZHk+PC9odG1sPgo=\n" +
				"--alt" + strconv.Itoa(i) + "--\nepilogue\n"
		case 3:
			body = "Content-Type: multipart/mixed; boundary=mix\n\n--mix\nContent-Type: text/plain\n\nSee the attachment.\n" +
				"--mix\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\n" +
				"Content-Transfer-Encoding: base64\nContent-Description: The report\nContent-ID: <part2@example.com>\n\n" +
				"JVBERi0xLjQKJcfsj6IKAAECAwQFBgcICQ==\n--mix--\n"
		case 4:
			body = "Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n" +
				"Content-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\nContent-Type: text/plain; charset=iso-8859-1\n" +
				"Content-Transfer-Encoding: quoted-printable\n\nNa=EFve digest text.\n--inner\nContent-Type: text/html\n\n<p>digest</p>\n--inner--\n" +
				"--outer\nContent-Type: message/rfc822\n\nFrom: nested@example.com\nTo: alice@example.org\nSubject: Forwarded note\n" +
				"Date: Fri, 5 Jan 2024 09:00:00 +0000\nMessage-ID: <nested@example.com>\n\nNested body text.\n--outer--\n"
		case 5:
			body = "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n" +
				"Large body follows.\n" + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 20+i*10)
		}
		msgs = append(msgs, h+body)
	}
	return msgs
}

// diffScript is the command script; {SEQ} is replaced by nothing, the
// literals are LITERAL+ (both servers announce it after login).
var diffScript = []string{
	`SELECT INBOX`,
	`FETCH 1:* (FLAGS)`,
	`FETCH 1:* (UID RFC822.SIZE INTERNALDATE)`,
	`FETCH 1:* ENVELOPE`,
	`FETCH 1:* BODYSTRUCTURE`,
	`FETCH 1:* BODY`,
	`FETCH 1:* FAST`,
	`FETCH 1:5 ALL`,
	`FETCH 2,4 FULL`,
	`UID FETCH 1:* (FLAGS)`,
	`UID FETCH 3,5:7 (RFC822.SIZE)`,
	`FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])`,
	`FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (X-LONG MESSAGE-ID)])`,
	`FETCH 1:* BODY.PEEK[HEADER]`,
	`FETCH 1:* BODY.PEEK[TEXT]`,
	`FETCH 1:* BODY.PEEK[]`,
	`FETCH 1:* BODY.PEEK[1]`,
	`FETCH 1:* BODY.PEEK[1.MIME]`,
	`FETCH 3:6 BODY.PEEK[2]`,
	`FETCH 5 (BODY.PEEK[1.1] BODY.PEEK[1.2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1])`,
	`FETCH 4 (BODY.PEEK[2.MIME] BODY.PEEK[1.MIME])`,
	`FETCH 1:* BODY.PEEK[]<0.50>`,
	`FETCH 1:* BODY.PEEK[TEXT]<10.20>`,
	`FETCH 1:3 BODY.PEEK[]<100000.10>`,
	`FETCH 1:* RFC822.HEADER`,
	`FETCH 1:* (BINARY.SIZE[1])`,
	`FETCH 2 (BINARY.PEEK[1])`,
	`FETCH 3:4 (BINARY.PEEK[2] BINARY.SIZE[2])`,
	`FETCH 4 BODY[1]`,
	`FETCH 5 RFC822.TEXT`,
	`FETCH 6 RFC822`,
	`FETCH 1:* FLAGS`,
	`STORE 1:3 +FLAGS (\Flagged)`,
	`STORE 2 -FLAGS (\Seen)`,
	`STORE 4:6 FLAGS ($Work \Answered)`,
	`STORE 7 +FLAGS.SILENT (\Deleted)`,
	`UID STORE 8:9 +FLAGS ($Todo)`,
	`STORE 10 -FLAGS.SILENT ($Work)`,
	`FETCH 1:* FLAGS`,
	`SEARCH ALL`,
	`SEARCH SEEN`,
	`SEARCH UNSEEN`,
	`SEARCH FLAGGED UNANSWERED`,
	`SEARCH DELETED`,
	`SEARCH ANSWERED`,
	`SEARCH DRAFT`,
	`SEARCH UNDRAFT`,
	`SEARCH KEYWORD $Work`,
	`SEARCH UNKEYWORD $Work`,
	`SEARCH FROM alice`,
	`SEARCH FROM "Bob, the"`,
	`SEARCH TO team`,
	`SEARCH CC carol`,
	`SEARCH BCC dave`,
	`SEARCH SUBJECT report`,
	`SEARCH SUBJECT "re: quarterly"`,
	"SEARCH CHARSET UTF-8 SUBJECT {7+}\r\nGrüße",
	"SEARCH CHARSET UTF-8 FROM {7+}\r\nJürgen",
	"SEARCH CHARSET UTF-8 SUBJECT {5+}\r\ncafé",
	`SEARCH BODY ipsum`,
	`SEARCH TEXT ipsum`,
	`SEARCH BODY "soft break joined"`,
	"SEARCH CHARSET UTF-8 BODY {6+}\r\ncrème",
	"SEARCH CHARSET UTF-8 TEXT {6+}\r\nnaïve",
	`SEARCH TEXT "nested body"`,
	`SEARCH BODY "html ipsum"`,
	`SEARCH TEXT report.pdf`,
	`SEARCH HEADER Message-ID "<m5@"`,
	`SEARCH HEADER X-Mailer ""`,
	`SEARCH HEADER List-Id weekly`,
	`SEARCH HEADER X-Long "two lines"`,
	`SEARCH LARGER 2000`,
	`SEARCH SMALLER 800`,
	`SEARCH BEFORE 10-Feb-2024`,
	`SEARCH SINCE 10-Feb-2024`,
	`SEARCH ON 3-Jan-2024`,
	`SEARCH SENTBEFORE 1-Feb-2024`,
	`SEARCH SENTSINCE 1-Mar-2024`,
	`SEARCH SENTON 3-Mar-2024`,
	`SEARCH OR FLAGGED SEEN`,
	`SEARCH NOT SEEN`,
	`SEARCH OR (FROM alice SUBJECT report) LARGER 3000`,
	`SEARCH 2:5 NOT DELETED`,
	`SEARCH UID 3:6,20:*`,
	`SEARCH NOT (OR KEYWORD $Work KEYWORD $Todo)`,
	`UID SEARCH FLAGGED`,
	`UID SEARCH RETURN (MIN MAX COUNT) ALL`,
	`UID SEARCH RETURN (ALL) SEEN`,
	`SEARCH RETURN () FLAGGED`,
	`SEARCH RETURN (COUNT) TEXT attachment`,
	`SEARCH RETURN (MIN) SUBJECT nothing-matches-this`,
	`COPY 1:3 INBOX`,
	`EXPUNGE`,
	`FETCH 1:* (UID FLAGS)`,
	`SEARCH ALL`,
	`UID SEARCH 1:*`,
	`STATUS INBOX (MESSAGES UIDNEXT UNSEEN)`,
	`ENABLE CONDSTORE`,
	`FETCH 1:3 (FLAGS MODSEQ)`,
	`SEARCH MODSEQ 1`,
	`CLOSE`,
	`LOGOUT`,
}

func TestDifferentialDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test skipped in -short mode")
	}
	dovecot := startDovecot(t)
	ours := startInterop(t, false)
	run := func(addr string) [][]string {
		rc := dialRaw(t, addr)
		if r := rc.cmd(t, "LOGIN alice pass"); !strings.Contains(r[len(r)-1], " OK") {
			t.Fatalf("%s LOGIN: %q", addr, r)
		}
		var all [][]string
		for i, m := range diffMessages() {
			fl := []string{``, `\Seen`, `\Flagged $Work`, `\Seen \Answered`, `\Draft`}[i%5]
			date := fmt.Sprintf("%02d-%s-2024 %02d:30:00 +0100", 1+i%28, []string{"Jan", "Feb", "Mar"}[i%3], i%24)
			all = append(all, rc.appendMsg(t, fl, date, strings.ReplaceAll(m, "\n", "\r\n")))
		}
		for _, c := range diffScript {
			all = append(all, rc.cmd(t, c))
		}
		return all
	}
	theirs := run(dovecot)
	mine := run(ours.addr)
	cmds := append(make([]string, len(diffMessages())), diffScript...)
	for i := range len(diffMessages()) {
		cmds[i] = fmt.Sprintf("APPEND message %d", i+1)
	}
	var diffs int
	for i, c := range cmds {
		a, b := normalizeAll(theirs[i]), normalizeAll(mine[i])
		// Two servers that refuse a command alike prove nothing.
		if c != "LOGOUT" && (len(a) == 0 || !strings.HasPrefix(a[len(a)-1], "TAG OK")) {
			t.Errorf("%s: Dovecot did not accept it: %q", c, theirs[i])
		}
		if !slices.Equal(a, b) {
			diffs++
			if why, ok := knownDifferences[c]; ok {
				t.Logf("%s: known difference (%s):\n%s", c, why, lineDiff(a, b, 2))
				continue
			}
			t.Errorf("%s: responses differ (- dovecot, + postyard):\n%s", c, lineDiff(a, b, 6))
		}
	}
	t.Logf("%d commands compared, %d differ", len(cmds), diffs)
}

// knownDifferences are the commands whose responses differ between
// Dovecot and postyard in ways both servers may choose, or that are left
// as they are for now, and why. Their diffs are logged, not failed.
var knownDifferences = map[string]string{
	// Dovecot counts the lines of a part inside a multipart without the
	// CRLF that belongs to the next boundary (RFC 2046 §5.1.1); package
	// mailbox counts a last line without CRLF. Dovecot also gives a
	// text part whose Content-Type has no charset ("charset"
	// "us-ascii") (RFC 2045 §5.2 default); mailbox gives NIL.
	"FETCH 1:* BODYSTRUCTURE": "body-fld-lines of multipart children, default charset",
	"FETCH 1:* BODY":          "body-fld-lines of multipart children, default charset",
	"FETCH 2,4 FULL":          "body-fld-lines of multipart children, default charset",
	// RFC 2046 §5.1.1: the CRLF before a boundary belongs to the
	// boundary, so a nested multipart's content ends at its close
	// delimiter; Dovecot includes that CRLF. BINARY of a nested
	// multipart: Dovecot also decodes its children.
	"FETCH 1:* BODY.PEEK[1]":     "end of a nested multipart's content (RFC 2046 §5.1.1)",
	"FETCH 1:* (BINARY.SIZE[1])": "BINARY of a nested multipart",
	// A section that does not exist: Dovecot "", postyard NIL.
	"FETCH 3:6 BODY.PEEK[2]": "missing section: NIL or empty string",
	// postyard sends FLAGS after a non-PEEK body fetch and a STORE even
	// when they did not change; Dovecot only when they did. Both are
	// allowed (RFC 9051 §6.4.5, §6.4.6).
	"FETCH 4 BODY[1]":             "FLAGS sent when \\Seen was already set",
	`STORE 1:3 +FLAGS (\Flagged)`: "FETCH sent for a message whose flags did not change",
	// A message without Date: Dovecot treats its sent date as the
	// epoch, postyard uses the internal date (as RFC 5256 SORT does).
	"SEARCH SENTBEFORE 1-Feb-2024": "sent date of a message without Date",
	"SEARCH SENTSINCE 1-Mar-2024":  "sent date of a message without Date",
	// Dovecot sends OK [HIGHESTMODSEQ] when CONDSTORE is enabled while
	// a mailbox is selected.
	"ENABLE CONDSTORE": "HIGHESTMODSEQ on ENABLE while selected",
}

// lineDiff shows up to max lines present on one side only.
func lineDiff(a, b []string, max int) string {
	var out []string
	count := func(l []string) map[string]int {
		m := make(map[string]int)
		for _, s := range l {
			m[s]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	for _, s := range a {
		if cb[s] == 0 && len(out) < max {
			out = append(out, "  - "+s)
		}
		cb[s]--
	}
	for _, s := range b {
		if ca[s] == 0 && len(out) < 2*max {
			out = append(out, "  + "+s)
		}
		ca[s]--
	}
	if len(out) == 0 {
		out = append(out, "  (same responses, different order)")
	}
	return strings.Join(out, "\n")
}

// normalizeAll normalises the responses to one command.
func normalizeAll(resps []string) []string {
	var out, status []string
	for _, r := range resps {
		switch n := normalizeResponse(r); {
		case n == "":
		case strings.HasPrefix(n, "* OK ["):
			// The order of response codes (SELECT) is the server's.
			status = append(status, n)
		default:
			out = append(out, n)
		}
	}
	slices.Sort(status)
	return append(status, out...)
}

// normalizeResponse returns the canonical form of one response, or "" for
// a response that is server-specific.
func normalizeResponse(r string) string {
	r = strings.TrimSuffix(r, "\r\n")
	tag, rest, _ := strings.Cut(r, " ")
	if tag != "*" && tag != "+" {
		tag = "TAG"
	}
	if tag == "+" {
		return "+"
	}
	word, text, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(word) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		if word != "OK" {
			return tag + " " + word
		}
		code := ""
		if strings.HasPrefix(text, "[") {
			if j := strings.IndexByte(text, ']'); j > 0 {
				code = text[1:j]
			}
		}
		name, args, _ := strings.Cut(code, " ")
		switch strings.ToUpper(name) {
		case "CAPABILITY", "PERMANENTFLAGS", "CLIENTBUG":
			code = ""
		case "UIDVALIDITY":
			code = "UIDVALIDITY V"
		case "HIGHESTMODSEQ":
			code = "HIGHESTMODSEQ M"
		case "APPENDUID", "COPYUID":
			_, uids, _ := strings.Cut(args, " ")
			code = name + " V " + uids
		}
		if code == "" {
			if tag == "*" {
				return "" // untagged OK with text only, or a dropped code
			}
			return tag + " OK"
		}
		return tag + " OK [" + code + "]"
	case "CAPABILITY", "FLAGS":
		return ""
	}
	// Numbered responses: "* 3 EXISTS", "* 3 RECENT", "* 3 FETCH (...)".
	if n, err := strconv.Atoi(word); err == nil {
		kind, data, _ := strings.Cut(text, " ")
		switch strings.ToUpper(kind) {
		case "RECENT":
			return ""
		case "FETCH":
			return fmt.Sprintf("* %d FETCH %s", n, canonFetch(data))
		}
		return r
	}
	switch strings.ToUpper(word) {
	case "SEARCH":
		f := strings.Fields(text)
		if i := slices.Index(f, "(MODSEQ"); i >= 0 {
			f = f[:i]
		}
		return "* SEARCH " + strings.Join(f, " ")
	case "ESEARCH":
		return "* ESEARCH " + canonList(parseTokens(text))
	case "STATUS":
		// The mailbox name is an astring: atom or quoted is the
		// server's choice.
		toks := parseTokens(text)
		if len(toks) > 0 && toks[0].atom != "" {
			name := toks[0].atom
			toks[0] = token{str: &name}
		}
		return "* STATUS " + canonList(toks)
	}
	return r
}

// token is a parsed response item: an atom, a string or a list.
type token struct {
	atom   string
	str    *string
	list   []token
	isList bool
}

// parseTokens parses IMAP response data: atoms (with [...] sections and
// <partial> kept in them), quoted strings, literals, NIL, lists.
func parseTokens(s string) []token {
	var toks []token
	p := &tokParser{s: s}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return toks
		}
		toks = append(toks, p.next())
	}
}

type tokParser struct {
	s string
	i int
}

func (p *tokParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\r' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *tokParser) next() token {
	switch c := p.s[p.i]; {
	case c == '(':
		p.i++
		var l []token
		for {
			p.skipSpace()
			if p.i >= len(p.s) {
				return token{list: l, isList: true}
			}
			if p.s[p.i] == ')' {
				p.i++
				return token{list: l, isList: true}
			}
			l = append(l, p.next())
		}
	case c == '"':
		p.i++
		var b strings.Builder
		for p.i < len(p.s) && p.s[p.i] != '"' {
			if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
				p.i++
			}
			b.WriteByte(p.s[p.i])
			p.i++
		}
		p.i++
		s := b.String()
		return token{str: &s}
	case c == '{' || c == '~' && p.i+1 < len(p.s) && p.s[p.i+1] == '{':
		j := strings.Index(p.s[p.i:], "}\r\n")
		start := p.i + strings.IndexByte(p.s[p.i:], '{') + 1
		n, _ := strconv.Atoi(strings.TrimSuffix(p.s[start:p.i+j], "+"))
		p.i += j + 3
		s := p.s[p.i:min(p.i+n, len(p.s))]
		p.i += n
		return token{str: &s}
	}
	start := p.i
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '[' {
			depth++
		} else if c == ']' {
			depth--
		} else if depth == 0 && (c == ' ' || c == '(' || c == ')') {
			break
		}
		p.i++
	}
	return token{atom: p.s[start:p.i]}
}

// canon renders a token canonically: strings quoted Go-style whatever
// their wire form, atoms upper-cased except flags, \Recent dropped.
func canon(t token) string {
	switch {
	case t.str != nil:
		return strconv.Quote(*t.str)
	case t.isList:
		return canonList(t.list)
	case strings.EqualFold(t.atom, "NIL"):
		return "NIL"
	}
	return t.atom
}

func canonList(l []token) string {
	var parts []string
	for _, t := range l {
		if strings.EqualFold(t.atom, `\Recent`) {
			continue
		}
		parts = append(parts, canon(t))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// upperEncodings upper-cases Content-Transfer-Encoding values in a body
// structure (case-insensitive, RFC 9051 §9 body-fld-enc).
func upperEncodings(t token) token {
	if t.str != nil {
		switch u := strings.ToUpper(*t.str); u {
		case "7BIT", "8BIT", "BINARY", "BASE64", "QUOTED-PRINTABLE":
			return token{str: &u}
		}
		return t
	}
	if t.isList {
		l := make([]token, len(t.list))
		for i, x := range t.list {
			l[i] = upperEncodings(x)
		}
		return token{list: l, isList: true}
	}
	return t
}

// canonFetch renders FETCH data with the items sorted by name, MODSEQ
// values hidden, and flag lists sorted.
func canonFetch(data string) string {
	toks := parseTokens(data)
	if len(toks) != 1 || !toks[0].isList {
		return data
	}
	l := toks[0].list
	var items []string
	for i := 0; i+1 < len(l); i += 2 {
		name := strings.ToUpper(l[i].atom)
		v := l[i+1]
		switch {
		case name == "MODSEQ":
			items = append(items, "MODSEQ (M)")
			continue
		case name == "FLAGS":
			var fl []string
			for _, f := range v.list {
				if !strings.EqualFold(f.atom, `\Recent`) {
					fl = append(fl, f.atom)
				}
			}
			slices.Sort(fl)
			items = append(items, "FLAGS ("+strings.Join(fl, " ")+")")
			continue
		}
		if name == "INTERNALDATE" && v.str != nil {
			// Dovecot keeps the instant, not the zone given to APPEND.
			if d, err := time.Parse("02-Jan-2006 15:04:05 -0700", *v.str); err == nil {
				items = append(items, "INTERNALDATE "+d.UTC().Format(time.RFC3339))
				continue
			}
		}
		if name == "BODY" || name == "BODYSTRUCTURE" {
			v = upperEncodings(v)
		}
		items = append(items, name+" "+canon(v))
	}
	slices.Sort(items)
	return "(" + strings.Join(items, " ") + ")"
}
