package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/postyard/postyard/smtp"
)

// DefaultDLPScanBytes bounds the decoded text DLP examines per message.
const DefaultDLPScanBytes = 4 << 20

// maxDLPMatches bounds the matches counted per rule and text.
const maxDLPMatches = 100

// DLP is a [Filter] of data-loss rules: regular expressions, keyword
// lists and built-in detectors (payment card numbers, IBANs) matched on
// the text of a message, and file name patterns matched on its
// attachments. A rule that matches refuses the message (550 5.7.1 with
// the rule's name) or quarantines it, which for outgoing mail means it is
// held in the queue for an administrator, and for local copies that they
// go to the Junk mailbox.
//
// The text examined is the Subject field (RFC 2047 decoded) of the
// message and of enclosed messages, and every
// text part: text/* body parts and attachments, and attachments named
// .txt, .csv, .tsv, .json, .xml, .htm(l) or .log whatever their type —
// inside nested multiparts and enclosed messages too (RFC 2046), with
// the transfer encoding undone (base64, quoted-printable: RFC 2045 §6.7,
// §6.8, so a word split by a soft line break is whole again), converted
// to UTF-8 from its charset (go-message's charset tables), HTML reduced
// to its text, invisible characters removed and white space runs made
// one space. Binary attachments (PDF, office documents, archives) are
// not examined, only their names.
//
// Scanning is bounded: at most MaxScanBytes of decoded text per message
// (the rest is not examined), and the MIME structure by Limits.
//
// Matched values are never logged, only the rule and how many matches.
// It is safe for concurrent use once configured.
type DLP struct {
	// Rules are checked in order; the first that matches decides.
	Rules []DLPRule
	// MaxScanBytes bounds the decoded text examined per message, in
	// octets. Zero means DefaultDLPScanBytes (4 MiB); negative means
	// unlimited (the message size limit still bounds it).
	MaxScanBytes int64
	// Limits bound the MIME structure read.
	Limits MIMELimits
	// OnLimit is the Action for a message whose MIME structure is beyond
	// Limits, so that it cannot be checked: zero means the Action of the
	// first rule for the message's direction (refuse or hold what cannot
	// be checked); ActionAccept lets it through. It is logged.
	OnLimit Action
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// DLPRule is one data-loss rule. It matches when its detectors together
// find at least MinMatches distinct values.
type DLPRule struct {
	// Name identifies the rule in the reply and the logs (printable
	// ASCII).
	Name string
	// Direction selects the mail the rule applies to: DirectionOutgoing
	// for mail authenticated users submit, DirectionIncoming for the
	// rest, DirectionBoth (zero) for all.
	Direction Direction
	// Action is what to do with a matching message: ActionReject (the
	// default, with Reply), ActionQuarantine (held in the queue; local
	// copies to Junk), ActionTempfail or ActionDiscard.
	Action Action
	// Reply is sent for ActionReject. Nil means 550 5.7.1 "Message
	// refused by data-loss rule " + Name.
	Reply *smtp.Error

	// Patterns are matched on the normalised text; each distinct match
	// counts. Use (?i) for case-insensitive patterns.
	Patterns []*regexp.Regexp
	// Keywords are words or phrases matched on the text and on attachment
	// names, case-insensitively, as whole words (not inside a longer
	// word); each keyword found counts once.
	Keywords []string
	// FileNames are matched on the decoded attachment names
	// (`(?i)\.(pem|key|kdbx|pfx|p12)$`, say); each distinct name counts.
	FileNames []*regexp.Regexp
	// CardNumbers finds payment card numbers: 13 to 19 digits (in groups
	// separated by spaces or dashes, or not), with a valid Luhn check
	// digit and an issuer prefix of a card network that uses that length.
	CardNumbers bool
	// IBANs finds international bank account numbers (ISO 13616) with
	// valid check digits (mod 97) and their country's length.
	IBANs bool

	// MinMatches is how many distinct matches make the rule match (five
	// card numbers, say, to catch bulk leaks only). Zero means 1.
	MinMatches int
}

// NewSession implements Filter.
func (d *DLP) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return (&FilterFuncs{Data: d.data}).NewSession(ctx, c)
}

func (d *DLP) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// dlpState is the scan of one message: the distinct matches of each rule.
type dlpState struct {
	rules   []*DLPRule
	matches []map[string]bool
	kinds   []map[string]int // kind of match → count, for the log
}

func (st *dlpState) add(i int, kind, value string) {
	r := st.rules[i]
	if len(st.matches[i]) >= max(r.MinMatches, 1) {
		return
	}
	key := kind + "\x00" + value
	if !st.matches[i][key] {
		st.matches[i][key] = true
		st.kinds[i][kind]++
	}
}

func (d *DLP) data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	st := &dlpState{}
	for i := range d.Rules {
		if r := &d.Rules[i]; r.Direction.applies(tx) {
			st.rules = append(st.rules, r)
			st.matches = append(st.matches, map[string]bool{})
			st.kinds = append(st.kinds, map[string]int{})
		}
	}
	if len(st.rules) == 0 {
		return Verdict{}, nil
	}
	budget := d.MaxScanBytes
	switch {
	case budget == 0:
		budget = DefaultDLPScanBytes
	case budget < 0:
		budget = msg.Size() + 1
	}
	w := newMIMEWalker(&ctxReader{ctx, msg.Open()}, d.Limits)
	for {
		e, err := w.Next()
		if err == io.EOF {
			break
		}
		if isMIMELimit(err) {
			return d.onLimit(st, err), nil
		}
		if err != nil {
			return Verdict{}, err
		}
		// The Subject of the message, and of enclosed messages.
		if s := e.Header.Get("Subject"); s != "" {
			st.scanText(dlpNormalize(decodeWords(s)))
		}
		for _, n := range e.Names {
			st.scanName(n)
		}
		if e.Container || !dlpTextPart(e) || budget <= 0 {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(e.text(), budget))
		if err != nil {
			return Verdict{}, err
		}
		budget -= int64(len(b))
		text := string(b)
		if e.MediaType == "text/html" {
			text = htmlText(text)
		}
		st.scanText(dlpNormalize(text))
	}
	for i, r := range st.rules {
		if len(st.matches[i]) >= max(r.MinMatches, 1) {
			return d.verdict(r, st.kinds[i]), nil
		}
	}
	return Verdict{}, nil
}

// scanText runs every rule's text detectors on normalised text.
func (st *dlpState) scanText(text string) {
	if text == "" {
		return
	}
	var lower string
	for i, r := range st.rules {
		for _, re := range r.Patterns {
			for _, m := range re.FindAllString(text, maxDLPMatches) {
				st.add(i, "pattern", m)
			}
		}
		if len(r.Keywords) > 0 && lower == "" {
			lower = strings.ToLower(text)
		}
		for _, kw := range r.Keywords {
			if findKeyword(lower, dlpNormalize(strings.ToLower(kw))) {
				st.add(i, "keyword", kw)
			}
		}
		if r.CardNumbers {
			for _, n := range findCardNumbers(text, maxDLPMatches) {
				st.add(i, "card number", n)
			}
		}
		if r.IBANs {
			for _, n := range findIBANs(text, maxDLPMatches) {
				st.add(i, "IBAN", n)
			}
		}
	}
}

// scanName runs every rule's name detectors on an attachment name.
func (st *dlpState) scanName(name string) {
	lower := strings.ToLower(dlpNormalize(name))
	for i, r := range st.rules {
		for _, re := range r.FileNames {
			if re.MatchString(name) {
				st.add(i, "file name", name)
			}
		}
		for _, kw := range r.Keywords {
			if findKeyword(lower, dlpNormalize(strings.ToLower(kw))) {
				st.add(i, "keyword in file name", kw)
			}
		}
	}
}

// dlpTextExtensions are the attachment names DLP reads as text whatever
// their declared type.
var dlpTextExtensions = []string{"txt", "csv", "tsv", "json", "xml", "htm", "html", "log"}

// dlpTextPart reports whether DLP examines the body of e.
func dlpTextPart(e *mimeEntity) bool {
	if strings.HasPrefix(e.MediaType, "text/") {
		return true
	}
	for _, n := range e.Names {
		if containsFold(dlpTextExtensions, fileExtension(n)) {
			return true
		}
	}
	return false
}

func (d *DLP) verdict(r *DLPRule, kinds map[string]int) Verdict {
	a := r.Action
	if a == ActionDefault {
		a = ActionReject
	}
	name := printableName(r.Name)
	var why []string
	for k, n := range kinds {
		why = append(why, fmt.Sprintf("%d %s", n, k))
	}
	v := Verdict{Action: a, Reason: "data-loss rule " + name + ": " + strings.Join(slices.Sorted(slices.Values(why)), ", ")}
	if a == ActionReject {
		v.Reply = r.Reply
		if v.Reply == nil {
			v.Reply = &smtp.Error{Code: 550, EnhancedCode: "5.7.1", Message: "Message refused by data-loss rule " + name}
		}
	}
	return v
}

func (d *DLP) onLimit(st *dlpState, err error) Verdict {
	a := d.OnLimit
	if a == ActionDefault {
		a = st.rules[0].Action
		if a == ActionDefault {
			a = ActionReject
		}
	}
	d.logger().Warn("data-loss rules: message not checked", "err", err, "action", a.String())
	if a == ActionAccept {
		return Verdict{}
	}
	v := Verdict{Action: a, Reason: err.Error()}
	if a == ActionReject {
		v.Reply = &smtp.Error{Code: 552, EnhancedCode: "5.7.0", Message: "Message refused: MIME structure too complex to check"}
	}
	return v
}
