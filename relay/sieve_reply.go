package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postyard/postyard/sieve"
	"github.com/postyard/postyard/smtp"
)

// Bounds of the messages Sieve writes.
const (
	maxSubjectRunes    = 200
	maxReferencesBytes = 2000
	maxReturnedHeader  = 64 << 10
)

// sieveVacationMessage builds a vacation reply (RFC 5230 §5, RFC 3834 §3) to
// orig, from from (an address or a whole From value) to sender.
func sieveVacationMessage(v *sieve.Vacation, orig *sieve.Message, from string, sender smtp.Path, host string, now time.Time) []byte {
	h := orig.Header()
	var b bytes.Buffer
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("From: " + sieveFromValue(from) + "\r\n")
	b.WriteString("To: <" + sender.String() + ">\r\n")
	subject := v.Subject
	if subject == "" {
		// RFC 5230 §4.3: "Auto:" and the original subject.
		orig := ""
		if vals := h.Values("Subject"); len(vals) > 0 {
			orig = vals[0]
		}
		subject = "Auto: " + orig
	}
	b.WriteString("Subject: " + sieveEncodeWord(subject) + "\r\n")
	b.WriteString("Message-ID: " + sieveMessageID(host) + "\r\n")
	sieveThreading(&b, h)
	// RFC 3834 §5.
	b.WriteString("Auto-Submitted: auto-replied (vacation)\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	if v.MIME {
		// Reason is a MIME entity: its header fields, a blank line, its
		// body.
		b.Write(sieveCRLF([]byte(v.Reason)))
		if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
			b.WriteString("\r\n")
		}
		return b.Bytes()
	}
	sieveTextPart(&b, v.Reason)
	return b.Bytes()
}

// sieveRejectMessage builds the rejection of RFC 5429 §2.1.3: a message
// disposition notification (RFC 8098) saying orig was deleted, with the
// reason, and orig's header section.
func sieveRejectMessage(reason string, orig *sieve.Message, rcpt, sender smtp.Path, host string, now time.Time) []byte {
	h := orig.Header()
	boundary := sieveRandomHex(12) + "/" + host
	domain := rcpt.Domain
	if domain == "" {
		domain = host
	}
	var b bytes.Buffer
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("From: Postmaster <postmaster@" + domain + ">\r\n")
	b.WriteString("To: <" + sender.String() + ">\r\n")
	subject := "Automatically rejected mail"
	if vals := h.Values("Subject"); len(vals) > 0 {
		subject = "Rejected: " + vals[0]
	}
	b.WriteString("Subject: " + sieveEncodeWord(subject) + "\r\n")
	b.WriteString("Message-ID: " + sieveMessageID(host) + "\r\n")
	sieveThreading(&b, h)
	b.WriteString("Auto-Submitted: auto-replied (rejected)\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")

	b.WriteString("--" + boundary + "\r\n")
	sieveTextPart(&b, "Your message to <"+rcpt.String()+"> was automatically rejected:\n"+reason+"\n")
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/disposition-notification\r\n\r\n")
	b.WriteString("Reporting-UA: " + host + "; postyard\r\n")
	b.WriteString("Final-Recipient: rfc822; " + rcpt.String() + "\r\n")
	if vals := h.Values("Message-ID"); len(vals) > 0 && sieveOneLine(vals[0]) {
		b.WriteString("Original-Message-ID: " + vals[0] + "\r\n")
	}
	b.WriteString("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n")
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/rfc822-headers\r\n")
	hdr := orig.Raw()[:len(orig.Raw())-len(orig.Body())]
	if len(hdr) > maxReturnedHeader {
		hdr = hdr[:maxReturnedHeader]
		if i := bytes.LastIndex(hdr, []byte("\n")); i >= 0 {
			hdr = hdr[:i+1]
		}
	}
	if !sieveASCII(hdr) {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
	b.Write(sieveCRLF(bytes.TrimRight(hdr, "\r\n")))
	b.WriteString("\r\n\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// sieveThreading writes In-Reply-To and References for a reply to a
// message with header h (RFC 5322 §3.6.4, RFC 3834 §3.1.3).
func sieveThreading(b *bytes.Buffer, h sieve.Header) {
	vals := h.Values("Message-ID")
	if len(vals) == 0 || !sieveOneLine(vals[0]) || !strings.HasPrefix(vals[0], "<") {
		return
	}
	id := vals[0]
	b.WriteString("In-Reply-To: " + id + "\r\n")
	refs := ""
	if r := h.Values("References"); len(r) > 0 && sieveOneLine(r[0]) {
		refs = r[0]
	}
	if len(refs) > maxReferencesBytes {
		// Keep the first and the last ones (RFC 5322 §3.6.4 leaves the
		// choice open).
		f := strings.Fields(refs)
		refs = ""
		if len(f) > 0 {
			refs = f[0]
			tail := ""
			for i := len(f) - 1; i > 0 && len(tail)+len(f[i]) < maxReferencesBytes/2; i-- {
				tail = f[i] + " " + tail
			}
			refs += " " + strings.TrimSpace(tail)
		}
	}
	all := strings.Fields(refs + " " + id)
	b.WriteString("References: " + strings.Join(all, "\r\n "))
	b.WriteString("\r\n")
}

// sieveTextPart writes the Content-Type, transfer encoding and body of a
// text/plain part holding s.
func sieveTextPart(b *bytes.Buffer, s string) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	plain := sieveASCII([]byte(s))
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 76 {
			plain = false
		}
	}
	if plain {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
		b.WriteString(strings.ReplaceAll(s, "\n", "\r\n"))
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		w := quotedprintable.NewWriter(b)
		w.Write([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
		w.Close()
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
}

// sieveFromValue returns a From field value for from, an address or a whole
// name-addr (the vacation :from argument); one that does not parse is
// used as an address.
func sieveFromValue(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.String()
	}
	return "<" + strings.Trim(sieveSanitizeLine(from), "<> ") + ">"
}

// sieveEncodeWord returns s for an unstructured header field: one line, at
// most maxSubjectRunes characters, RFC 2047-encoded if not ASCII.
func sieveEncodeWord(s string) string {
	s = sieveSanitizeLine(strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) > maxSubjectRunes {
		s = string([]rune(s)[:maxSubjectRunes])
	}
	if sieveASCII([]byte(s)) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// sieveSanitizeLine replaces line breaks and other controls with spaces.
func sieveSanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func sieveOneLine(s string) bool { return !strings.ContainsAny(s, "\r\n") && len(s) < 998 }

func sieveMessageID(host string) string { return "<" + sieveRandomHex(16) + "@" + host + ">" }

func sieveRandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sieveCRLF turns bare LF and bare CR into CRLF.
func sieveCRLF(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
