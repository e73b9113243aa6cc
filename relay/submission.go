package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/smtp"
)

// Submission is the smtp.Backend of a message submission agent (ports 587
// and 465, RFC 6409): clients must authenticate; the envelope sender and
// the From: header must be addresses the user may send as; the message is
// completed to standard form (Date and Message-ID added when missing,
// RFC 6409 §8); header fields with 8-bit octets are refused unless the
// transaction uses SMTPUTF8 (RFC 6532); and each user may submit a limited
// number of messages per hour, with a limited number of recipients each.
// Accepted messages go where Inbound would send them: Policy decides, local
// recipients are delivered and remote ones queued. Set smtp.Server.RequireAuth on the server too, so that MAIL
// before AUTH gets 530.
type Submission struct {
	Inbound
	// SenderAllowed reports whether user may send as addr (in MAIL FROM and
	// in From:). Nil means addr must be the user name itself, compared
	// case-insensitively, or, for a user name without "@", user@D for one
	// of Policy.Domains.
	SenderAllowed func(ctx context.Context, user string, addr smtp.Path) bool
	// Hostname is used in generated Message-IDs. Default "localhost".
	Hostname string
	// MaxMessagesPerHour limits each user's submissions. Zero means 1000;
	// negative means unlimited.
	MaxMessagesPerHour int
	// MaxRecipients limits the recipients of one submitted message; more
	// get 452 4.5.3. Zero means 100; negative means unlimited. (The SMTP
	// server's own MaxRecipients also applies.)
	MaxRecipients int
	// MaxHeaderBytes bounds the header section that is checked and
	// completed. Zero means 256 KiB.
	MaxHeaderBytes int
	// Signer, if set, adds DKIM signatures (RFC 6376) for the sender's
	// domain to every submitted message, after completing its header.
	Signer *DKIMSigner

	mu    sync.Mutex
	sends map[string][]time.Time // user → submission times in the last hour
}

// Errors Submission returns.
var (
	ErrSenderNotAllowed  = &smtp.Error{Code: 553, EnhancedCode: "5.7.1", Message: "Sender address not owned by the authenticated user"}
	ErrRateLimited       = &smtp.Error{Code: 450, EnhancedCode: "4.7.0", Message: "Too many messages, try again later"}
	ErrHeader8Bit        = &smtp.Error{Code: 554, EnhancedCode: "5.6.7", Message: "Non-ASCII header requires SMTPUTF8"}
	ErrHeaderTooBig      = &smtp.Error{Code: 552, EnhancedCode: "5.3.4", Message: "Header section too large"}
	ErrTooManyRecipients = &smtp.Error{Code: 452, EnhancedCode: "4.5.3", Message: "Too many recipients for one message"}
)

// NewSession implements smtp.Backend.
func (sub *Submission) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	in, err := sub.Inbound.newSession(ctx, c, true)
	if err != nil {
		return nil, err
	}
	return &subSession{inSession: *in, sub: sub}, nil
}

type subSession struct {
	inSession
	sub *Submission
}

func (s *subSession) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	user := s.info.User
	if user == "" {
		return smtp.ErrAuthRequired
	}
	if !from.IsNull() && !s.sub.allowed(ctx, user, from) {
		return ErrSenderNotAllowed
	}
	if !s.sub.take(user, time.Now()) {
		return ErrRateLimited
	}
	return s.inSession.Mail(ctx, from, opts)
}

func (s *subSession) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	max := s.sub.MaxRecipients
	if max == 0 {
		max = 100
	}
	if max > 0 && len(s.rcpts) >= max {
		return ErrTooManyRecipients
	}
	return s.inSession.Rcpt(ctx, to, opts)
}

// LMTPData is not offered on submission.
func (s *subSession) Data(ctx context.Context, r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	hdr, err := s.sub.completeHeader(ctx, br, s.info.User, s.opts.UTF8)
	if err != nil {
		return "", err
	}
	msg := io.MultiReader(bytes.NewReader(hdr), br)
	if s.sub.Signer == nil {
		return s.inSession.Data(ctx, msg)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(s.sub.Signer.Sign(ctx, pw, msg))
	}()
	id, err := s.inSession.Data(ctx, pr)
	// The signer reads the client's data: it must be done before the
	// server drains what is left.
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	return id, err
}

func (sub *Submission) allowed(ctx context.Context, user string, addr smtp.Path) bool {
	if sub.SenderAllowed != nil {
		return sub.SenderAllowed(ctx, user, addr)
	}
	a := addr.String()
	if strings.EqualFold(a, user) {
		return true
	}
	if strings.Contains(user, "@") || !strings.EqualFold(addr.Local, user) || sub.Policy == nil {
		return false
	}
	_, local, err := sub.Policy.isLocal(smtp.Path{Local: addr.Local, Domain: addr.Domain})
	return err == nil && local && addr.Domain != "" && !strings.HasPrefix(addr.Domain, "[")
}

// take records a submission by user at now, unless the user is over the
// hourly limit.
func (sub *Submission) take(user string, now time.Time) bool {
	limit := sub.MaxMessagesPerHour
	if limit == 0 {
		limit = 1000
	}
	if limit < 0 {
		return true
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.sends == nil {
		sub.sends = make(map[string][]time.Time)
	}
	ts := sub.sends[user]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Hour {
		i++
	}
	ts = ts[i:]
	if len(ts) >= limit {
		sub.sends[user] = ts
		return false
	}
	sub.sends[user] = append(ts, now)
	return true
}

// completeHeader reads the header section from r and returns it checked and
// completed: CRLF line endings, Date and Message-ID present, From: owned by
// the user, no 8-bit octets unless utf8.
func (sub *Submission) completeHeader(ctx context.Context, r *bufio.Reader, user string, utf8 bool) ([]byte, error) {
	max := sub.MaxHeaderBytes
	if max <= 0 {
		max = 256 << 10
	}
	var (
		hdr            bytes.Buffer
		hasDate, hasID bool
		from           string
		inFrom         bool
	)
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull || hdr.Len()+len(line) > max {
			return nil, ErrHeaderTooBig
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 {
			break // end of the header section (or of a header-only message)
		}
		if !utf8 && hasHigh(body) {
			return nil, ErrHeader8Bit
		}
		if body[0] == ' ' || body[0] == '\t' {
			if inFrom {
				from += string(body)
			}
		} else {
			name, _, _ := bytes.Cut(body, []byte(":"))
			n := strings.ToLower(strings.TrimSpace(string(name)))
			hasDate = hasDate || n == "date"
			hasID = hasID || n == "message-id"
			inFrom = n == "from"
			if inFrom {
				from = string(body[len(name)+1:])
			}
		}
		hdr.Write(body)
		hdr.WriteString("\r\n")
		if err == io.EOF {
			break
		}
	}
	if from != "" {
		if err := sub.checkFrom(ctx, user, from); err != nil {
			return nil, err
		}
	}
	// Added fields go last, so the Received header the server prepends
	// stays first.
	if !hasDate {
		hdr.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	}
	if !hasID {
		hdr.WriteString("Message-ID: <" + messageID() + "@" + sub.hostname() + ">\r\n")
	}
	hdr.WriteString("\r\n")
	return hdr.Bytes(), nil
}

// checkFrom checks that every address in a From: field is the user's.
func (sub *Submission) checkFrom(ctx context.Context, user, field string) error {
	list, err := mail.ParseAddressList(strings.TrimSpace(field))
	if err != nil {
		return &smtp.Error{Code: 554, EnhancedCode: "5.6.0", Message: "Malformed From: header"}
	}
	for _, a := range list {
		p, _, err := smtp.ParsePath("<"+a.Address+">", smtp.PathOptions{UTF8: true})
		if err != nil || !sub.allowed(ctx, user, p) {
			return ErrSenderNotAllowed
		}
	}
	return nil
}

func (sub *Submission) hostname() string {
	if sub.Hostname != "" {
		return sub.Hostname
	}
	return "localhost"
}

func messageID() string {
	var b [12]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102150405") + "." + hex.EncodeToString(b[:])
}

func hasHigh(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
