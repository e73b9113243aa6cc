// Package wire holds the one implementation of the line-level protocol
// mechanics shared by postyard's servers and clients:
//
//   - [Reader]: a bounded CRLF line reader that never buffers more than its
//     limit (RFC 5321 §4.5.3.1.4, RFC 3501 §4, RFC 1939 §3);
//   - [DataReader]: the DATA dot-decoder of RFC 5321 §4.5.2 that ends a
//     message only at <CRLF>.<CRLF> and rejects (or normalises) every bare CR
//     and bare LF, so that SMTP smuggling is impossible; it also checks BDAT
//     chunks (RFC 3030) for bare line endings without dot handling;
//   - [DataWriter]: the matching encoder that dot-stuffs and turns bare CR
//     and LF into CRLF, so postyard never emits a smuggling payload;
//   - [WriteReply]: SMTP replies, single- and multi-line, with enhanced
//     status codes (RFC 5321 §4.2, RFC 2034, RFC 3463).
package wire
