package imap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/postyard/postyard/mailbox"
)

// fetchKind is a FETCH data item (RFC 9051 §6.4.5).
type fetchKind uint8

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchInternalDate
	fetchSize
	fetchEnvelope
	fetchBodyStructure
	fetchBody // non-extensible BODY
	fetchModSeq
	fetchSection    // BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT
	fetchBinary     // BINARY[...], BINARY.PEEK[...]
	fetchBinarySize // BINARY.SIZE[...]
)

// section is a body section specification (RFC 9051 §6.4.5).
type section struct {
	part   []int
	spec   string // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
	fields []string
}

type fetchItem struct {
	kind    fetchKind
	name    string // as it appears in the response, without the partial
	sec     section
	peek    bool
	partial bool
	offset  int64
	count   int64
}

// needsMeta returns the parts of the cached metadata the item needs.
func (it *fetchItem) needsMeta() mailbox.MetadataParts {
	switch it.kind {
	case fetchEnvelope:
		return mailbox.MetadataEnvelope
	case fetchBodyStructure, fetchBody, fetchBinary, fetchBinarySize:
		return mailbox.MetadataBody
	case fetchSection:
		if len(it.sec.part) > 0 || it.sec.spec != "" {
			return mailbox.MetadataBody
		}
	}
	return 0
}

func isFetchWordChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// readFetchItems parses the FETCH item list, including the macros.
func (c *conn) readFetchItems() ([]fetchItem, error) {
	if c.sc.Peek() == '(' {
		var items []fetchItem
		err := c.sc.List(false, func() error {
			it, err := c.readFetchItem()
			items = append(items, it)
			return err
		})
		return items, err
	}
	word := strings.ToUpper(c.sc.TokenFunc(isFetchWordChar))
	macro := map[string][]fetchKind{
		"ALL":  {fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope},
		"FAST": {fetchFlags, fetchInternalDate, fetchSize},
		"FULL": {fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope, fetchBody},
	}[word]
	if macro != nil && c.sc.Peek() != '[' {
		var items []fetchItem
		for _, k := range macro {
			items = append(items, fetchItem{kind: k, name: kindNames[k]})
		}
		return items, nil
	}
	it, err := c.finishFetchItem(word)
	return []fetchItem{it}, err
}

var kindNames = map[fetchKind]string{
	fetchUID: "UID", fetchFlags: "FLAGS", fetchInternalDate: "INTERNALDATE", fetchSize: "RFC822.SIZE",
	fetchEnvelope: "ENVELOPE", fetchBodyStructure: "BODYSTRUCTURE", fetchBody: "BODY", fetchModSeq: "MODSEQ",
}

func (c *conn) readFetchItem() (fetchItem, error) {
	word := strings.ToUpper(c.sc.TokenFunc(isFetchWordChar))
	return c.finishFetchItem(word)
}

func (c *conn) finishFetchItem(word string) (fetchItem, error) {
	simple := map[string]fetchKind{
		"UID": fetchUID, "FLAGS": fetchFlags, "INTERNALDATE": fetchInternalDate, "RFC822.SIZE": fetchSize,
		"ENVELOPE": fetchEnvelope, "BODYSTRUCTURE": fetchBodyStructure, "MODSEQ": fetchModSeq,
	}
	if k, ok := simple[word]; ok {
		if k == fetchModSeq {
			c.condstore = true
		}
		return fetchItem{kind: k, name: word}, nil
	}
	switch word {
	case "RFC822":
		return fetchItem{kind: fetchSection, name: word}, nil
	case "RFC822.HEADER":
		return fetchItem{kind: fetchSection, name: word, peek: true, sec: section{spec: "HEADER"}}, nil
	case "RFC822.TEXT":
		return fetchItem{kind: fetchSection, name: word, sec: section{spec: "TEXT"}}, nil
	case "BODY":
		if c.sc.Peek() != '[' {
			return fetchItem{kind: fetchBody, name: word}, nil
		}
		return c.readSectionItem(fetchItem{kind: fetchSection}, "BODY", false)
	case "BODY.PEEK":
		return c.readSectionItem(fetchItem{kind: fetchSection, peek: true}, "BODY", false)
	case "BINARY":
		return c.readSectionItem(fetchItem{kind: fetchBinary}, "BINARY", true)
	case "BINARY.PEEK":
		return c.readSectionItem(fetchItem{kind: fetchBinary, peek: true}, "BINARY", true)
	case "BINARY.SIZE":
		return c.readSectionItem(fetchItem{kind: fetchBinarySize, peek: true}, "BINARY.SIZE", true)
	}
	return fetchItem{}, bad("Unknown FETCH item")
}

// readSectionItem parses "[" section "]" ["<" offset "." count ">"].
func (c *conn) readSectionItem(it fetchItem, name string, binary bool) (fetchItem, error) {
	if err := c.sc.Expect('['); err != nil {
		return it, err
	}
	start := c.sc.Rest()
	sec, err := c.readSection(binary)
	if err != nil {
		return it, err
	}
	text := string(start[:len(start)-len(c.sc.Rest())])
	if err := c.sc.Expect(']'); err != nil {
		return it, err
	}
	it.sec = sec
	it.name = name + "[" + text + "]"
	if c.sc.Accept('<') {
		if it.kind == fetchBinarySize {
			return it, bad("BINARY.SIZE takes no partial")
		}
		off, err := c.sc.Number()
		if err != nil {
			return it, err
		}
		if err := c.sc.Expect('.'); err != nil {
			return it, err
		}
		n, err := c.sc.Number()
		if err != nil || n == 0 {
			return it, bad("Invalid partial")
		}
		if err := c.sc.Expect('>'); err != nil {
			return it, err
		}
		it.partial, it.offset, it.count = true, int64(off), int64(n)
	}
	return it, nil
}

func (c *conn) readSection(binary bool) (section, error) {
	var sec section
	for {
		if c.sc.Peek() < '1' || c.sc.Peek() > '9' {
			break
		}
		n, err := c.sc.Number()
		if err != nil || n == 0 || len(sec.part) >= 64 {
			return sec, bad("Invalid section")
		}
		sec.part = append(sec.part, int(n))
		if !c.sc.Accept('.') {
			return sec, nil
		}
	}
	if c.sc.Peek() == ']' {
		if len(sec.part) > 0 {
			return sec, bad("Invalid section")
		}
		return sec, nil
	}
	if binary {
		return sec, bad("Invalid BINARY section")
	}
	spec := strings.ToUpper(c.sc.TokenFunc(isFetchWordChar))
	switch spec {
	case "HEADER", "TEXT":
	case "MIME":
		if len(sec.part) == 0 {
			return sec, bad("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if err := c.sc.SP(); err != nil {
			return sec, err
		}
		err := c.sc.List(false, func() error {
			f, err := c.sc.AString()
			if err != nil {
				return err
			}
			sec.fields = append(sec.fields, f)
			return nil
		})
		if err != nil {
			return sec, err
		}
	default:
		return sec, bad("Invalid section")
	}
	sec.spec = spec
	return sec, nil
}

// fetch runs FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) with
// CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6).
func (c *conn) fetch(ctx context.Context, cmd *command) error {
	set, err := c.spSeqSet()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	items, err := c.readFetchItems()
	if err != nil {
		return err
	}
	var changedSince mailbox.ModSeq
	var vanished bool
	if c.sc.Accept(' ') {
		err := c.sc.List(false, func() error {
			switch {
			case c.sc.AcceptFold("CHANGEDSINCE "):
				n, err := c.sc.Number64()
				if err != nil {
					return err
				}
				changedSince = mailbox.ModSeq(n)
				c.condstore = true
			case c.sc.AcceptFold("VANISHED"):
				vanished = true
			default:
				return bad("Unknown FETCH modifier")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if vanished && (!cmd.uid || !c.qresync || changedSince == 0) {
		return bad("VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE")
	}
	uids, err := c.sel.uidSet(set, cmd.uid)
	if err != nil {
		return err
	}
	if cmd.uid {
		items = addItem(items, fetchUID)
	}
	if changedSince > 0 {
		items = addItem(items, fetchModSeq)
	}
	if vanished {
		gone, err := c.sel.mbox.Expunged(ctx, uids, changedSince)
		if err != nil {
			return err
		}
		if gone = gone.Normalize(); len(gone) > 0 {
			c.untagged("VANISHED (EARLIER) " + gone.String())
		}
	}
	return c.fetchMessages(ctx, uids, items, changedSince)
}

func addItem(items []fetchItem, k fetchKind) []fetchItem {
	for _, it := range items {
		if it.kind == k {
			return items
		}
	}
	return append(items, fetchItem{kind: k, name: kindNames[k]})
}

// setsSeen reports whether fetching the items sets \Seen.
func setsSeen(items []fetchItem) bool {
	for _, it := range items {
		if (it.kind == fetchSection || it.kind == fetchBinary) && !it.peek {
			return true
		}
	}
	return false
}

func (c *conn) fetchMessages(ctx context.Context, uids mailbox.UIDSet, items []fetchItem, changedSince mailbox.ModSeq) error {
	sel := c.sel
	if len(uids) == 0 {
		return nil
	}
	if setsSeen(items) && !sel.readOnly {
		res, err := sel.mbox.UpdateFlags(ctx, uids, &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
		if err != nil {
			return err
		}
		for _, m := range res.Messages {
			if m.ModSeq > sel.modseq {
				sel.sent.add(m.UID, m.ModSeq)
			}
		}
		items = addItem(items, fetchFlags)
	}
	// Each message is answered and forgotten: the store may reuse its
	// memory for the next.
	opts := &mailbox.FetchOptions{ChangedSince: changedSince, Reuse: true}
	body := false
	for i := range items {
		opts.Metadata |= items[i].needsMeta()
		body = body || items[i].kind == fetchSection || items[i].kind == fetchBinary || items[i].kind == fetchBinarySize
	}
	list := func() error {
		for m, err := range sel.mbox.Messages(ctx, uids, opts) {
			if err != nil {
				return err
			}
			seq := sel.seq(m.UID)
			if seq == 0 {
				continue
			}
			if err := c.fetchOne(ctx, seq, m, items, body); err != nil {
				return err
			}
		}
		return nil
	}
	if manyUIDs(uids, 8) {
		return c.bigWrites(list)
	}
	return list()
}

// manyUIDs reports whether the set names more than n UIDs.
func manyUIDs(set mailbox.UIDSet, n int64) bool {
	for _, r := range set {
		if n -= int64(r.Stop) - int64(r.Start) + 1; n < 0 {
			return true
		}
	}
	return false
}

// bigWrites runs fn, which sends a large response (a FETCH of many
// messages), with a 64 KiB write buffer from the server's pool in place
// of the session's 4 KiB one: one write to the connection for 64 KiB
// of response instead of one for every 4 KiB (every message, for
// BODY[] of ordinary mail). The buffer is flushed and given back after.
func (c *conn) bigWrites(fn func() error) error {
	small := c.w
	if err := small.Flush(); err != nil {
		return err
	}
	big, _ := c.s.bigWriters.Get().(*bufio.Writer)
	if big == nil {
		big = bufio.NewWriterSize(c.c, bigWriteBufSize)
	} else {
		big.Reset(c.c)
	}
	c.w = big
	err := fn()
	if ferr := big.Flush(); err == nil {
		err = ferr
	}
	c.w = small
	big.Reset(nil)
	c.s.bigWriters.Put(big)
	return err
}

func (c *conn) fetchOne(ctx context.Context, seq uint32, m *mailbox.Message, items []fetchItem, body bool) error {
	var content mailbox.Content
	if body {
		var err error
		content, err = c.sel.mbox.Open(ctx, m.UID)
		if err != nil {
			if mailbox.AsError(err) == mailbox.ErrNoSuchMessage {
				return nil // expunged meanwhile
			}
			return err
		}
		defer content.Close()
	}
	r := c.newResp()
	r.num(uint64(seq)).raw(" FETCH (")
	for i := range items {
		it := &items[i]
		if i > 0 {
			r.sp()
		}
		switch it.kind {
		case fetchUID:
			r.raw("UID ").num(uint64(m.UID))
		case fetchFlags:
			writeFlags(r, m.Flags, m.Keywords)
		case fetchInternalDate:
			r.raw(`INTERNALDATE "`).raw(formatDateTime(m.InternalDate)).raw(`"`)
		case fetchSize:
			r.raw("RFC822.SIZE ").num(uint64(m.Size))
		case fetchModSeq:
			r.raw("MODSEQ (").num(uint64(m.ModSeq)).raw(")")
		case fetchEnvelope:
			r.raw("ENVELOPE ")
			writeEnvelope(r, envelopeOf(m))
		case fetchBodyStructure:
			r.raw("BODYSTRUCTURE ")
			writeBodyStructure(r, bodyOf(m), true)
		case fetchBody:
			r.raw("BODY ")
			writeBodyStructure(r, bodyOf(m), false)
		case fetchSection, fetchBinary, fetchBinarySize:
			if err := c.writeSection(r, it, m, content); err != nil {
				return err
			}
		}
	}
	r.raw(")")
	c.endResp(r)
	return nil
}

// envelopeOf returns m's envelope, or an empty stand-in when the store
// gave none.
func envelopeOf(m *mailbox.Message) *mailbox.Envelope {
	if m.Metadata != nil && m.Metadata.Envelope != nil {
		return m.Metadata.Envelope
	}
	return &mailbox.Envelope{}
}

// bodyOf returns m's MIME structure, or a stand-in (the whole message as
// one text/plain body) when the store gave none.
func bodyOf(m *mailbox.Message) *mailbox.Part {
	if m.Metadata != nil && m.Metadata.Body != nil {
		return m.Metadata.Body
	}
	return &mailbox.Part{Type: "text", Subtype: "plain", Encoding: "7BIT", Size: m.Size, End: m.Size}
}

// findPart returns the part a section's part numbers name, or nil.
func findPart(root *mailbox.Part, nums []int) *mailbox.Part {
	if len(nums) == 0 {
		return root
	}
	var found *mailbox.Part
	// Walk stops at the first false, so it goes on until the part is
	// found (a false for "do not descend" would end the walk at the
	// first part as deep as nums, and BODY[2] would never be found).
	root.Walk(func(sec []int, p *mailbox.Part) bool {
		if equalInts(sec, nums) {
			found = p
			return false
		}
		return true
	})
	if found == nil && len(nums) == 1 && nums[0] == 1 && !root.IsMultipart() {
		return root // BODY[1] of a single-part message is its body
	}
	return found
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sectionRange returns the byte range of a section, and whether the
// section exists.
func sectionRange(m *mailbox.Message, sec *section) (start, end int64, ok bool) {
	if len(sec.part) == 0 && sec.spec == "" {
		return 0, m.Size, true
	}
	p := findPart(bodyOf(m), sec.part)
	if p == nil {
		return 0, 0, false
	}
	switch sec.spec {
	case "":
		return p.BodyOffset, p.End, true
	case "MIME":
		return p.HeaderOffset, p.BodyOffset, true
	}
	// HEADER, HEADER.FIELDS*, TEXT: of the message, or of the message a
	// message/rfc822 part holds.
	msg := p
	if len(sec.part) > 0 {
		if p.Message == nil {
			return 0, 0, false
		}
		msg = p.Message
	}
	if sec.spec == "TEXT" {
		return msg.BodyOffset, msg.End, true
	}
	return msg.HeaderOffset, msg.BodyOffset, true
}

// maxHeaderRead bounds the header read for HEADER.FIELDS.
const maxHeaderRead = 1 << 20

func (c *conn) writeSection(r *resp, it *fetchItem, m *mailbox.Message, content mailbox.Content) error {
	r.raw(it.name)
	if it.partial {
		r.byte_('<').num(uint64(it.offset)).byte_('>')
	}
	r.sp()
	start, end, ok := sectionRange(m, &it.sec)
	if !ok {
		if it.kind == fetchBinarySize {
			r.raw("0")
		} else {
			r.raw("NIL")
		}
		return nil
	}
	var data []byte
	switch {
	case it.kind == fetchBinary || it.kind == fetchBinarySize:
		// A multipart has no transfer encoding of its own to undo
		// (RFC 2045 §6.4): its BINARY is its content, as for BINARY[].
		p := findPart(bodyOf(m), it.sec.part)
		enc := "7BIT"
		if p != nil && len(it.sec.part) > 0 && !p.IsMultipart() {
			enc = p.Encoding
		}
		raw, err := readRange(content, start, end)
		if err != nil {
			return err
		}
		if data, err = decodeCTE(enc, raw); err != nil {
			return err
		}
		if it.kind == fetchBinarySize {
			r.num(uint64(len(data)))
			return nil
		}
	case strings.HasPrefix(it.sec.spec, "HEADER.FIELDS"):
		raw, err := readRange(content, start, min(end, start+maxHeaderRead))
		if err != nil {
			return err
		}
		data = filterHeader(raw, it.sec.fields, it.sec.spec == "HEADER.FIELDS.NOT")
	}
	if data != nil {
		start, end = 0, int64(len(data))
	}
	if it.partial {
		start = min(start+it.offset, end)
		end = min(start+it.count, end)
	}
	n := end - start
	if it.kind == fetchBinary {
		r.byte_('~')
	}
	r.byte_('{').num(uint64(n)).raw("}\r\n")
	if data != nil {
		r.b = append(r.b, data[start:end]...)
		return nil
	}
	// Stream the body: write what the response holds so far, then copy.
	r.flush(c.w)
	if _, err := io.Copy(c.w, io.NewSectionReader(content, start, n)); err != nil {
		return errClose
	}
	return nil
}

func readRange(content mailbox.Content, start, end int64) ([]byte, error) {
	buf := make([]byte, end-start)
	if _, err := content.ReadAt(buf, start); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	return buf, nil
}

// decodeCTE undoes a Content-Transfer-Encoding (RFC 3516 BINARY).
func decodeCTE(enc string, raw []byte) ([]byte, error) {
	switch strings.ToUpper(enc) {
	case "7BIT", "8BIT", "BINARY", "":
		return raw, nil
	case "BASE64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, raw)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return nil, no("UNKNOWN-CTE", "Cannot decode base64 content")
		}
		return out[:n], nil
	case "QUOTED-PRINTABLE":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return nil, no("UNKNOWN-CTE", "Cannot decode quoted-printable content")
		}
		return out, nil
	}
	return nil, no("UNKNOWN-CTE", "Unknown Content-Transfer-Encoding")
}

// filterHeader keeps (or, with not, drops) the fields named in fields,
// and ends the result with the empty line (RFC 9051 §6.4.5).
func filterHeader(raw []byte, fields []string, not bool) []byte {
	var out []byte
	keep := false
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(trimmed, []byte(":"))
			name = bytes.TrimSpace(name)
			match := false
			for _, f := range fields {
				if strings.EqualFold(f, string(name)) {
					match = true
					break
				}
			}
			keep = match != not
		}
		if keep {
			out = append(out, trimmed...)
			out = append(out, '\r', '\n')
		}
	}
	return append(out, '\r', '\n')
}

// writeEnvelope writes an ENVELOPE (RFC 9051 §7.5.2).
func writeEnvelope(r *resp, e *mailbox.Envelope) {
	if e == nil {
		e = &mailbox.Envelope{}
	}
	r.byte_('(')
	r.nilOr(e.Date).sp().nilOr(e.Subject).sp()
	for _, list := range [][]mailbox.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		writeAddresses(r, list)
		r.sp()
	}
	r.nilOr(e.InReplyTo).sp().nilOr(e.MessageID)
	r.byte_(')')
}

func writeAddresses(r *resp, list []mailbox.Address) {
	if len(list) == 0 {
		r.raw("NIL")
		return
	}
	r.byte_('(')
	for _, a := range list {
		switch {
		case a.GroupStart:
			r.raw("(NIL NIL ").nilOr(a.Mailbox).raw(" NIL)")
		case a.GroupEnd:
			r.raw("(NIL NIL NIL NIL)")
		default:
			r.byte_('(').nilOr(a.Name).raw(" NIL ").nilOr(a.Mailbox).sp().nilOr(a.Host).byte_(')')
		}
	}
	r.byte_(')')
}

func writeParams(r *resp, params []mailbox.Param) {
	if len(params) == 0 {
		r.raw("NIL")
		return
	}
	r.byte_('(')
	for i, p := range params {
		if i > 0 {
			r.sp()
		}
		r.str(p.Name).sp().str(p.Value)
	}
	r.byte_(')')
}

// writeBodyStructure writes BODYSTRUCTURE, or with ext unset BODY
// (RFC 9051 §7.5.2).
func writeBodyStructure(r *resp, p *mailbox.Part, ext bool) {
	r.byte_('(')
	if p.IsMultipart() {
		for _, child := range p.Parts {
			writeBodyStructure(r, child, ext)
		}
		r.sp().str(p.Subtype)
		if ext {
			r.sp()
			writeParams(r, p.Params)
			writeExtension(r, p)
		}
		r.byte_(')')
		return
	}
	r.str(p.Type).sp().str(p.Subtype).sp()
	writeParams(r, p.Params)
	r.sp().nilOr(p.ID).sp().nilOr(p.Description).sp().str(p.Encoding).sp().num(uint64(p.Size))
	switch {
	case p.Message != nil:
		r.sp()
		writeEnvelope(r, p.Envelope)
		r.sp()
		writeBodyStructure(r, p.Message, ext)
		r.sp().num(uint64(p.Lines))
	case p.Type == "text":
		r.sp().num(uint64(p.Lines))
	}
	if ext {
		r.sp().nilOr(p.MD5)
		writeExtension(r, p)
	}
	r.byte_(')')
}

// writeExtension writes body-fld-dsp, body-fld-lang and body-fld-loc.
func writeExtension(r *resp, p *mailbox.Part) {
	r.sp()
	if p.Disposition == "" {
		r.raw("NIL")
	} else {
		r.byte_('(').str(p.Disposition).sp()
		writeParams(r, p.DispositionParams)
		r.byte_(')')
	}
	r.sp()
	switch len(p.Language) {
	case 0:
		r.raw("NIL")
	case 1:
		r.str(p.Language[0])
	default:
		r.byte_('(')
		for i, l := range p.Language {
			if i > 0 {
				r.sp()
			}
			r.str(l)
		}
		r.byte_(')')
	}
	r.sp().nilOr(p.Location)
}
