package maildir

import (
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

// BenchmarkDecodeMetadata measures decoding one cached metadata blob of
// an ordinary multipart/alternative message.
func BenchmarkDecodeMetadata(b *testing.B) {
	raw := "From: Sender <s@example.org>\r\nTo: bench@example.com, Other <o@example.net>\r\nCc: list@lists.example.org\r\n" +
		"Subject: topic-07 message\r\nDate: Mon, 2 Jan 2006 15:04:05 -0700\r\nMessage-ID: <1.bench@example.org>\r\n" +
		"In-Reply-To: <0.bench@example.org>\r\nReferences: <0.bench@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("lorem ipsum\r\n", 100) + "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n--b1--\r\n"
	md, err := mailbox.Parse(strings.NewReader(raw), nil)
	if err != nil {
		b.Fatal(err)
	}
	blob := string(encodeMetadata(nil, md))
	var zc zoneCache
	b.ReportAllocs()
	b.SetBytes(int64(len(blob)))
	for b.Loop() {
		if _, err := decodeMetaString(blob, mailbox.MetadataAll, &zc, nil); err != nil {
			b.Fatal(err)
		}
	}
}
