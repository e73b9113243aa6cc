package mailtest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/smtp"
)

// session is the smtp.Session of one connection.
type session struct {
	s    *Server
	c    *tconn // nil if the connection did not come through a listener
	ctx  context.Context
	info *smtp.ConnInfo

	from  *smtp.Path
	rcpts []string
}

var _ smtp.HelloSession = (*session)(nil)

func (s *Server) newSession(ctx context.Context, info *smtp.ConnInfo) (smtp.Session, error) {
	s.mu.Lock()
	c := s.conns[addrKey(info.RemoteAddr)]
	s.mu.Unlock()
	sess := &session{s: s, c: c, ctx: ctx, info: info}
	c.event("connected")
	if err := s.apply(ctx, stageGreeting, &Message{TLS: info.TLS != nil}, c); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sessions[ctx] = sess
	s.mu.Unlock()
	return sess, nil
}

func addrKey(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// partial returns a Message with what is known so far.
func (ss *session) partial() *Message {
	m := &Message{Hello: ss.info.Hello, User: ss.info.User, TLS: ss.info.TLS != nil}
	if ss.from != nil {
		m.From = pathString(*ss.from)
	}
	return m
}

func pathString(p smtp.Path) string {
	if p.IsNull() {
		return ""
	}
	return p.String()
}

func (ss *session) Hello(ctx context.Context, name string) error {
	ss.c.event("EHLO " + name)
	m := ss.partial()
	m.Hello = name
	return ss.s.apply(ctx, stageEHLO, m, ss.c)
}

func (ss *session) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	ss.c.event("MAIL FROM:<" + from.String() + ">")
	m := ss.partial()
	m.From = pathString(from)
	if err := ss.s.apply(ctx, stageMAIL, m, ss.c); err != nil {
		return err
	}
	ss.from = &from
	return nil
}

func (ss *session) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	ss.c.event("RCPT TO:<" + to.String() + ">")
	m := ss.partial()
	m.To = []string{to.String()}
	if err := ss.s.apply(ctx, stageRCPT, m, ss.c); err != nil {
		return err
	}
	ss.rcpts = append(ss.rcpts, to.String())
	return nil
}

func (ss *session) Data(ctx context.Context, r io.Reader) (string, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	ss.c.event(fmt.Sprintf("DATA: %d octets", len(raw)))
	m := ss.partial()
	m.To = append([]string(nil), ss.rcpts...)
	m.Raw = raw
	m.Received = time.Now()
	m.parse()
	if err := ss.s.apply(ctx, stageDATA, m, ss.c); err != nil {
		return "", err
	}
	return ss.s.deliver(ctx, m)
}

func (ss *session) Reset(ctx context.Context) {
	ss.from, ss.rcpts = nil, nil
}

func (ss *session) Close() error {
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss.ctx)
	ss.s.mu.Unlock()
	return nil
}

// deliver records m, puts it in the recipients' mailboxes, and wakes
// waiters.
func (s *Server) deliver(ctx context.Context, m *Message) (string, error) {
	if s.store != nil {
		var rcpts []mailbox.Recipient
		seen := make(map[string]bool)
		for _, to := range m.To {
			u := strings.ToLower(to)
			if !seen[u] && mailbox.ValidUserName(u) {
				seen[u] = true
				rcpts = append(rcpts, mailbox.Recipient{User: u})
			}
		}
		if len(rcpts) > 0 {
			if _, err := s.store.Deliver(ctx, strings.NewReader(string(m.Raw)), rcpts); err != nil {
				return "", err
			}
		}
	}
	s.mu.Lock()
	s.seq++
	m.ID = fmt.Sprintf("MT%06d", s.seq)
	s.msgs = append(s.msgs, m)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	return m.ID, nil
}

// smtpAuth checks SMTP AUTH credentials, applying AUTH faults.
type smtpAuth struct{ s *Server }

func (a smtpAuth) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	s := a.s
	s.mu.Lock()
	ss := s.sessions[ctx]
	s.mu.Unlock()
	var c *tconn
	m := &Message{User: username}
	if ss != nil {
		c = ss.c
		m = ss.partial()
		m.User = username
	}
	c.event("AUTH as " + username)
	if err := s.apply(ctx, stageAUTH, m, c); err != nil {
		var e *smtp.Error
		if errors.As(err, &e) && e.Code/100 == 5 {
			return "", auth.ErrInvalidCredentials
		}
		return "", err
	}
	return userAuth{s}.Authenticate(ctx, identity, username, password)
}

// userAuth checks credentials against WithUser's users; without any, it
// accepts everyone. The user is the name lower-cased, as mailboxes are
// named after lower-cased recipient addresses.
type userAuth struct{ s *Server }

func (a userAuth) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	if identity != "" && identity != username {
		return "", auth.ErrAuthzDenied
	}
	users := a.s.cfg.users
	if users == nil {
		return strings.ToLower(username), nil
	}
	want, ok := users[username]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return "", auth.ErrInvalidCredentials
	}
	return strings.ToLower(username), nil
}
