package maildir

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

// codecMessage has an encoded display name, a group, a date and a
// message/rfc822 part with an envelope of its own.
const codecMessage = "From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nTo: a@b, G: c@d;\r\nDate: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
	"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X\r\n" +
	"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--X--\r\n"

// TestMetadataParts checks that decoding some parts of a blob gives
// those parts as decoding all of it does.
func TestMetadataParts(t *testing.T) {
	want, err := mailbox.Parse(strings.NewReader(codecMessage), nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := string(encodeMetadata(nil, want))
	all, err := decodeMetaString(blob, mailbox.MetadataAll, nil, nil)
	if err != nil || !reflect.DeepEqual(all, want) {
		t.Fatalf("decoded %+v, %v; want %+v", all, err, want)
	}
	for p := range mailbox.MetadataAll + 1 {
		got, err := decodeMetaString(blob, p, nil, nil)
		if err != nil {
			t.Fatalf("parts %04b: %v", p, err)
		}
		var w mailbox.Metadata
		if p&mailbox.MetadataEnvelope != 0 {
			w.Envelope = want.Envelope
		}
		if p&mailbox.MetadataBody != 0 {
			w.Body = want.Body
		}
		if p&mailbox.MetadataDate != 0 {
			w.Date = want.Date
		}
		if p&mailbox.MetadataFields != 0 {
			w.Fields = want.Fields
		}
		if !reflect.DeepEqual(got, &w) {
			t.Errorf("parts %04b: %+v, want %+v", p, got, &w)
		}
	}
	if all.Envelope.Sender == nil || &all.Envelope.Sender[0] != &all.Envelope.From[0] {
		t.Errorf("Sender is not the From list: %+v", all.Envelope)
	}
}

// TestMetadataV1 checks that blobs of version 1 (before the sections)
// still decode, whatever parts are asked for.
func TestMetadataV1(t *testing.T) {
	// encodeMetadata of version 1 for codecMessage.
	v1, err := hex.DecodeString("0107040202011f5475652c203033204a616e20323030362031303a30303a3030202b30313030000100153d3f7574662d383f713f4a3d43333d423672673f3d016a0b6578616d706c652e6f72670100153d3f7574662d383f713f4a3d43333d423672673f3d016a0b6578616d706c652e6f72670100153d3f7574662d383f713f4a3d43333d423672673f3d016a0b6578616d706c652e6f7267040000016101620100014700000001630164020000000000000001096d756c746970617274056d697865640108626f756e64617279015800000000043742495400000002047465787405706c61696e000000000004374249540000000000000402b002e802ec02076d657373616765067266633832320000000000043742495400000000010005696e6e6572000000000000000001047465787405706c61696e0107636861727365740875732d61736369690000000004374249540000000000001402ba03de03f2033806fa02ba03f2030000de011600a602840401a0f4d1bb0800a038030446726f6d154ac3b67267203c6a406578616d706c652e6f72673e02546f0c6140622c20473a206340643b04446174651f5475652c203033204a616e20323030362031303a30303a3030202b30313030")
	if err != nil {
		t.Fatal(err)
	}
	want, err := mailbox.Parse(strings.NewReader(codecMessage), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []mailbox.MetadataParts{mailbox.MetadataAll, mailbox.MetadataEnvelope, mailbox.MetadataFields} {
		got, err := decodeMetaString(string(v1), p, nil, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parts %04b: %+v, %v; want %+v", p, got, err, want)
		}
	}
}
