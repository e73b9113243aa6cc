package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/postyard/postyard/smtp"
)

// Replies of the filter chain.
var (
	// ErrFilterRejected is the default reply for ActionReject.
	ErrFilterRejected = &smtp.Error{Code: 550, EnhancedCode: "5.7.1", Message: "Message rejected by policy"}
	// ErrFilterTempfail is the default reply for ActionTempfail and for a
	// filter that failed.
	ErrFilterTempfail = &smtp.Error{Code: 451, EnhancedCode: "4.7.1", Message: "Message checks failed temporarily, try again later"}
)

// chain runs an Inbound's filters for one connection.
type chain struct {
	log      *slog.Logger
	sessions []FilterSession
	tx       Transaction

	// The transaction's state.
	skip       bool // an ActionAccept or ActionDiscard ended the chain
	quarantine bool
	discard    bool
	headers    []Field
}

// newChain starts each filter's session; on error it closes those started.
func newChain(ctx context.Context, filters []Filter, c *smtp.ConnInfo, log *slog.Logger) (*chain, error) {
	ch := &chain{log: log, tx: Transaction{Conn: c}}
	for _, f := range filters {
		fs, err := f.NewSession(ctx, c)
		if err != nil {
			ch.close()
			var se *smtp.Error
			if !errors.As(err, &se) {
				log.Error("filter session failed", "err", err)
			}
			return nil, err
		}
		ch.sessions = append(ch.sessions, fs)
	}
	return ch, nil
}

func (ch *chain) mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	ch.reset(ctx)
	ch.tx.From, ch.tx.Options = from, opts
	return ch.run("mail", func(fs FilterSession) (Verdict, error) { return fs.Mail(ctx, &ch.tx) })
}

func (ch *chain) rcpt(ctx context.Context, to smtp.Path) error {
	err := ch.run("rcpt", func(fs FilterSession) (Verdict, error) { return fs.Rcpt(ctx, &ch.tx, to) })
	if err == nil {
		ch.tx.Rcpts = append(ch.tx.Rcpts, to)
	}
	return err
}

func (ch *chain) data(ctx context.Context, m *Message) error {
	return ch.run("data", func(fs FilterSession) (Verdict, error) { return fs.Data(ctx, &ch.tx, m) })
}

// run asks each filter in turn, until one decides.
func (ch *chain) run(stage string, call func(FilterSession) (Verdict, error)) error {
	if ch.skip {
		return nil
	}
	for i, fs := range ch.sessions {
		v, err := call(fs)
		if err != nil {
			ch.log.Warn("filter failed", "stage", stage, "filter", i, "err", err)
			return ErrFilterTempfail
		}
		if v.Action != ActionDefault {
			ch.log.Info("filter verdict", "stage", stage, "filter", i, "action", v.Action.String(), "reason", v.Reason)
		}
		switch v.Action {
		case ActionReject:
			return verdictReply(v.Reply, 5, ErrFilterRejected)
		case ActionTempfail:
			return verdictReply(v.Reply, 4, ErrFilterTempfail)
		}
		ch.headers = append(ch.headers, v.Headers...)
		switch v.Action {
		case ActionAccept:
			ch.skip = true
			return nil
		case ActionDiscard:
			ch.skip, ch.discard = true, true
			return nil
		case ActionQuarantine:
			ch.quarantine = true
		}
	}
	return nil
}

// verdictReply is r if its code is of class (4 or 5), else def.
func verdictReply(r *smtp.Error, class int, def *smtp.Error) *smtp.Error {
	if r == nil || r.Code/100 != class {
		return def
	}
	return r
}

// withHeaders prepends the fields the filters added to r.
func (ch *chain) withHeaders(r io.Reader) io.Reader {
	if len(ch.headers) == 0 {
		return r
	}
	var b strings.Builder
	for _, f := range ch.headers {
		v, ok := foldedValue(f.Value)
		if !ok || !validFieldName(f.Name) {
			ch.log.Warn("filter header dropped: not a valid field", "name", f.Name)
			continue
		}
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	return io.MultiReader(strings.NewReader(b.String()), r)
}

// validFieldName: 1*ftext (RFC 5322 §3.6.8).
func validFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return name != "" && len(name) <= 200
}

// foldedValue returns v with its line breaks (CRLF or a bare LF, as milters
// send them) as CRLF; a line break not followed by white space, a bare CR
// or a NUL makes it invalid: it would end the field.
func foldedValue(v string) (string, bool) {
	if len(v) > 16<<10 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == 0:
			return "", false
		case c == '\r' && i+1 < len(v) && v[i+1] == '\n':
			continue // the LF writes the break
		case c == '\r':
			return "", false
		case c == '\n':
			if i+1 >= len(v) || (v[i+1] != ' ' && v[i+1] != '\t') {
				return "", false
			}
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func (ch *chain) reset(ctx context.Context) {
	for _, fs := range ch.sessions {
		fs.Reset(ctx)
	}
	ch.tx = Transaction{Conn: ch.tx.Conn, Submission: ch.tx.Submission}
	ch.skip, ch.quarantine, ch.discard, ch.headers = false, false, false, nil
}

func (ch *chain) close() {
	for _, fs := range ch.sessions {
		if err := fs.Close(); err != nil {
			ch.log.Warn("filter close failed", "err", err)
		}
	}
}
