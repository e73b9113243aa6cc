package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/sieve"
	"github.com/postyard/postyard/smtp"
)

// sieveJob is one message for local users: what Inbound and Deliverer
// hand to Sieve.
type sieveJob struct {
	mailboxes mailbox.Deliverer
	queue     queue.Queue
	policy    *Policy
	hostname  string
	// junk is the mailbox of the implicit keep for a message with a spam
	// verdict.
	junk string
	from smtp.Path
	opts smtp.MailOptions
	// raw is the message as it will be stored, without Return-Path.
	raw []byte
	// quarantine is the checks' verdict (Verifier, Filters).
	quarantine bool
	rcpts      []sieveRcpt
	log        *slog.Logger
}

// sieveRcpt is one local user's copy.
type sieveRcpt struct {
	user string
	// to is the recipient as given in RCPT TO.
	to smtp.Path
	// plain copies (the archive's) skip the scripts and go to mailbox.
	plain   bool
	mailbox string
}

// userPlan is what the scripts decided for one recipient, and what came
// of it.
type userPlan struct {
	copies    []*sieveCopy
	redirects []*sieve.Redirect
	reject    *sieve.Reject
	vacations []*sieve.Vacation
	dups      []sieve.DuplicateMark
	// err is the recipient's failure (an ereject, or no copy stored).
	err error
}

// sieveCopy is one copy to store.
type sieveCopy struct {
	mailbox string
	flags   []string
	header  sieve.Header // nil: as received
	create  bool
	done    bool  // tried
	err     error // its outcome
}

// addCopy adds a copy, merging it with one for the same mailbox (flags
// add up; RFC 5228 §2.10.3).
func (p *userPlan) addCopy(name string, flags []string, h sieve.Header, create bool) {
	for _, c := range p.copies {
		if c.mailbox == name {
			for _, f := range flags {
				if !sieveContainsFold(c.flags, f) {
					c.flags = append(c.flags, f)
				}
			}
			c.create = c.create || create
			return
		}
	}
	p.copies = append(p.copies, &sieveCopy{mailbox: name, flags: append([]string(nil), flags...), header: h, create: create})
}

func (p *userPlan) stored() bool {
	for _, c := range p.copies {
		if c.done && c.err == nil {
			return true
		}
	}
	return false
}

func sieveContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (sv *Sieve) logger(j *sieveJob) *slog.Logger {
	if sv.Logger != nil {
		return sv.Logger
	}
	return j.log
}

// deliver runs the scripts for each recipient of j and carries out what
// they decided. It returns one error per recipient (nil: delivered), or
// an error when nothing could be done.
func (sv *Sieve) deliver(ctx context.Context, j *sieveJob) ([]error, error) {
	sv.init()
	log := sv.logger(j)
	now := sv.now()
	msg := sieve.NewMessage(j.raw)

	ev := sieve.EvalOptions{}
	if sv.Eval != nil {
		ev = *sv.Eval
	}
	spam := j.quarantine
	if !spam && sv.SpamThreshold > 0 && ev.Spam != nil {
		ratio, tested, err := ev.Spam.Score(ctx, msg)
		if err != nil {
			log.Warn("spam score not read", "err", err)
		}
		spam = err == nil && tested && ratio >= sv.SpamThreshold
	}
	if spam {
		ev.Spam = sieveVerdictScorer{ev.Spam}
	}
	if ev.Separator == "" && j.policy != nil {
		ev.Separator = j.policy.Separator
	}
	ev.Inbox = mailbox.Inbox
	if ev.Now == nil {
		ev.Now = func() time.Time { return now }
	}
	def := mailbox.Inbox
	if spam {
		def = j.junk
	}

	plans := make([]*userPlan, len(j.rcpts))
	for i, rc := range j.rcpts {
		if rc.plain {
			plans[i] = &userPlan{copies: []*sieveCopy{{mailbox: rc.mailbox}}}
			continue
		}
		plans[i] = sv.plan(ctx, j, rc, msg, ev, def, now, log)
	}

	// Store the copies. A fileinto :create whose mailbox does not exist
	// creates it and tries again; other copies for a mailbox that does
	// not exist go to INBOX instead.
	if err := sv.store(ctx, j, plans, msg); err != nil {
		return nil, err
	}
	for again := true; again; {
		again = false
		for i, p := range plans {
			hasInbox := false
			for _, c := range p.copies {
				hasInbox = hasInbox || (c.mailbox == mailbox.Inbox && c.done && c.err == nil)
			}
			for _, c := range p.copies {
				if c.err == nil || c.mailbox == mailbox.Inbox || !sieveMissingMailbox(c.err) {
					continue
				}
				if c.create {
					c.create = false
					if sv.createMailbox(ctx, j, j.rcpts[i].user, c.mailbox, log) {
						c.done, c.err, again = false, nil, true
						continue
					}
				}
				log.Info("sieve: no such mailbox; delivered to INBOX", "user", j.rcpts[i].user, "mailbox", c.mailbox, "err", c.err)
				if hasInbox {
					c.err = nil // that copy is in INBOX already
					continue
				}
				c.mailbox, c.done, c.err, again, hasInbox = mailbox.Inbox, false, nil, true, true
			}
		}
		if again {
			if err := sv.store(ctx, j, plans, msg); err != nil {
				return nil, err
			}
		}
	}

	// Side effects, once the copies are stored.
	again := false
	for i, p := range plans {
		if p.err != nil {
			continue
		}
		stored := p.stored()
		if len(p.copies) > 0 && !stored {
			p.err = sieveFirstErr(p.copies)
			continue
		}
		if sv.effects(ctx, j, j.rcpts[i], p, msg, now, log) && !stored {
			p.copies = append(p.copies, &sieveCopy{mailbox: def})
			again = true
		}
	}
	if again {
		if err := sv.store(ctx, j, plans, msg); err != nil {
			return nil, err
		}
	}

	errs := make([]error, len(plans))
	for i, p := range plans {
		if p.err == nil && len(p.copies) > 0 && !p.stored() {
			p.err = sieveFirstErr(p.copies)
		}
		errs[i] = p.err
		if p.err != nil {
			continue
		}
		// RFC 7352 §3: only a delivered message counts.
		for _, d := range p.dups {
			if err := sv.state.Record(ctx, j.rcpts[i].user, "d:"+d.ID, now.Add(d.Period), now, d.Refresh); err != nil {
				log.Error("sieve: duplicate not recorded", "user", j.rcpts[i].user, "err", err)
			}
		}
	}
	return errs, nil
}

func sieveFirstErr(copies []*sieveCopy) error {
	for _, c := range copies {
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// sieveMissingMailbox reports whether a copy failed because of its mailbox:
// it does not exist, or the store refuses its name.
func sieveMissingMailbox(err error) bool {
	return errors.Is(err, mailbox.ErrNoSuchMailbox) || errors.Is(err, mailbox.ErrInvalidName) || errors.Is(err, mailbox.ErrNotAllowed)
}

// plan runs the scripts for one recipient.
func (sv *Sieve) plan(ctx context.Context, j *sieveJob, rc sieveRcpt, msg *sieve.Message, ev sieve.EvalOptions, def string, now time.Time, log *slog.Logger) *userPlan {
	keepOnly := func() *userPlan { return &userPlan{copies: []*sieveCopy{{mailbox: def}}} }
	scripts, err := sv.scripts(ctx, rc.user, log)
	if err != nil {
		log.Error("sieve: active script not read; message kept", "user", rc.user, "err", err)
		return keepOnly()
	}
	if len(scripts) == 0 {
		return keepOnly()
	}
	st, _ := j.mailboxes.(sieveStorer)
	ev.Duplicates = sieveDupView{st: sv.state, user: rc.user, now: now}
	ev.Mailboxes = sieveMailboxChecker{st: st, user: rc.user}
	env := &sieve.Envelope{From: j.from.String(), To: rc.to.String()}
	if a := j.opts.Auth; a != "<>" {
		env.Auth = a
	}

	var (
		acts  []sieve.Action
		dups  []sieve.DuplicateMark
		flags []string
		hdr   sieve.Header // the header in effect, nil if unchanged
		keep  = true
		cur   = msg
	)
	for _, sc := range scripts {
		res, err := sc.s.Eval(ctx, cur, env, &ev)
		if err != nil {
			log.Warn("sieve script failed; message kept", "user", rc.user, "script", sc.name, "err", err)
			return keepOnly()
		}
		for _, a := range res.Actions {
			acts = append(acts, sieveWithHeader(a, hdr))
		}
		dups = append(dups, res.Duplicates...)
		// The implicit keeps of the scripts are one: their flags add up.
		for _, f := range res.Flags {
			if !sieveContainsFold(flags, f) {
				flags = append(flags, f)
			}
		}
		if res.Header != nil {
			hdr = res.Header
			var b bytes.Buffer
			cur.WriteTo(&b, hdr)
			cur = sieve.NewMessage(b.Bytes())
		}
		if !res.ImplicitKeep {
			keep = false
			break
		}
	}

	p := &userPlan{dups: dups}
	maxRedirects := sievePick(sv.MaxRedirects, DefaultSieveMaxRedirects)
	redirected, hops := sv.redirectedBefore(ctx, j, rc, msg)
	for _, a := range acts {
		switch a := a.(type) {
		case *sieve.Keep:
			p.addCopy(mailbox.Inbox, a.Flags, a.Header, false)
		case *sieve.FileInto:
			p.addCopy(a.Mailbox, a.Flags, a.Header, a.Create)
		case *sieve.Redirect:
			why := ""
			switch {
			case redirected:
				why = "redirected by this recipient before"
			case hops >= sievePick(sv.MaxRedirectHops, DefaultSieveMaxRedirectHops):
				why = "redirected too many times"
			case len(p.redirects) >= maxRedirects:
				why = "too many redirects"
			}
			if why != "" {
				log.Info("sieve: redirect not done; message kept", "user", rc.user, "to", a.Address, "why", why)
				if !a.Copy {
					p.addCopy(mailbox.Inbox, nil, a.Header, false)
				}
				continue
			}
			p.redirects = append(p.redirects, a)
		case *sieve.Reject:
			if a.Extended {
				// Refused for this recipient: nothing else happens.
				return &userPlan{err: &smtp.Error{Code: 550, EnhancedCode: "5.7.1", Message: sieveReplyText(a.Reason, "Message rejected")}}
			}
			p.reject = a
		case *sieve.Vacation:
			p.vacations = append(p.vacations, a)
		case *sieve.Discard:
		}
	}
	if keep {
		p.addCopy(def, flags, hdr, false)
	}
	return p
}

// sieveWithHeader returns a with header h when a carries none (it was taken
// on the message as the script received it, which had h).
func sieveWithHeader(a sieve.Action, h sieve.Header) sieve.Action {
	if h == nil {
		return a
	}
	switch a := a.(type) {
	case *sieve.Keep:
		if a.Header == nil {
			c := *a
			c.Header = h
			return &c
		}
	case *sieve.FileInto:
		if a.Header == nil {
			c := *a
			c.Header = h
			return &c
		}
	case *sieve.Redirect:
		if a.Header == nil {
			c := *a
			c.Header = h
			return &c
		}
	}
	return a
}

func sievePick(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 1)
	}
	return v
}

// sieveReplyText makes s fit in an SMTP reply line: printable ASCII, at most
// 200 characters; def if nothing is left.
func sieveReplyText(s, def string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = ' '
		}
		if r == ' ' {
			if space || b.Len() == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= 200 {
			break
		}
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return def
	}
	return out
}

// redirectedBefore reports whether the message carries a
// SieveRedirectField naming rc (this user redirected it before), and how
// many such fields it has.
func (sv *Sieve) redirectedBefore(ctx context.Context, j *sieveJob, rc sieveRcpt, msg *sieve.Message) (bool, int) {
	vals := msg.Header().Values(SieveRedirectField)
	if len(vals) == 0 {
		return false, 0
	}
	sep := "+"
	if j.policy != nil && j.policy.Separator != "" {
		sep = j.policy.Separator
	}
	mine := sieveBaseAddress(rc.to, sep)
	for _, v := range vals {
		p, _, err := smtp.ParsePath("<"+strings.Trim(strings.TrimSpace(v), "<>")+">", smtp.PathOptions{UTF8: true, Lenient: true})
		if err != nil {
			continue
		}
		if sieveBaseAddress(p, sep) == mine {
			return true, len(vals)
		}
		if j.policy != nil {
			d := &Decision{}
			if err := j.policy.resolve(ctx, nil, p, d, 0, false); err == nil {
				for _, u := range d.Users {
					if u == rc.user {
						return true, len(vals)
					}
				}
			}
		}
	}
	return false, len(vals)
}

// sieveBaseAddress is p without its sub-address, domain lower-cased.
func sieveBaseAddress(p smtp.Path, sep string) string {
	local := p.Local
	if i := strings.Index(local, sep); i > 0 {
		local = local[:i]
	}
	return strings.ToLower(local) + "@" + strings.ToLower(p.Domain)
}

// createMailbox creates a mailbox for fileinto :create (RFC 5490 §3.2)
// and reports whether it exists now.
func (sv *Sieve) createMailbox(ctx context.Context, j *sieveJob, user, name string, log *slog.Logger) bool {
	st, ok := j.mailboxes.(sieveStorer)
	if !ok {
		log.Warn("sieve: fileinto :create needs a mailbox.Store; not created", "mailbox", name)
		return false
	}
	u, err := st.User(ctx, user)
	if err == nil {
		err = u.Create(ctx, name, nil)
	}
	if err != nil && !errors.Is(err, mailbox.ErrMailboxExists) {
		log.Warn("sieve: mailbox not created", "user", user, "mailbox", name, "err", err)
		return false
	}
	return true
}

// store delivers every copy not tried yet: one Deliver call per version
// of the message (as received, or with a header editheader changed).
func (sv *Sieve) store(ctx context.Context, j *sieveJob, plans []*userPlan, msg *sieve.Message) error {
	type batch struct {
		key     string
		content io.Reader
		rcpts   []mailbox.Recipient
		copies  []*sieveCopy
	}
	var batches []*batch // few: a linear search finds a key
	rp := "Return-Path: <" + j.from.String() + ">\r\n"
	for i, p := range plans {
		for _, c := range p.copies {
			if c.done {
				continue
			}
			key := ""
			if c.header != nil {
				var b strings.Builder
				for _, f := range c.header {
					b.WriteString(f.Name + ":" + f.Value + "\r\n")
				}
				key = "h" + b.String()
			}
			var bt *batch
			for _, b := range batches {
				if b.key == key {
					bt = b
					break
				}
			}
			if bt == nil {
				var content io.Reader
				if c.header == nil {
					content = io.MultiReader(strings.NewReader(rp), bytes.NewReader(j.raw))
				} else {
					var buf bytes.Buffer
					buf.WriteString(rp)
					msg.WriteTo(&buf, c.header)
					content = &buf
				}
				bt = &batch{key: key, content: content}
				batches = append(batches, bt)
			}
			mb := c.mailbox
			if mb == mailbox.Inbox {
				mb = ""
			}
			bt.rcpts = append(bt.rcpts, mailbox.Recipient{User: j.rcpts[i].user, Mailbox: mb, Options: sieveAppendOptions(c.flags)})
			bt.copies = append(bt.copies, c)
		}
	}
	for _, bt := range batches {
		errs, err := j.mailboxes.Deliver(ctx, bt.content, bt.rcpts)
		for k, c := range bt.copies {
			c.done = true
			switch {
			case err != nil:
				c.err = err
			case k < len(errs):
				c.err = errs[k]
			}
		}
	}
	return nil
}

// sieveAppendOptions turns Sieve flags (RFC 5232) into IMAP flags and
// keywords; \Recent and names that are not valid keywords are dropped.
func sieveAppendOptions(flags []string) *mailbox.AppendOptions {
	if len(flags) == 0 {
		return nil
	}
	o := &mailbox.AppendOptions{}
	for _, f := range flags {
		if sys, ok := mailbox.ParseFlag(f); ok {
			o.Flags |= sys
		} else if mailbox.ValidKeyword(f) {
			o.Keywords = append(o.Keywords, f)
		}
	}
	if o.Flags == 0 && len(o.Keywords) == 0 {
		return nil
	}
	return o
}

// effects carries out the redirects, reject and vacation replies of a
// recipient whose copies are stored. It reports whether one of them
// failed in a way that needs the message kept instead.
func (sv *Sieve) effects(ctx context.Context, j *sieveJob, rc sieveRcpt, p *userPlan, msg *sieve.Message, now time.Time, log *slog.Logger) (keep bool) {
	if len(p.redirects) == 0 && p.reject == nil && len(p.vacations) == 0 {
		return false
	}
	log = log.With("user", rc.user)
	for _, r := range p.redirects {
		if err := sv.redirect(ctx, j, rc, r, msg); err != nil {
			log.Error("sieve: redirect failed; message kept", "to", r.Address, "err", err)
			keep = true
		}
	}
	if r := p.reject; r != nil {
		if j.from.IsNull() {
			log.Info("sieve: rejected a message from the null sender; no notification sent")
		} else if err := sv.sendReject(ctx, j, rc, r, msg, now); err != nil {
			log.Error("sieve: rejection not sent; message kept", "err", err)
			keep = true
		}
	}
	for _, v := range p.vacations {
		sv.vacation(ctx, j, rc, v, msg, now, log)
	}
	return keep
}

// redirect queues the message for r.Address (RFC 5228 §4.2), with the
// original envelope sender and a SieveRedirectField naming rc.
func (sv *Sieve) redirect(ctx context.Context, j *sieveJob, rc sieveRcpt, r *sieve.Redirect, msg *sieve.Message) error {
	if j.queue == nil {
		return errors.New("no queue")
	}
	to, _, err := smtp.ParsePath("<"+r.Address+">", smtp.PathOptions{UTF8: true})
	if err != nil {
		return err
	}
	env := &queue.Envelope{From: j.from, Options: j.opts}
	env.Options.Size, env.Options.Auth = 0, ""
	env.Recipients = []queue.Recipient{{To: to, Options: smtp.RcptOptions{OriginalRcpt: rc.to.String(), OriginalRcptType: "rfc822"}}}
	if !rc.to.IsASCII() {
		env.Recipients[0].Options.OriginalRcptType = "utf-8"
	}
	var b bytes.Buffer
	b.WriteString(SieveRedirectField + ": <" + rc.to.String() + ">\r\n")
	msg.WriteTo(&b, r.Header)
	id, err := j.queue.Enqueue(ctx, env, &b)
	if err != nil {
		return err
	}
	if j.quarantine {
		// As Inbound does for queued copies of a quarantined message.
		if err := j.queue.Hold(ctx, id); err != nil {
			return errors.Join(fmt.Errorf("quarantined redirect not held: %w", err), j.queue.Delete(ctx, id))
		}
	}
	sv.logger(j).Debug("sieve: redirected", "user", rc.user, "to", to.String(), "queue_id", id)
	return nil
}

// sendReject queues the rejection of RFC 5429 §2.1.3 for the sender.
func (sv *Sieve) sendReject(ctx context.Context, j *sieveJob, rc sieveRcpt, r *sieve.Reject, msg *sieve.Message, now time.Time) error {
	if j.queue == nil {
		return errors.New("no queue")
	}
	content := sieveRejectMessage(r.Reason, msg, rc.to, j.from, sv.hostname(j), now)
	env := &queue.Envelope{Recipients: []queue.Recipient{{To: j.from, Options: smtp.RcptOptions{Notify: smtp.NotifyNever}}}}
	if !sieveASCII(content) {
		env.Options.Body = smtp.Body8BitMIME
	}
	env.Options.UTF8 = !j.from.IsASCII()
	_, err := j.queue.Enqueue(ctx, env, bytes.NewReader(content))
	return err
}

// vacation sends a vacation reply, if RFC 5230 and RFC 3834 allow it and
// none was sent to this sender for this handle within the period.
func (sv *Sieve) vacation(ctx context.Context, j *sieveJob, rc sieveRcpt, v *sieve.Vacation, msg *sieve.Message, now time.Time, log *slog.Logger) {
	if j.queue == nil {
		log.Warn("sieve: no queue for vacation replies")
		return
	}
	sep := "+"
	if j.policy != nil && j.policy.Separator != "" {
		sep = j.policy.Separator
	}
	own := []string{sieveBaseAddress(rc.to, sep)}
	if strings.Contains(rc.user, "@") {
		own = append(own, rc.user)
	}
	env := &sieve.Envelope{From: j.from.String(), To: rc.to.String()}
	if err := v.Check(msg, env, own...); err != nil {
		log.Debug("sieve: no vacation reply", "why", err)
		return
	}
	sum := sha256.Sum256([]byte(v.Handle + "\x00" + strings.ToLower(j.from.String())))
	key := "v:" + hex.EncodeToString(sum[:])
	if v.Period > 0 {
		seen, err := sv.state.Seen(ctx, rc.user, key, now)
		if err != nil {
			log.Error("sieve: vacation state not read; no reply", "err", err)
			return
		}
		if seen {
			log.Debug("sieve: vacation reply sent to this sender already", "sender", j.from.String())
			return
		}
	}
	from := v.From
	if from == "" {
		from = "<" + own[0] + ">"
	}
	content := sieveVacationMessage(v, msg, from, j.from, sv.hostname(j), now)
	env2 := &queue.Envelope{Recipients: []queue.Recipient{{To: j.from, Options: smtp.RcptOptions{Notify: smtp.NotifyNever}}}}
	env2.Options.UTF8 = !j.from.IsASCII()
	if !sieveASCII(content) {
		env2.Options.Body = smtp.Body8BitMIME
	}
	id, err := j.queue.Enqueue(ctx, env2, bytes.NewReader(content))
	if err != nil {
		log.Error("sieve: vacation reply not queued", "err", err)
		return
	}
	log.Debug("sieve: vacation reply queued", "to", j.from.String(), "queue_id", id)
	if v.Period > 0 {
		if err := sv.state.Record(ctx, rc.user, key, now.Add(v.Period), now, true); err != nil {
			log.Error("sieve: vacation reply not recorded", "err", err)
		}
	}
}

func (sv *Sieve) hostname(j *sieveJob) string {
	switch {
	case sv.Hostname != "":
		return sv.Hostname
	case j.hostname != "":
		return j.hostname
	}
	return "localhost"
}

func sieveASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
