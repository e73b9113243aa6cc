package queuetest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// ParsedReport is a delivery status notification read back with
// go-message, for tests of code that builds or sends reports.
type ParsedReport struct {
	// Header is the top-level header.
	Header message.Header
	// Types are the media types of the parts, in order.
	Types []string
	// Parts are the decoded bodies of the parts.
	Parts [][]byte
	// PerMessage is the first block of fields of the delivery-status
	// part (RFC 3464 §2.2), PerRecipient the others (§2.3).
	PerMessage   message.Header
	PerRecipient []message.Header
}

// ParseReport parses b as a multipart/report with report-type
// delivery-status (RFC 6522) and its delivery-status part (RFC 3464,
// global or not), and fails t if it is not one.
func ParseReport(t testing.TB, b []byte) *ParsedReport {
	t.Helper()
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	p := &ParsedReport{Header: e.Header}
	if typ, params, _ := e.Header.ContentType(); typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("report Content-Type = %s %v", typ, params)
	}
	mr := e.MultipartReader()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report part: %v", err)
		}
		typ, _, err := part.Header.ContentType()
		if err != nil {
			t.Fatalf("report part Content-Type: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("report part: %v", err)
		}
		p.Types = append(p.Types, typ)
		p.Parts = append(p.Parts, body)
	}
	if len(p.Parts) < 2 {
		t.Fatalf("report has %d parts, want 2 or 3", len(p.Parts))
	}
	for block := range strings.SplitSeq(strings.TrimRight(string(p.Parts[1]), "\r\n"), "\r\n\r\n") {
		be, err := message.Read(strings.NewReader(block + "\r\n\r\n"))
		if err != nil {
			t.Fatalf("delivery-status block %q: %v", block, err)
		}
		if p.PerMessage.Len() == 0 && p.PerRecipient == nil {
			p.PerMessage = be.Header
		} else {
			p.PerRecipient = append(p.PerRecipient, be.Header)
		}
	}
	if len(p.PerRecipient) == 0 {
		t.Fatalf("delivery-status has no recipient block: %q", p.Parts[1])
	}
	return p
}
