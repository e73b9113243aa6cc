package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// Inbound is the smtp.Backend of a mail exchanger (port 25, or LMTP): each
// recipient is checked by Policy at RCPT time; local recipients are
// delivered to Deliverer and remote ones (for clients allowed to relay, and
// alias targets) are put in Queue. The DATA reply is sent only once both
// are durable. It is safe for concurrent use.
type Inbound struct {
	Policy    *Policy
	Deliverer mailbox.Deliverer
	// Queue takes relayed messages and the failure reports for local
	// recipients whose delivery failed after others succeeded. Nil means
	// nothing is relayed: remote recipients are refused at RCPT.
	Queue queue.Queue
	// QueueOptions are those the Queue was made with (Hostname, return
	// limit) for the failure reports Inbound writes itself. Nil means the
	// defaults.
	QueueOptions *queue.Options
	// Verifier, if set, checks SPF, DKIM and DMARC on each message,
	// records the result in an Authentication-Results header, and refuses
	// messages whose DMARC policy says reject. (Quarantine is recorded in the
	// header; filing into Junk comes with the filter chain.)
	Verifier *Verifier
	// Filters run in order at MAIL FROM, at each RCPT TO that Policy
	// accepted, and at the end of DATA, after the Verifier; see Filter.
	Filters []Filter
	// Archive, if set, keeps a copy of every accepted message.
	Archive *Archive
	// Sieve, if set, runs the local recipients' Sieve scripts and files
	// their copies (see Sieve; the archive copy is not filtered). Nil:
	// every local copy goes to INBOX, or to QuarantineMailbox.
	Sieve *Sieve
	// QuarantineMailbox is where local copies of quarantined messages go
	// (a DMARC p=quarantine failure, a filter's ActionQuarantine); a user
	// without that mailbox gets them in INBOX. Queued copies of a
	// quarantined message are held (queue.Queue.Hold) for an
	// administrator. "" means "Junk".
	QuarantineMailbox string
	// SpoolMemory bounds how much of a message is held in memory while the
	// Verifier and Filters check it; the rest goes to a temporary file in
	// TempDir. Zero means DefaultSpoolMemory (1 MiB); negative means all
	// in memory. TempDir "" means os.TempDir().
	SpoolMemory int64
	TempDir     string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// NewSession implements smtp.Backend.
func (in *Inbound) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	return in.newSession(ctx, c, false)
}

func (in *Inbound) newSession(ctx context.Context, c *smtp.ConnInfo, submission bool) (*inSession, error) {
	s := &inSession{in: in, info: c}
	if len(in.Filters) > 0 {
		ch, err := newChain(ctx, in.Filters, c, in.logger())
		if err != nil {
			return nil, err
		}
		ch.tx.Submission = submission
		s.chain = ch
	}
	return s, nil
}

func (in *Inbound) logger() *slog.Logger {
	if in.Logger != nil {
		return in.Logger
	}
	return slog.Default()
}

// inSession is one connection's transaction state.
type inSession struct {
	in   *Inbound
	info *smtp.ConnInfo
	from smtp.Path
	opts smtp.MailOptions
	// rcpts are the accepted RCPTs in order, with where each goes.
	rcpts []inRcpt
	// hdr is the header section of the last message, for failure reports.
	hdr []byte
	// chain runs the filters; nil without any.
	chain *chain
	// quarantine is set when the checks quarantined the current message.
	quarantine bool
	// source reopens the current message, when it is spooled.
	source func() io.Reader
}

type inRcpt struct {
	to       smtp.Path
	opts     smtp.RcptOptions
	decision *Decision
}

func (s *inSession) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	s.from, s.opts, s.rcpts = from, *opts, nil
	if s.chain != nil {
		return s.chain.mail(ctx, from, &s.opts)
	}
	return nil
}

func (s *inSession) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	d, err := s.in.Policy.Check(ctx, s.info, to)
	if err != nil {
		return err
	}
	if len(d.Forward) > 0 && s.in.Queue == nil {
		return ErrRelayDenied
	}
	if s.chain != nil {
		if err := s.chain.rcpt(ctx, to); err != nil {
			return err
		}
	}
	s.rcpts = append(s.rcpts, inRcpt{to: to, opts: *opts, decision: d})
	return nil
}

func (s *inSession) Reset(ctx context.Context) {
	s.rcpts = nil
	if s.chain != nil {
		s.chain.reset(ctx)
	}
}

func (s *inSession) Close() error {
	if s.chain != nil {
		s.chain.close()
	}
	return nil
}

// Data implements smtp.Session.
func (s *inSession) Data(ctx context.Context, r io.Reader) (string, error) {
	r, done, err := s.check(ctx, r)
	if err != nil || r == nil {
		return "", err
	}
	defer done()
	errs, id, err := s.deliver(ctx, r)
	if err != nil {
		return "", err
	}
	// SMTP has one reply for all recipients: success if any copy was
	// stored; the others get a failure report (RFC 5321 §6.1).
	var failed []int
	for i, e := range errs {
		if e != nil {
			failed = append(failed, i)
		}
	}
	if len(failed) == len(errs) && len(errs) > 0 {
		return "", errs[0]
	}
	if len(failed) > 0 {
		s.report(ctx, failed, errs)
	}
	return id, nil
}

// LMTPData implements smtp.LMTPSession: one result per recipient.
func (s *inSession) LMTPData(ctx context.Context, r io.Reader) ([]error, error) {
	r, done, err := s.check(ctx, r)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return make([]error, len(s.rcpts)), nil
	}
	defer done()
	errs, _, err := s.deliver(ctx, r)
	return errs, err
}

// check runs the Verifier and the Filters, if any. It returns the message
// to deliver, with the fields they added, and a function that releases it;
// or a nil reader for a message a filter discarded.
func (s *inSession) check(ctx context.Context, r io.Reader) (io.Reader, func(), error) {
	s.quarantine, s.source = false, nil
	v := s.in.Verifier
	if v == nil && s.chain == nil {
		return r, func() {}, nil
	}
	var (
		m   *Message
		res *AuthResults
		err error
	)
	if v != nil {
		m, res, err = v.check(ctx, s.info, s.from, r, s.in.SpoolMemory, s.in.TempDir)
	} else {
		m, err = readMessage(r, s.in.SpoolMemory, s.in.TempDir, DefaultMaxHeaderBytes, nil)
	}
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		if err := m.Close(); err != nil {
			s.in.logger().Warn("spool not removed", "err", err)
		}
	}
	if res != nil {
		if e := res.Reply(); e != nil {
			release()
			return nil, nil, e
		}
		s.quarantine = res.Action == ActionQuarantine
	}
	open := m.Open
	if ch := s.chain; ch != nil {
		if err := ch.data(ctx, m); err != nil {
			release()
			return nil, nil, err
		}
		if ch.discard {
			release()
			s.in.logger().Info("message discarded by a filter", "from", s.from.String(), "rcpts", len(s.rcpts))
			return nil, nil, nil
		}
		s.quarantine = s.quarantine || ch.quarantine
		open = func() io.Reader { return ch.withHeaders(m.Open()) }
	}
	s.source = open
	return open(), release, nil
}

// deliver stores the message for every accepted recipient. It returns one
// error per RCPT (nil when stored), the queue ID if the message was queued,
// or an error when nothing was stored.
func (s *inSession) deliver(ctx context.Context, r io.Reader) ([]error, string, error) {
	// Where each local user's copy and each remote address comes from.
	var (
		users   []mailbox.Recipient
		userOf  = make([][]int, len(s.rcpts)) // RCPT index → indexes in users
		env     = &queue.Envelope{From: s.from, Options: s.opts}
		remote  = make([][]int, len(s.rcpts)) // RCPT index → indexes in env.Recipients
		seenUsr = map[string]int{}
		seenFwd = map[string]int{}
	)
	for i, rc := range s.rcpts {
		for _, u := range rc.decision.Users {
			j, ok := seenUsr[u]
			if !ok {
				j = len(users)
				seenUsr[u] = j
				users = append(users, mailbox.Recipient{User: u, Mailbox: s.mailbox()})
			}
			userOf[i] = append(userOf[i], j)
		}
		for _, f := range rc.decision.Forward {
			key := f.String()
			j, ok := seenFwd[key]
			if !ok {
				j = len(env.Recipients)
				seenFwd[key] = j
				opts := rc.opts
				if f.String() != rc.to.String() && opts.OriginalRcpt == "" {
					opts.OriginalRcpt, opts.OriginalRcptType = rc.to.String(), "rfc822"
				}
				env.Recipients = append(env.Recipients, queue.Recipient{To: f, Options: opts})
			}
			remote[i] = append(remote[i], j)
		}
	}

	archived := -1 // index in users of the archive copy
	if a := s.in.Archive; a != nil {
		if a.local() {
			archived = len(users)
			users = append(users, mailbox.Recipient{User: a.User, Mailbox: a.Mailbox})
		} else if !a.Address.IsNull() {
			env.Recipients = append(env.Recipients, queue.Recipient{To: a.Address, Options: smtp.RcptOptions{Notify: smtp.NotifyNever}})
		}
	}

	// Keep the header section for failure reports (bounded).
	hdr := &headerTap{max: 64 << 10}
	r = io.TeeReader(r, hdr)

	var (
		localErrs []error
		id        string
		qerr      error
	)
	switch {
	case len(users) == 0:
		id, qerr = s.enqueue(ctx, env, r)
	case len(env.Recipients) == 0:
		localErrs, qerr = s.deliverLocal(ctx, r, users)
	default:
		// Both: stream the message to the queue and to the mailboxes at
		// once; reply only when both are durable.
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var err error
			id, err = s.enqueue(ctx, env, pr)
			pr.CloseWithError(err)
			qerr = err
		}()
		var lerr error
		localErrs, lerr = s.deliverLocal(ctx, io.TeeReader(r, pw), users)
		if lerr == nil {
			_, lerr = io.Copy(pw, r) // whatever Deliver did not read
		}
		pw.CloseWithError(lerr)
		<-done
		if lerr != nil {
			return nil, "", lerr
		}
	}
	if qerr != nil {
		return nil, "", qerr
	}
	if archived >= 0 && localErrs[archived] != nil {
		s.in.logger().Error("archive copy not stored", "err", localErrs[archived])
	}
	errs := make([]error, len(s.rcpts))
	for i := range s.rcpts {
		for _, j := range userOf[i] {
			if localErrs[j] != nil {
				errs[i] = localErrs[j]
			}
		}
	}
	s.hdr = hdr.bytes()
	return errs, id, nil
}

// enqueue puts the message in the queue for the remote recipients.
func (s *inSession) enqueue(ctx context.Context, env *queue.Envelope, r io.Reader) (string, error) {
	// A quarantined message is enqueued on hold, in one step: it is never
	// leased before an administrator releases it.
	env.Hold = s.quarantine
	id, err := s.in.Queue.Enqueue(ctx, env, r)
	if err != nil {
		s.in.logger().Error("enqueue failed", "err", err)
		return "", smtp.ErrTemporary
	}
	if s.quarantine {
		s.in.logger().Info("quarantined message held in the queue", "queue_id", id)
	}
	return string(id), nil
}

// mailbox is the mailbox local copies go to: INBOX, or the quarantine
// mailbox.
func (s *inSession) mailbox() string {
	if !s.quarantine {
		return ""
	}
	return quarantineMailbox(s.in.QuarantineMailbox)
}

// deliverLocal stores the message, with a Return-Path (RFC 5321 §4.4), in
// the users' mailboxes.
func (s *inSession) deliverLocal(ctx context.Context, r io.Reader, users []mailbox.Recipient) ([]error, error) {
	if s.in.Sieve != nil {
		return s.deliverSieve(ctx, r, users) // sieve_local.go
	}
	errs, err := s.in.Deliverer.Deliver(ctx, withReturnPath(s.from, r), users)
	if err == nil {
		err = s.inboxFallback(ctx, users, errs)
	}
	if err != nil {
		var se *smtp.Error
		if errors.As(err, &se) {
			return nil, err
		}
		s.in.logger().Error("local delivery failed", "err", err)
		return nil, smtp.ErrTemporary
	}
	for i, e := range errs {
		if e != nil {
			errs[i] = localError(e)
		}
	}
	return errs, nil
}

// inboxFallback delivers to INBOX the copies for users that lack the
// quarantine mailbox, updating errs.
func (s *inSession) inboxFallback(ctx context.Context, users []mailbox.Recipient, errs []error) error {
	var again []mailbox.Recipient
	var idx []int
	for i, u := range users {
		if s.quarantine && u.Mailbox == s.mailbox() && errors.Is(errs[i], mailbox.ErrNoSuchMailbox) {
			again = append(again, mailbox.Recipient{User: u.User, Options: u.Options})
			idx = append(idx, i)
		}
	}
	if len(again) == 0 || s.source == nil {
		return nil
	}
	errs2, err := s.in.Deliverer.Deliver(ctx, withReturnPath(s.from, s.source()), again)
	if err != nil {
		return err
	}
	for j, i := range idx {
		errs[i] = errs2[j]
	}
	return nil
}

// withReturnPath prepends the Return-Path header that final delivery adds
// (RFC 5321 §4.4).
func withReturnPath(from smtp.Path, r io.Reader) io.Reader {
	return io.MultiReader(strings.NewReader("Return-Path: <"+from.String()+">\r\n"), r)
}

// localError turns a delivery error into an SMTP reply: a mailbox.Error
// carries its own (e.g. 552 5.2.2 for ErrOverQuota); anything else is a
// temporary local problem.
func localError(err error) error {
	if e := mailbox.AsError(err); e != nil && e.SMTPCode != 0 {
		return &smtp.Error{Code: e.SMTPCode, EnhancedCode: e.SMTPEnhanced, Message: e.Message, Err: err}
	}
	var se *smtp.Error
	if errors.As(err, &se) {
		return err
	}
	return &smtp.Error{Code: 451, EnhancedCode: "4.3.0", Message: "Temporary local problem, try again later", Err: err}
}

// report sends a failure report to the sender for the RCPTs in failed,
// whose local delivery failed while other recipients' succeeded (RFC 5321
// §6.1, RFC 3464). It returns the message's header only, which is all that
// was kept.
func (s *inSession) report(ctx context.Context, failed []int, errs []error) {
	log := s.in.logger()
	if s.in.Queue == nil || s.from.IsNull() {
		log.Warn("local delivery failed for some recipients; no report sent", "failed", len(failed), "from", s.from.String())
		return
	}
	now := time.Now()
	m := &queue.Message{ID: queue.NewID(now), Envelope: queue.Envelope{From: s.from, Options: s.opts}, Enqueued: now}
	m.Envelope.Options.Return = smtp.DSNReturn("HDRS")
	for i, rc := range s.rcpts {
		m.Envelope.Recipients = append(m.Envelope.Recipients, queue.Recipient{To: rc.to, Options: rc.opts})
		st := queue.RecipientStatus{State: queue.RecipientDelivered, LastAttempt: now, Attempts: 1}
		if errs[i] != nil {
			st.State, st.Err = queue.RecipientFailed, queue.AsDeliveryError(errs[i])
		}
		m.Recipients = append(m.Recipients, st)
	}
	opts := s.in.QueueOptions.Resolved()
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(s.hdr)), nil }
	notices := []queue.Notice{{Action: queue.ActionFailed, Recipients: failed}}
	if _, err := queue.SendReports(ctx, s.in.Queue, m, notices, open, &opts, now); err != nil {
		log.Error("failure report not sent", "err", err)
	}
}

// headerTap keeps the header section of what is written to it, up to max
// octets.
type headerTap struct {
	max  int
	buf  []byte
	done bool
}

func (h *headerTap) Write(p []byte) (int, error) {
	if h.done {
		return len(p), nil
	}
	start := max(0, len(h.buf)-3)
	h.buf = append(h.buf, p[:min(len(p), h.max-len(h.buf))]...)
	if i := bytes.Index(h.buf[start:], []byte("\r\n\r\n")); i >= 0 {
		h.buf, h.done = h.buf[:start+i+4], true
	} else if len(h.buf) >= h.max {
		h.done = true
	}
	return len(p), nil
}

func (h *headerTap) bytes() []byte { return h.buf }
