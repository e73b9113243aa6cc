// Package imap is an IMAP server (RFC 9051 IMAP4rev2 and RFC 3501
// IMAP4rev1, both advertised) over a [mailbox.Store].
//
// The [Server] has the shape of every postyard server: Serve, ServeTLS,
// ServeListener, ListenAndServe, ServeConn, Shutdown (which sends * BYE to
// idle sessions and those in IDLE) and Close; limits where zero means the
// documented default and a negative value unlimited. The server owns
// sequence numbers, the UID map of each session and the untagged updates
// (EXISTS, EXPUNGE, FETCH, VANISHED) that changes by other sessions and
// by local delivery cause: it turns the events of [mailbox.Mailbox.Watch]
// into responses at the points RFC 9051 §7.5.1 allows (never EXPUNGE
// during FETCH, STORE or SEARCH by sequence number), and at once in IDLE.
// A store only implements package mailbox. NOOP and CHECK, and a session
// in IDLE every [Server.IDLECheck], ask the store for the selected
// mailbox's status, which is when a Maildir store notices mail other
// programs dropped into new/.
//
// Implemented:
//
//   - RFC 9051 and RFC 3501: all commands. A client that sends ENABLE
//     IMAP4rev2 gets rev2 responses (ESEARCH for SEARCH, the LIST
//     response on SELECT, no RECENT, UTF-8 mailbox names); others get
//     rev1 ones with modified UTF-7 names (RFC 3501 §5.1.3). \Recent is
//     never set.
//   - STARTTLS with LOGINDISABLED on plaintext (unless AllowInsecureAuth),
//     implicit TLS (RFC 8314), AUTHENTICATE with SASL-IR (RFC 4959)
//     through [auth.SASL], failure delays through [auth.Throttle].
//   - IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), NAMESPACE
//     (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), SPECIAL-USE and
//     CREATE-SPECIAL-USE (RFC 6154), CHILDREN, LIST-EXTENDED (RFC 5258:
//     SUBSCRIBED and SPECIAL-USE selection, SUBSCRIBED, CHILDREN and
//     SPECIAL-USE return options, multiple patterns), LIST-STATUS
//     (RFC 5819), ESEARCH (RFC 4731: MIN, MAX, COUNT, ALL), LITERAL- before
//     and LITERAL+ after authentication (RFC 7888), APPENDLIMIT
//     (RFC 7889), STATUS=SIZE (RFC 8438), UNSELECT (RFC 3691), BINARY
//     (RFC 3516: BINARY[], BINARY.SIZE, literal8 APPEND), UTF8=ACCEPT
//     (RFC 6855), CONDSTORE and QRESYNC (RFC 7162: SELECT parameters,
//     CHANGEDSINCE, UNCHANGEDSINCE with [MODIFIED], VANISHED, SEARCH
//     MODSEQ, HIGHESTMODSEQ).
//   - FETCH from the store's cached metadata (ENVELOPE, BODYSTRUCTURE)
//     and byte offsets: BODY[section]<partial> with HEADER,
//     HEADER.FIELDS(.NOT), TEXT and MIME is served with ReadAt, streamed
//     without reading whole messages.
//   - SEARCH: sequence and UID sets, flags, keywords, dates, sizes,
//     HEADER, FROM/TO/CC/BCC/SUBJECT (from the cached, decoded fields),
//     BODY and TEXT (transfer encodings decoded; UTF-8, US-ASCII and
//     Latin-1 text, case-insensitive), AND/OR/NOT, MODSEQ; CHARSET UTF-8
//     and US-ASCII.
//
// Not implemented: SEARCHRES ($), MULTIAPPEND, CATENATE, SORT and THREAD,
// QUOTA, METADATA, NOTIFY, COMPRESS, the \Recent flag, RECURSIVEMATCH
// (accepted, ignored), QRESYNC sequence match data (accepted, ignored:
// VANISHED is computed from the store's record), charsets other than the
// above in SEARCH BODY/TEXT.
//
// Limits (see ARCHITECTURE.md, "Safe defaults"): before authentication,
// lines of 8 KiB, literals of 64 KiB and non-synchronizing literals of
// 4096 octets; after it, Server.MaxLineLength, MaxLiteral and
// MaxMessageBytes (APPEND). Parentheses and SEARCH keys nest 32 deep; a
// sequence set has at most 10000 ranges. Malformed commands get BAD with
// the tag (untagged BAD when there is none); unknown store errors get
// NO [SERVERBUG], and their text is logged, never sent.
package imap
