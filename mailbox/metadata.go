package mailbox

import (
	"net/textproto"
	"slices"
	"time"
)

// Metadata is what a Store caches about a message when it is stored, so
// that IMAP FETCH ENVELOPE and BODYSTRUCTURE, SEARCH on the common header
// fields and SORT need not read it again. Stores build it with Parse.
// A Metadata is immutable once built and may be shared.
type Metadata struct {
	// Envelope is the IMAP ENVELOPE of the message (RFC 9051 §7.5.2).
	Envelope *Envelope
	// Body is the MIME structure of the message: the root part, whose
	// header starts at offset 0 and whose End is the message size.
	Body *Part
	// Date is the Date header field (RFC 5322 §3.6.1) parsed, for SEARCH
	// SENTBEFORE/SENTON/SENTSINCE and SORT DATE; zero when missing or
	// unparseable (SORT then uses the internal date, RFC 5256 §2.2).
	Date time.Time
	// Fields are the top-level header fields named by IsCachedField, in
	// message order, unfolded and with RFC 2047 encoded words decoded to
	// UTF-8: what SEARCH FROM/TO/CC/BCC/SUBJECT/HEADER match against
	// (RFC 9051 §6.4.4). Other fields are read from the message header
	// (Body.BodyOffset bytes from the start).
	Fields []Field
}

// Field is a header field name and value.
type Field struct {
	Name  string // canonical form (textproto.CanonicalMIMEHeaderKey)
	Value string
}

var cachedFields = []string{
	"Bcc", "Cc", "Date", "From", "In-Reply-To", "List-Id", "Message-Id",
	"References", "Reply-To", "Sender", "Subject", "To",
}

// IsCachedField reports whether Metadata.Fields holds the header field
// name (case-insensitive): Bcc, Cc, Date, From, In-Reply-To, List-Id,
// Message-Id, References, Reply-To, Sender, Subject and To.
func IsCachedField(name string) bool {
	_, ok := slices.BinarySearch(cachedFields, textproto.CanonicalMIMEHeaderKey(name))
	return ok
}

// Header returns the decoded values of the cached header field name
// (case-insensitive), in message order; nil if the message has none or
// the field is not cached.
func (m *Metadata) Header(name string) []string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	var vs []string
	for _, f := range m.Fields {
		if f.Name == name {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Envelope is the IMAP envelope structure (RFC 9051 §7.5.2). Strings are
// the raw header field values, unfolded, with encoded words left as they
// are (IMAP clients decode them); "" stands for NIL. As RFC 9051
// requires, Sender and ReplyTo are the From addresses when their fields
// are missing or empty.
type Envelope struct {
	Date      string
	Subject   string
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo string
	MessageID string
}

// Address is one element of an envelope address list (RFC 9051 §7.5.2).
// A group (RFC 5322 §3.4) appears as a start marker (GroupStart, with the
// group name in Mailbox), its members, and an end marker (GroupEnd, all
// strings empty). Name is the display name with quoting removed and
// encoded words left; Mailbox is the local part as written; Host is the
// domain, "" if the address had none. Source routes are dropped.
type Address struct {
	Name       string
	Mailbox    string
	Host       string
	GroupStart bool
	GroupEnd   bool
}

// Part is one MIME entity of a message (RFC 2045, RFC 2046) with what IMAP
// BODYSTRUCTURE reports of it (RFC 9051 §7.5.2) and where it lies in the
// raw message, so that FETCH BODY[section] can be served with
// Content.ReadAt: the part's header (section MIME, or HEADER of a
// message) is [HeaderOffset, BodyOffset), its body (section TEXT, or the
// part itself) is [BodyOffset, End).
type Part struct {
	// Type and Subtype are lower case; "text" and "plain" when the part
	// has no usable Content-Type (or "message"/"rfc822" inside
	// multipart/digest, RFC 2046 §5.1.5). A multipart that has no boundary
	// parameter or no delimiter line, or is nested beyond
	// ParseOptions.MaxDepth, is reported as text/plain.
	Type, Subtype string
	// Params are the Content-Type parameters, names lower case, sorted by
	// name, RFC 2231 continuations joined. A part without Content-Type has
	// charset=us-ascii.
	Params []Param
	// ID, Description, MD5 and Location are the raw values of
	// Content-ID, Content-Description, Content-MD5 and Content-Location;
	// "" for none.
	ID, Description, MD5, Location string
	// Encoding is the Content-Transfer-Encoding in upper case, "7BIT" by
	// default.
	Encoding string
	// Disposition is the Content-Disposition value in lower case ("" for
	// none) and DispositionParams its parameters.
	Disposition       string
	DispositionParams []Param
	// Language is the Content-Language list.
	Language []string

	// Parts are the children of a multipart; never empty for one.
	Parts []*Part
	// Envelope and Message describe the encapsulated message of a
	// message/rfc822 or message/global part (not base64 or
	// quoted-printable encoded); nil otherwise.
	Envelope *Envelope
	Message  *Part

	// Size is the body's size in bytes (End - BodyOffset) and Lines its
	// number of lines (a last line without CRLF counts).
	Size, Lines int64
	// Offsets in the raw message.
	HeaderOffset, BodyOffset, End int64
}

// Param is a MIME parameter.
type Param struct {
	Name, Value string
}

// IsMultipart reports whether p is a multipart with children.
func (p *Part) IsMultipart() bool { return len(p.Parts) > 0 }

// Walk calls fn for p and each part below it, depth first, with the IMAP
// section number of each (RFC 9051 §6.4.5: nil for the root, []int{1, 2}
// for "1.2"). The parts of a message/rfc822 part's message are numbered
// below that part, as IMAP does. The body of a message that is not
// multipart is IMAP section 1 too, which Walk does not yield separately.
// Walk stops early when fn returns false.
func (p *Part) Walk(fn func(section []int, part *Part) bool) {
	p.walk(nil, fn)
}

func (p *Part) walk(section []int, fn func([]int, *Part) bool) bool {
	if !fn(section, p) {
		return false
	}
	children := p.Parts
	if p.Message != nil {
		if p.Message.IsMultipart() {
			children = p.Message.Parts
		} else {
			children = []*Part{p.Message}
		}
	}
	for i, c := range children {
		if !c.walk(append(slices.Clip(section), i+1), fn) {
			return false
		}
	}
	return true
}
