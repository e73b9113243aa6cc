package imap

import (
	"context"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postyard/postyard/mailbox"
)

// searchKey is one node of a parsed SEARCH (RFC 9051 §6.4.4).
type searchKey struct {
	op     string // upper-case key name; "AND" for a list
	str    string // string argument (folded for text keys)
	field  string // HEADER field name
	num    uint64
	date   time.Time
	flags  mailbox.Flags
	kw     string
	uids   mailbox.UIDSet
	sub    []*searchKey
	negate bool
	// cached is set for a HEADER key whose field the store caches in
	// Metadata.Fields; field is then in canonical form, as there.
	cached bool
}

// searchNeeds says what evaluating a key needs: the parts of the cached
// metadata to ask the store for, and whether message content is read.
type searchNeeds struct {
	meta    mailbox.MetadataParts
	content bool
}

func (c *conn) readSearchKey(needs *searchNeeds) (*searchKey, error) {
	end, err := c.sc.Nest()
	if err != nil {
		return nil, err
	}
	defer end()
	if c.sc.Peek() == '(' {
		k := &searchKey{op: "AND"}
		err := c.sc.List(false, func() error {
			sub, err := c.readSearchKey(needs)
			k.sub = append(k.sub, sub)
			return err
		})
		return k, err
	}
	if p := c.sc.Peek(); p == '*' || '0' <= p && p <= '9' {
		set, err := c.readSeqSet()
		if err != nil {
			return nil, err
		}
		uids, err := c.sel.seqUIDs(set, true)
		return &searchKey{op: "UIDS", uids: uids}, err
	}
	word := strings.ToUpper(c.sc.TokenFunc(isFetchWordChar))
	k := &searchKey{op: word}
	arg := func() error { return c.sc.SP() }
	str := func() error {
		if err := arg(); err != nil {
			return err
		}
		s, err := c.sc.AString()
		if err != nil {
			return err
		}
		if !utf8.ValidString(s) {
			return no("BADCHARSET", "Search string is not UTF-8")
		}
		k.str = fold(s)
		return nil
	}
	date := func() error {
		if err := arg(); err != nil {
			return err
		}
		s, err := c.sc.AString()
		if err != nil {
			return err
		}
		k.date, err = parseDate(s)
		return err
	}
	switch word {
	case "ALL", "NEW", "OLD", "RECENT":
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		k.flags, _ = mailbox.ParseFlag(`\` + word)
		k.op = "FLAG"
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		k.flags, _ = mailbox.ParseFlag(`\` + word[2:])
		k.op, k.negate = "FLAG", true
	case "KEYWORD", "UNKEYWORD":
		if err := arg(); err != nil {
			return nil, err
		}
		kw, err := c.sc.Atom()
		if err != nil {
			return nil, err
		}
		if f, ok := mailbox.ParseFlag(kw); ok {
			k.op, k.flags = "FLAG", f
		} else {
			k.op, k.kw = "KEYWORD", kw
		}
		k.negate = word == "UNKEYWORD"
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		needs.meta |= mailbox.MetadataFields
		k.field, k.op = textproto.CanonicalMIMEHeaderKey(word), "HEADER"
		k.cached = mailbox.IsCachedField(k.field)
		err = str()
	case "HEADER":
		if err := arg(); err != nil {
			return nil, err
		}
		if k.field, err = c.sc.AString(); err != nil {
			return nil, err
		}
		err = str()
		if k.cached = mailbox.IsCachedField(k.field); k.cached {
			k.field = textproto.CanonicalMIMEHeaderKey(k.field)
			needs.meta |= mailbox.MetadataFields
		} else {
			// Read from the header, which ends where the body starts.
			needs.content = true
			needs.meta |= mailbox.MetadataBody
		}
	case "BODY", "TEXT":
		needs.content = true
		needs.meta |= mailbox.MetadataBody
		err = str()
	case "BEFORE", "ON", "SINCE":
		err = date()
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		needs.meta |= mailbox.MetadataDate
		err = date()
	case "LARGER", "SMALLER":
		if err := arg(); err != nil {
			return nil, err
		}
		k.num, err = c.sc.Number64()
	case "UID":
		if err := arg(); err != nil {
			return nil, err
		}
		set, err := c.readSeqSet()
		if err != nil {
			return nil, err
		}
		k.uids, err = c.sel.uidSet(set, true)
		if err != nil {
			return nil, err
		}
		k.op = "UIDS"
	case "NOT":
		if err := arg(); err != nil {
			return nil, err
		}
		sub, err := c.readSearchKey(needs)
		if err != nil {
			return nil, err
		}
		k.sub = []*searchKey{sub}
	case "OR":
		for range 2 {
			if err := arg(); err != nil {
				return nil, err
			}
			sub, err := c.readSearchKey(needs)
			if err != nil {
				return nil, err
			}
			k.sub = append(k.sub, sub)
		}
	case "MODSEQ":
		if err := arg(); err != nil {
			return nil, err
		}
		if c.sc.Peek() == '"' {
			// entry-name entry-type-req: accepted and ignored
			if _, err := c.sc.Quoted(); err != nil {
				return nil, err
			}
			if err := arg(); err != nil {
				return nil, err
			}
			if _, err := c.sc.Atom(); err != nil {
				return nil, err
			}
			if err := arg(); err != nil {
				return nil, err
			}
		}
		k.num, err = c.sc.Number64()
		c.condstore = true
	default:
		return nil, bad("Unknown search key")
	}
	return k, err
}

func fold(s string) string { return strings.ToLower(s) }

// containsFold reports whether fold(s) contains folded, without
// allocating when s is ASCII (most header values are).
func containsFold(s, folded string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(fold(s), folded)
		}
	}
	n := len(folded)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == folded[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// search runs SEARCH and UID SEARCH with ESEARCH results (RFC 4731,
// RFC 9051 §6.4.4) and MODSEQ (RFC 7162 §3.1.5).
func (c *conn) search(ctx context.Context, cmd *command) error {
	var ret []string
	esearch := false
	if err := c.sc.SP(); err != nil {
		return err
	}
	if c.sc.AcceptFold("RETURN ") {
		esearch = true
		err := c.sc.List(true, func() error {
			a, err := c.sc.Atom()
			a = strings.ToUpper(a)
			if err == nil && !contains([]string{"MIN", "MAX", "ALL", "COUNT", "SAVE"}, a) {
				return bad("Unknown RETURN option")
			}
			ret = append(ret, a)
			return err
		})
		if err != nil {
			return err
		}
		if err := c.sc.SP(); err != nil {
			return err
		}
		if len(ret) == 0 {
			ret = []string{"ALL"}
		}
	}
	if c.sc.AcceptFold("CHARSET ") {
		cs, err := c.sc.AString()
		if err != nil {
			return err
		}
		if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
			return no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
		}
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	var needs searchNeeds
	root := &searchKey{op: "AND"}
	for {
		k, err := c.readSearchKey(&needs)
		if err != nil {
			return err
		}
		root.sub = append(root.sub, k)
		if c.sc.EOL() {
			break
		}
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	sel := c.sel
	var hits []mailbox.UID
	var top mailbox.ModSeq
	usesModSeq := root.uses("MODSEQ")
	// Each message is tested and forgotten (but its UID): the store may
	// reuse its memory for the next.
	for m, err := range sel.mbox.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: needs.meta, Reuse: true}) {
		if err != nil {
			return err
		}
		if !sel.inView(m.UID) {
			continue
		}
		ok, err := c.match(ctx, root, m, needs)
		if err != nil {
			return err
		}
		if ok {
			hits = append(hits, m.UID)
			top = max(top, m.ModSeq)
		}
	}
	nums := make([]uint32, len(hits))
	for i, u := range hits {
		if cmd.uid {
			nums[i] = uint32(u)
		} else {
			nums[i] = sel.seq(u)
		}
	}
	if esearch || c.rev2 {
		if !esearch {
			ret = []string{"ALL"}
		}
		r := c.newResp().raw(`ESEARCH (TAG `).str(cmd.tag).raw(")")
		if cmd.uid {
			r.raw(" UID")
		}
		if len(nums) > 0 {
			for _, opt := range ret {
				switch opt {
				case "MIN":
					r.raw(" MIN ").num(uint64(nums[0]))
				case "MAX":
					r.raw(" MAX ").num(uint64(nums[len(nums)-1]))
				case "ALL":
					var set mailbox.UIDSet
					for _, n := range nums {
						set.Add(mailbox.UID(n))
					}
					r.raw(" ALL ").raw(set.String())
				}
			}
		}
		if contains(ret, "COUNT") {
			r.raw(" COUNT ").num(uint64(len(nums)))
		}
		if usesModSeq && len(nums) > 0 {
			r.raw(" MODSEQ ").num(uint64(top))
		}
		c.endResp(r)
		return nil
	}
	r := c.newResp().raw("SEARCH")
	for _, n := range nums {
		r.sp().num(uint64(n))
	}
	if usesModSeq && len(nums) > 0 {
		r.raw(" (MODSEQ ").num(uint64(top)).raw(")")
	}
	c.endResp(r)
	return nil
}

func (k *searchKey) uses(op string) bool {
	if k.op == op {
		return true
	}
	for _, s := range k.sub {
		if s.uses(op) {
			return true
		}
	}
	return false
}

// match evaluates k against m.
func (c *conn) match(ctx context.Context, k *searchKey, m *mailbox.Message, needs searchNeeds) (bool, error) {
	var ok bool
	switch k.op {
	case "AND":
		ok = true
		for _, s := range k.sub {
			r, err := c.match(ctx, s, m, needs)
			if err != nil {
				return false, err
			}
			if !r {
				ok = false
				break
			}
		}
	case "OR":
		for _, s := range k.sub {
			r, err := c.match(ctx, s, m, needs)
			if err != nil {
				return false, err
			}
			if r {
				ok = true
				break
			}
		}
	case "NOT":
		r, err := c.match(ctx, k.sub[0], m, needs)
		if err != nil {
			return false, err
		}
		ok = !r
	case "ALL", "OLD":
		ok = true
	case "NEW", "RECENT":
		ok = false // \Recent is never set
	case "FLAG":
		ok = m.Flags&k.flags != 0
	case "KEYWORD":
		for _, kw := range m.Keywords {
			if strings.EqualFold(kw, k.kw) {
				ok = true
			}
		}
	case "UIDS":
		ok = k.uids.Contains(m.UID)
	case "LARGER":
		ok = uint64(m.Size) > k.num
	case "SMALLER":
		ok = uint64(m.Size) < k.num
	case "MODSEQ":
		ok = uint64(m.ModSeq) >= k.num
	case "BEFORE", "ON", "SINCE":
		ok = compareDate(k.op, m.InternalDate, k.date)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		var d time.Time
		if m.Metadata != nil {
			d = m.Metadata.Date
		}
		if d.IsZero() {
			d = m.InternalDate
		}
		ok = compareDate(k.op[4:], d, k.date)
	case "HEADER":
		var err error
		ok, err = c.matchHeader(ctx, k, m)
		if err != nil {
			return false, err
		}
	case "BODY", "TEXT":
		var err error
		ok, err = c.matchText(ctx, k, m)
		if err != nil {
			return false, err
		}
	}
	return ok != k.negate, nil
}

// compareDate compares dates, disregarding time and timezone (RFC 9051
// §6.4.4).
func compareDate(op string, t, d time.Time) bool {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return day.Before(d)
	case "ON":
		return day.Equal(d)
	}
	return !day.Before(d)
}

func (c *conn) matchHeader(ctx context.Context, k *searchKey, m *mailbox.Message) (bool, error) {
	if m.Metadata != nil && k.cached {
		// Metadata.Header, without its per-call canonicalisation and slice.
		for _, f := range m.Metadata.Fields {
			if f.Name == k.field && containsFold(f.Value, k.str) {
				return true, nil
			}
		}
		return false, nil
	}
	content, err := c.sel.mbox.Open(ctx, m.UID)
	if err != nil {
		return false, nil
	}
	defer content.Close()
	end := bodyOf(m).BodyOffset
	raw, err := readRange(content, 0, min(end, maxHeaderRead))
	if err != nil {
		return false, err
	}
	// Match each field unfolded (RFC 5322 §2.2.3), so a value that
	// continues on the next line is found.
	h := filterHeader(raw, []string{k.field}, false)
	for _, line := range strings.Split(unfold(h), "\r\n") {
		_, v, found := strings.Cut(line, ":")
		if found && strings.Contains(fold(v), k.str) {
			return true, nil
		}
	}
	return false, nil
}

// maxSearchPart bounds the bytes of one part decoded for BODY and TEXT.
const maxSearchPart = 16 << 20

// matchText searches the decoded text parts (and, for TEXT, the header).
func (c *conn) matchText(ctx context.Context, k *searchKey, m *mailbox.Message) (bool, error) {
	content, err := c.sel.mbox.Open(ctx, m.UID)
	if err != nil {
		return false, nil
	}
	defer content.Close()
	root := bodyOf(m)
	if k.op == "TEXT" {
		raw, err := readRange(content, 0, min(root.BodyOffset, maxHeaderRead))
		if err != nil {
			return false, err
		}
		if strings.Contains(fold(unfold(raw)), k.str) {
			return true, nil
		}
	}
	found := false
	var ferr error
	root.Walk(func(sec []int, p *mailbox.Part) bool {
		// TEXT covers the MIME header fields of the parts too (RFC 9051
		// §6.4.4), such as an attachment's file name.
		if k.op == "TEXT" && len(sec) > 0 && p.BodyOffset > p.HeaderOffset {
			raw, err := readRange(content, p.HeaderOffset, min(p.BodyOffset, p.HeaderOffset+maxHeaderRead))
			if err != nil {
				ferr = err
				return false
			}
			if strings.Contains(fold(unfold(raw)), k.str) {
				found = true
				return false
			}
		}
		if p.IsMultipart() || p.Message != nil || (p.Type != "text" && p.Type != "message") {
			return true
		}
		raw, err := readRange(content, p.BodyOffset, min(p.End, p.BodyOffset+maxSearchPart))
		if err != nil {
			ferr = err
			return false
		}
		dec, err := decodeCTE(p.Encoding, raw)
		if err != nil {
			dec = raw
		}
		if strings.Contains(fold(toUTF8(dec, charsetOf(p))), k.str) {
			found = true
			return false
		}
		return true
	})
	return found, ferr
}

func unfold(b []byte) string {
	return strings.NewReplacer("\r\n ", " ", "\r\n\t", " ").Replace(string(b))
}

func charsetOf(p *mailbox.Part) string {
	for _, prm := range p.Params {
		if prm.Name == "charset" {
			return strings.ToLower(prm.Value)
		}
	}
	return "us-ascii"
}

// toUTF8 converts text in the common single-byte charsets; UTF-8 and
// unknown charsets are used as they are.
func toUTF8(b []byte, charset string) string {
	switch charset {
	case "iso-8859-1", "latin1", "windows-1252", "cp1252":
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	return string(b)
}
