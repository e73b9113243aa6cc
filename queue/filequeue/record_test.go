package filequeue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// sampleMessage uses every field the records keep.
func sampleMessage() *queue.Message {
	t0 := time.Date(2026, 12, 2, 13, 0, 0, 123456789, time.UTC)
	return &queue.Message{
		ID: "06H3E4XDWZ62AE82RX2CMD46XR",
		Envelope: queue.Envelope{
			From: smtp.Path{Local: "sénder", Domain: "origin.example", SourceRoute: []string{"a.example", "b.example"}},
			Options: smtp.MailOptions{
				Size: 12345, Body: smtp.Body8BitMIME, UTF8: true, RequireTLS: true,
				Return: smtp.DSNReturnHeaders, EnvelopeID: "env-42", Auth: "<>",
			},
			Recipients: []queue.Recipient{
				{To: smtp.Path{Local: "a", Domain: "dest.example"},
					Options: smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyFailure, OriginalRcpt: "A@dest.example", OriginalRcptType: "rfc822"}},
				{To: smtp.Path{Local: "b c", Domain: "bücher.example"}},
				{To: smtp.Path{Local: "Postmaster"}},
			},
		},
		Size:     4096,
		Enqueued: t0,
		Held:     true,
		Recipients: []queue.RecipientStatus{
			{State: queue.RecipientDelivered, Attempts: 2, LastAttempt: t0.Add(time.Hour), RemoteMTA: "mx.dest.example"},
			{State: queue.RecipientPending, Attempts: 300, LastAttempt: t0.Add(2 * time.Hour), NextAttempt: t0.Add(3 * time.Hour),
				Err: &queue.DeliveryError{Code: 451, EnhancedCode: "4.3.0", Message: "try later", RemoteMTA: "mx2.example"}, DelayReported: true},
			{State: queue.RecipientFailed, Attempts: 1, LastAttempt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
				Err: &queue.DeliveryError{Permanent: true, Code: -1, Message: "no such user"}},
		},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := sampleMessage()
	hb := encodeHeader(&header{id: m.ID, enqueued: m.Enqueued, env: m.Envelope, size: m.Size, crc: 0xdeadbeef})
	h, err := decodeHeader(hb)
	if err != nil {
		t.Fatalf("decodeHeader: %v", err)
	}
	if h.size != m.Size || h.crc != 0xdeadbeef || h.length != len(hb) {
		t.Errorf("header size %d crc %x length %d", h.size, h.crc, h.length)
	}
	st, err := decodeState(encodeState(m))
	if err != nil {
		t.Fatalf("decodeState: %v", err)
	}
	if err := belong(m.ID, h, st); err != nil {
		t.Fatal(err)
	}
	if got := record(h, st); !reflect.DeepEqual(&got, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", &got, m)
	}
	// Every single-octet change is caught.
	for _, b := range [][]byte{hb, encodeState(m)} {
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 0x20
			_, err1 := decodeHeader(c)
			_, err2 := decodeState(c)
			if !errors.Is(err1, ErrCorrupt) || !errors.Is(err2, ErrCorrupt) {
				t.Fatalf("flipped octet %d: %v, %v", i, err1, err2)
			}
		}
	}
	// A message without a state file has its initial state.
	if got := record(h, nil); len(got.Recipients) != 3 || got.Recipients[1] != (queue.RecipientStatus{}) {
		t.Errorf("initial record: %+v", got)
	}
	// Parts of different messages do not go together.
	st.id = "OTHER"
	if err := belong(m.ID, h, st); !errors.Is(err, ErrCorrupt) {
		t.Errorf("mismatched state: %v", err)
	}
}

// withCRC returns b with a valid CRC-32C appended, so that fuzzing
// reaches the parsers behind the checksum.
func withCRC(b []byte) []byte {
	b = append([]byte(nil), b...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// FuzzStateRecord feeds the state record decoder arbitrary records, with
// their checksum fixed up. It must not panic, and what it accepts must
// survive encoding again.
func FuzzStateRecord(f *testing.F) {
	m := sampleMessage()
	f.Add(encodeState(m)[:len(encodeState(m))-4])
	m.Recipients = m.Recipients[:1]
	m.Held = false
	f.Add(encodeState(m)[:len(encodeState(m))-4])
	f.Add([]byte("PYQS\x01"))
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeState(body) // raw: almost always a checksum failure
		st, err := decodeState(withCRC(body))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		m := &queue.Message{ID: st.id, Held: st.held, Recipients: st.rcpts}
		st2, err := decodeState(encodeState(m))
		if err != nil {
			t.Fatalf("re-encoded record rejected: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", st, st2)
		}
	})
}

// FuzzHeaderRecord does the same for the header of message files.
func FuzzHeaderRecord(f *testing.F) {
	m := sampleMessage()
	hb := encodeHeader(&header{id: m.ID, enqueued: m.Enqueued, env: m.Envelope, size: 10, crc: 1})
	f.Add(hb[:len(hb)-4])
	m.Envelope = queue.Envelope{Recipients: m.Envelope.Recipients[2:]}
	hb = encodeHeader(&header{id: m.ID, env: m.Envelope})
	f.Add(hb[:len(hb)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeHeader(body)
		b := withCRC(body)
		if len(b) >= prefixLen {
			binary.LittleEndian.PutUint32(b[offHeaderLen:], uint32(len(b)))
			b = withCRC(b[:len(b)-4])
		}
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		h2, err := decodeHeader(encodeHeader(h))
		if err != nil {
			t.Fatalf("re-encoded header rejected: %v", err)
		}
		h2.length = h.length
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip changed the header:\n%+v\n%+v", h, h2)
		}
	})
}
