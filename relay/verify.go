package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/smtp"
)

// DefaultMaxSignatures bounds the DKIM signatures verified per message.
const DefaultMaxSignatures = 5

// Verifier checks incoming mail: SPF (RFC 7208) for the MAIL FROM (or
// HELO) identity, every DKIM signature (RFC 6376 §6, Ed25519 per RFC
// 8463), and DMARC (RFC 7489) for the From domain; the result goes into an
// Authentication-Results field (RFC 8601) and a DMARC-driven [Action].
//
// Not implemented: ARC (RFC 8617), DMARC reports (rua/ruf), and the SPF
// "exp=" explanation (ignored).
//
// Configure it before first use; it is then safe for concurrent use.
type Verifier struct {
	// AuthServID names this host in Authentication-Results (RFC 8601
	// §2.5), usually its host name. Required.
	AuthServID string

	// Resolver answers the DNS queries. Nil means a [dnsmx.Resolver] with
	// its defaults (the nameservers of /etc/resolv.conf), made on first
	// use.
	Resolver dnsmx.Lookuper

	// SPFTimeout bounds the SPF evaluation. Zero means DefaultSPFTimeout
	// (20s); negative means only the context's deadline.
	SPFTimeout time.Duration

	// MaxSignatures bounds the DKIM signatures verified; those after the
	// first MaxSignatures are not checked nor reported. Zero means
	// DefaultMaxSignatures (5); negative means unlimited.
	MaxSignatures int

	// MaxHeaderBytes bounds the header section, which is held in memory.
	// Zero means DefaultMaxHeaderBytes (1 MiB); negative means unlimited.
	MaxHeaderBytes int

	// OnReject is the Action for a DMARC fail under p=reject. Zero means
	// ActionReject; set ActionQuarantine to keep such mail in Junk
	// instead (RFC 7489 §6.7 lets receivers deviate).
	OnReject Action
	// OnQuarantine is the Action for a DMARC fail under p=quarantine.
	// Zero means ActionQuarantine.
	OnQuarantine Action

	// SpoolMemory bounds how much of a message Check holds in memory
	// before spooling to a temporary file in TempDir. Zero means
	// DefaultSpoolMemory (1 MiB); negative means all in memory.
	SpoolMemory int64
	TempDir     string

	once     sync.Once
	resolver dnsmx.Lookuper
}

func (v *Verifier) lookuper() dnsmx.Lookuper {
	v.once.Do(func() {
		v.resolver = v.Resolver
		if v.resolver == nil {
			v.resolver = &dnsmx.Resolver{}
		}
	})
	return v.resolver
}

// Verify reads the whole message msg (as received, CRLF line endings) and
// checks it, for a client described by info that gave from as MAIL FROM.
// Failing checks are results, not errors: the error is non-nil only when
// msg could not be read (or its header section is larger than
// MaxHeaderBytes) or ctx ended. The caller keeps ownership of msg; to
// deliver the message, keep a copy and pass it through
// [AuthResults.WriteMessage], or use [Verifier.Check].
func (v *Verifier) Verify(ctx context.Context, info *smtp.ConnInfo, from smtp.Path, msg io.Reader) (*AuthResults, error) {
	l := v.lookuper()
	br := bufio.NewReader(&ctxReader{ctx, msg})
	hdr, err := readHeaderSection(br, orDefaultInt(v.MaxHeaderBytes, DefaultMaxHeaderBytes))
	if err != nil {
		return nil, err
	}
	res := &AuthResults{AuthServID: v.AuthServID}

	// SPF needs only the envelope: run it while DKIM hashes the body.
	spfDone := make(chan struct{})
	go func() {
		defer close(spfDone)
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if t := v.SPFTimeout; t >= 0 {
			if t == 0 {
				t = DefaultSPFTimeout
			}
			sctx, cancel = context.WithTimeout(ctx, t)
		}
		defer cancel()
		helo := ""
		if info != nil {
			helo = info.Hello
		}
		res.SPF = CheckSPF(sctx, l, clientIP(info), helo, mailFrom(from))
	}()

	res.DKIM, err = v.verifyDKIM(ctx, l, hdr, br)
	<-spfDone
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	fromDom, fromErr := fromDomain(hdr)
	res.DMARC = CheckDMARC(ctx, l, fromDom, fromErr, res.SPF, res.DKIM)
	res.Action = ActionAccept
	if res.DMARC.Result == AuthFail {
		switch res.DMARC.Policy {
		case "reject":
			res.Action = orAction(v.OnReject, ActionReject)
		case "quarantine":
			res.Action = orAction(v.OnQuarantine, ActionQuarantine)
		}
	}
	return res, nil
}

func orAction(a, def Action) Action {
	if a == ActionDefault {
		return def
	}
	return a
}

// Check verifies msg like Verify and returns the message to deliver: an
// Authentication-Results field, then msg without the fields forged with
// our authserv-id. msg is spooled (SpoolMemory in memory, the rest in a
// temporary file); the caller must Close the returned reader, which
// removes the spool. The caller keeps ownership of msg.
func (v *Verifier) Check(ctx context.Context, info *smtp.ConnInfo, from smtp.Path, msg io.Reader) (io.ReadCloser, *AuthResults, error) {
	m, res, err := v.check(ctx, info, from, msg, v.SpoolMemory, v.TempDir)
	if err != nil {
		return nil, nil, err
	}
	return &messageReader{m.Open(), m}, res, nil
}

// check verifies msg and returns it spooled (mem octets in memory, the rest
// in dir), with its Authentication-Results field.
func (v *Verifier) check(ctx context.Context, info *smtp.ConnInfo, from smtp.Path, msg io.Reader, mem int64, dir string) (*Message, *AuthResults, error) {
	var res *AuthResults
	m, err := readMessage(msg, mem, dir, -1, func(r io.Reader) (err error) {
		res, err = v.Verify(ctx, info, from, r)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	m.head = append([]byte(res.Header()), stripAuthResults(m.head, res.AuthServID)...)
	return m, res, nil
}

// messageReader reads a Message and removes it on Close.
type messageReader struct {
	io.Reader
	m *Message
}

func (r *messageReader) Close() error { return r.m.Close() }

// WriteMessage writes r's Authentication-Results field and then msg, with
// any Authentication-Results field claiming r.AuthServID removed (RFC
// 8601 §5). The caller keeps ownership of w and msg.
func (r *AuthResults) WriteMessage(w io.Writer, msg io.Reader) error {
	if _, err := io.WriteString(w, r.Header()); err != nil {
		return err
	}
	return StripAuthResults(w, msg, r.AuthServID, -1)
}

// Reply returns the SMTP reply refusing the message when Action is
// ActionReject (550 5.7.1, RFC 7489 §6.7), else nil.
func (r *AuthResults) Reply() *smtp.Error {
	if r.Action != ActionReject {
		return nil
	}
	return &smtp.Error{Code: 550, EnhancedCode: "5.7.1",
		Message: "Message rejected by the DMARC policy of " + r.DMARC.From}
}

// verifyDKIM verifies the signatures in hdr over hdr and the body in br.
func (v *Verifier) verifyDKIM(ctx context.Context, l dnsmx.Lookuper, hdr []byte, br io.Reader) ([]DKIMCheck, error) {
	sigs := dkimSignatures(hdr)
	limit := v.MaxSignatures
	if limit == 0 {
		limit = DefaultMaxSignatures
	}
	if limit > 0 && len(sigs) > limit {
		sigs = sigs[:limit]
	}
	if len(sigs) == 0 {
		_, err := io.Copy(io.Discard, br)
		return []DKIMCheck{{Result: AuthNone}}, err
	}
	opts := &dkim.VerifyOptions{
		MaxVerifications: max(limit, 0),
		LookupTXT: func(name string) ([]string, error) {
			res, err := l.LookupTXT(ctx, name)
			if err != nil {
				return nil, netDNSError(name, err)
			}
			return res.Records, nil
		},
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(hdr), br), opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	out := make([]DKIMCheck, len(sigs))
	for i, tags := range sigs {
		c := DKIMCheck{
			Domain:     tags["d"],
			Selector:   tags["s"],
			Identifier: tags["i"],
			Algorithm:  strings.ToLower(tags["a"]),
			Signature:  tags["b"][:min(len(tags["b"]), 8)],
			Result:     AuthPermError,
		}
		if i < len(verifs) {
			vr := verifs[i]
			if vr.Domain != "" {
				c.Domain = vr.Domain
			}
			if vr.Identifier != "" {
				c.Identifier = vr.Identifier
			}
			c.Err = vr.Err
			switch {
			case vr.Err == nil:
				c.Result = AuthPass
			case dkim.IsTempFail(vr.Err):
				c.Result = AuthTempError
			case dkim.IsPermFail(vr.Err):
				c.Result = AuthPermError
			case strings.Contains(vr.Err.Error(), "body length tag"):
				c.Result = AuthPolicy // RFC 8601 §2.7.1: valid but unacceptable
			default:
				c.Result = AuthFail
			}
		}
		out[i] = c
	}
	return out, nil
}

// dkimSignatures returns the tags of each DKIM-Signature field in hdr, in
// order, with white space removed from values (RFC 6376 §3.2, §3.5).
func dkimSignatures(hdr []byte) []map[string]string {
	var sigs []map[string]string
	for len(hdr) > 0 {
		end := fieldEnd(hdr)
		field := string(hdr[:end])
		hdr = hdr[end:]
		name, value, ok := strings.Cut(field, ":")
		if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "DKIM-Signature") {
			sigs = append(sigs, parseTagList(value))
		}
	}
	return sigs
}

// parseTagList parses a DKIM tag-list (RFC 6376 §3.2): "tag=value" pairs
// separated by ";", with folding white space anywhere between tokens,
// which is removed from values. Malformed pairs are skipped; of a
// repeated tag the first counts (a verifier fails such a signature
// anyway).
func parseTagList(s string) map[string]string {
	tags := make(map[string]string)
	for spec := range strings.SplitSeq(s, ";") {
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			continue
		}
		name = strings.Trim(name, " \t\r\n")
		if name == "" {
			continue
		}
		if _, dup := tags[name]; dup {
			continue
		}
		tags[name] = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, value)
	}
	return tags
}

// clientIP returns the address of the client in info.
func clientIP(info *smtp.ConnInfo) netip.Addr {
	if info == nil || info.RemoteAddr == nil {
		return netip.Addr{}
	}
	switch a := info.RemoteAddr.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(info.RemoteAddr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// mailFrom returns the reverse-path as local@domain, "" for the null path.
func mailFrom(p smtp.Path) string {
	if p.Domain == "" {
		return ""
	}
	return p.Local + "@" + p.Domain
}
