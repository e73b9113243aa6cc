package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/postyard/postyard/smtp"
)

// Direction says which mail a rule applies to.
type Direction int

const (
	// DirectionBoth applies the rule to all mail.
	DirectionBoth Direction = iota
	// DirectionIncoming applies it to mail received from other servers
	// and relay clients ([Transaction].Submission false).
	DirectionIncoming
	// DirectionOutgoing applies it to mail authenticated users submitted
	// ([Transaction].Submission true).
	DirectionOutgoing
)

// applies reports whether a rule for d applies to tx.
func (d Direction) applies(tx *Transaction) bool {
	switch d {
	case DirectionIncoming:
		return !tx.Submission
	case DirectionOutgoing:
		return tx.Submission
	}
	return true
}

// String returns "both", "incoming" or "outgoing".
func (d Direction) String() string {
	switch d {
	case DirectionIncoming:
		return "incoming"
	case DirectionOutgoing:
		return "outgoing"
	}
	return "both"
}

// ErrMessageTooBig is SizeRule's reply (RFC 1870 §6.1, RFC 3463 X.3.4).
var ErrMessageTooBig = &smtp.Error{Code: 552, EnhancedCode: "5.3.4", Message: "Message size exceeds fixed maximum message size"}

// SizeRule is a [Filter] that limits the size of messages by direction,
// below the server's own limit (smtp.Server.MaxMessageBytes, 25 MiB by
// default), which applies to all mail: smaller outgoing messages than
// incoming, say. A declared SIZE (RFC 1870 §3) over the limit is refused
// at MAIL FROM; the message itself at the end of DATA; both with
// ErrMessageTooBig (552 5.3.4).
//
// The zero SizeRule limits nothing. It is safe for concurrent use once
// configured.
type SizeRule struct {
	// MaxIncoming bounds mail that is not Submission, in octets; zero or
	// negative means no limit beyond the server's.
	MaxIncoming int64
	// MaxOutgoing bounds mail submitted by authenticated users
	// ([Transaction].Submission), in octets; zero or negative means no
	// limit beyond the server's.
	MaxOutgoing int64
}

func (r *SizeRule) limit(tx *Transaction) int64 {
	if tx.Submission {
		return r.MaxOutgoing
	}
	return r.MaxIncoming
}

// NewSession implements Filter.
func (r *SizeRule) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return (&FilterFuncs{Mail: r.mail, Data: r.data}).NewSession(ctx, c)
}

func (r *SizeRule) mail(ctx context.Context, tx *Transaction) (Verdict, error) {
	max := r.limit(tx)
	if max > 0 && tx.Options != nil && tx.Options.Size > max {
		return Verdict{Action: ActionReject, Reply: ErrMessageTooBig,
			Reason: fmt.Sprintf("declared SIZE %d over the %s limit %d", tx.Options.Size, directionOf(tx), max)}, nil
	}
	return Verdict{}, nil
}

func (r *SizeRule) data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	max := r.limit(tx)
	if max > 0 && msg.Size() > max {
		return Verdict{Action: ActionReject, Reply: ErrMessageTooBig,
			Reason: fmt.Sprintf("size %d over the %s limit %d", msg.Size(), directionOf(tx), max)}, nil
	}
	return Verdict{}, nil
}

func directionOf(tx *Transaction) Direction {
	if tx.Submission {
		return DirectionOutgoing
	}
	return DirectionIncoming
}

// DefaultBlockedExtensions are the file name extensions AttachmentRule
// blocks when its Extensions field is nil: Windows executables, scripts,
// shortcuts, installers and disk images that open with a double click,
// close to what large mail providers refuse. Do not modify it; set
// Extensions instead.
var DefaultBlockedExtensions = []string{
	"ade", "adp", "app", "appx", "appxbundle", "bat", "cab", "chm", "cmd",
	"com", "cpl", "diagcab", "diagcfg", "diagpkg", "dll", "exe", "hta",
	"img", "inf", "ins", "iso", "isp", "jar", "jnlp", "js", "jse", "lib",
	"lnk", "mde", "msc", "msi", "msix", "msixbundle", "msp", "mst", "nsh",
	"pif", "ps1", "psc1", "reg", "scf", "scr", "sct", "shb", "shs", "sys",
	"url", "vb", "vbe", "vbs", "vhd", "vhdx", "vxd", "wsc", "wsf", "wsh",
	"xll",
}

// DefaultBlockedContentTypes are the declared media types AttachmentRule
// blocks when its ContentTypes field is nil: those senders use for
// Windows executables, scripts and shortcuts. Do not modify it; set
// ContentTypes instead.
var DefaultBlockedContentTypes = []string{
	"application/x-msdownload", "application/x-msdos-program",
	"application/x-ms-dos-executable", "application/x-dosexec",
	"application/vnd.microsoft.portable-executable", "application/x-ms-installer",
	"application/x-msi", "application/hta", "application/x-ms-shortcut",
	"application/x-javascript", "text/javascript", "application/javascript",
	"text/vbscript", "application/x-vbscript",
}

// AttachmentRule is a [Filter] that refuses (or quarantines) messages
// carrying attachments of dangerous types, recognised by the extension of
// their file name and optionally by their declared media type, in any
// body part: nested multiparts and enclosed messages (message/rfc822)
// included. The MIME structure (RFC 2045, RFC 2046) is read in one pass,
// bounded by Limits; file names are taken from the Content-Disposition
// filename (RFC 2183) and Content-Type name parameters, decoded from RFC
// 2231 and RFC 2047 encodings. Names are compared as Windows would open
// them: case-insensitively, after the last dot, with trailing dots and
// spaces and invisible characters (such as U+202E, which reverses the
// displayed name) removed, up to a NUL.
//
// Not checked: the content itself (a renamed executable), and files in
// archives (.zip, .rar, .7z) — block those extensions too where that
// matters.
//
// It is safe for concurrent use once configured.
type AttachmentRule struct {
	// Extensions are the file name extensions to block, without the dot,
	// compared case-insensitively. Nil means DefaultBlockedExtensions; an
	// empty slice blocks none.
	Extensions []string
	// ContentTypes are the media types ("application/x-msdownload") to
	// block, whatever the file name. Nil means
	// DefaultBlockedContentTypes; an empty slice blocks none.
	ContentTypes []string
	// Direction selects the mail the rule applies to; zero means all.
	Direction Direction
	// Action is what to do with a message that has a blocked attachment:
	// ActionReject (the default, with Reply), ActionQuarantine,
	// ActionTempfail or ActionDiscard.
	Action Action
	// Reply is sent for ActionReject. Nil means 552 5.7.0 "Message
	// refused: attachment type not allowed" with the file name added.
	Reply *smtp.Error
	// Limits bound the MIME structure read. A message beyond them gets
	// OnLimit.
	Limits MIMELimits
	// OnLimit is the Action for a message whose MIME structure is beyond
	// Limits, so that it cannot be checked: zero means Action (refuse what
	// cannot be checked). ActionAccept lets it through; it is logged.
	OnLimit Action
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// NewSession implements Filter.
func (r *AttachmentRule) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return (&FilterFuncs{Data: r.data}).NewSession(ctx, c)
}

func (r *AttachmentRule) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *AttachmentRule) action() Action {
	if r.Action == ActionDefault {
		return ActionReject
	}
	return r.Action
}

func (r *AttachmentRule) data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	if !r.Direction.applies(tx) {
		return Verdict{}, nil
	}
	exts := r.Extensions
	if exts == nil {
		exts = DefaultBlockedExtensions
	}
	types := r.ContentTypes
	if types == nil {
		types = DefaultBlockedContentTypes
	}
	w := newMIMEWalker(&ctxReader{ctx, msg.Open()}, r.Limits)
	for {
		e, err := w.Next()
		if err == io.EOF {
			return Verdict{}, nil
		}
		if isMIMELimit(err) {
			return r.onLimit(err), nil
		}
		if err != nil {
			return Verdict{}, err
		}
		if e.Depth == 0 && e.Container {
			continue // the message itself: its type says nothing
		}
		for _, name := range e.Names {
			if ext := fileExtension(name); ext != "" && containsFold(exts, ext) {
				return r.blocked(printableName(name), "extension ."+ext), nil
			}
		}
		if !e.Container && containsFold(types, e.MediaType) {
			name := e.MediaType
			if len(e.Names) > 0 {
				name = printableName(e.Names[0])
			}
			return r.blocked(name, "type "+e.MediaType), nil
		}
	}
}

func (r *AttachmentRule) blocked(name, why string) Verdict {
	v := Verdict{Action: r.action(), Reason: "attachment " + name + ": " + why}
	if v.Action == ActionReject {
		v.Reply = r.Reply
		if v.Reply == nil {
			v.Reply = &smtp.Error{Code: 552, EnhancedCode: "5.7.0", Message: "Message refused: attachment type not allowed (" + name + ")"}
		}
	}
	return v
}

func (r *AttachmentRule) onLimit(err error) Verdict {
	a := r.OnLimit
	if a == ActionDefault {
		a = r.action()
	}
	r.logger().Warn("attachment rule: message not checked", "err", err, "action", a.String())
	if a == ActionAccept {
		return Verdict{}
	}
	v := Verdict{Action: a, Reason: err.Error()}
	if a == ActionReject {
		v.Reply = &smtp.Error{Code: 552, EnhancedCode: "5.7.0", Message: "Message refused: MIME structure too complex to check"}
	}
	return v
}

// containsFold reports whether list holds s, ignoring case.
func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(strings.TrimPrefix(x, "."), s) })
}

// fileExtension returns the lower-case extension of a file name as
// Windows sees it: what follows the last dot of the last path element,
// after cutting at a NUL, removing invisible characters (controls and
// Unicode format characters such as U+202E) and trailing dots and
// spaces. "" if there is none.
func fileExtension(name string) string {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimRight(name, ". \t")
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(name[i+1:]))
}

// printableName returns name for a reply or log: printable ASCII, other
// characters as "?", at most 64 of them.
func printableName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 64 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
