package sieve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"
)

// EvalOptions configure one evaluation. Nil or the zero value is usable:
// every interface left nil makes its test behave as described on the
// field.
type EvalOptions struct {
	// Now returns the current time for currentdate; nil means time.Now.
	Now func() time.Time
	// Location is the time zone date and currentdate use without :zone;
	// nil means time.Local.
	Location *time.Location
	// Inbox is the mailbox keep stores into; "" means "INBOX".
	Inbox string
	// Separator is the subaddress separator (RFC 5233); "" means "+".
	Separator string

	// Duplicates answers the duplicate test (RFC 7352). Nil: nothing was
	// ever seen (the test is false).
	Duplicates DuplicateTracker
	// Mailboxes answers mailboxexists (RFC 5490). Nil: no mailbox exists.
	Mailboxes MailboxChecker
	// Spam and Virus answer spamtest and virustest (RFC 5235). Nil: the
	// message was not tested (the tests see "0").
	Spam, Virus Scorer

	// VacationMinPeriod, VacationMaxPeriod and VacationDefaultPeriod bound
	// the vacation :days/:seconds (RFC 5230 §4.1, RFC 6131): defaults one
	// day, none, and seven days, as Pigeonhole's.
	VacationMinPeriod, VacationMaxPeriod, VacationDefaultPeriod time.Duration
	// DuplicatePeriod is the duplicate test's default period: 14 days if
	// zero.
	DuplicatePeriod time.Duration
	// ProtectedHeaders are header fields addheader and deleteheader must
	// leave alone (RFC 5293 §6). Nil means Received and Auto-Submitted.
	ProtectedHeaders []string
}

// DuplicateTracker remembers message identifiers for the duplicate test.
// Eval only asks; the caller records the Result's Duplicates after
// delivery. Implementations must be safe for concurrent use.
type DuplicateTracker interface {
	Seen(ctx context.Context, id string) (bool, error)
}

// MailboxChecker answers mailboxexists.
type MailboxChecker interface {
	MailboxExists(ctx context.Context, name string) (bool, error)
}

// Scorer reports a spam or virus verdict for spamtest and virustest as a
// ratio: 0 is certainly clean, 1 certainly spam (or infected beyond
// repair). tested is false when the message was not tested. HeaderScorer
// reads it from a header field.
type Scorer interface {
	Score(ctx context.Context, m *Message) (ratio float64, tested bool, err error)
}

// Eval runs the script against a message and its envelope. It is safe to
// call concurrently. On a run-time error (an action conflict, a limit, a
// failing DuplicateTracker, a cancelled context) it returns the error and
// a Result that keeps the message as received: an error never loses a
// message.
func (s *Script) Eval(ctx context.Context, msg *Message, env *Envelope, opts *EvalOptions) (res *Result, err error) {
	if opts == nil {
		opts = &EvalOptions{}
	}
	if env == nil {
		env = &Envelope{}
	}
	if msg == nil {
		msg = NewMessage(nil)
	}
	ev := &evaluator{
		ctx: ctx, s: s, lim: &s.lim, msg: msg, env: env, opts: opts,
		header: msg.Header(), implicitKeep: true,
	}
	defer func() {
		if r := recover(); r != nil {
			res = fallback()
			err = &Error{Msg: fmt.Sprintf("internal error: %v\n%s", r, debug.Stack())}
		}
	}()
	if _, err := ev.run(s.main); err != nil {
		return fallback(), err
	}
	return ev.result(), nil
}

type control uint8

const (
	ctlNone control = iota
	ctlStop
	ctlReturn
)

type evaluator struct {
	ctx  context.Context
	s    *Script
	lim  *Limits
	msg  *Message
	env  *Envelope
	opts *EvalOptions

	steps int
	work  int // glob iterations, charged to steps per 1024

	header  Header
	edited  bool
	globals map[string]string
	fr      *frame

	actions      []Action
	implicitKeep bool
	flags        []string
	redirects    int
	reject       *rejectStmt
	vacation     *vacationStmt
	delivering   Pos // position of an action that delivers, for reject conflicts
	hasDelivery  bool
	dups         []DuplicateMark
	included     map[*unit]bool
	regexCache   map[string]*regexp.Regexp
	hdrCache     map[string][]string   // decoded values by lower-case name; reset on edits
	addrCache    map[string][]mailAddr // parsed address lists by field value
	envCache     [3]envAddr            // envelope from, to, auth, parsed
	scratch      []string              // values of the test being evaluated
}

// envAddr is an envelope address as the envelope test sees it.
type envAddr struct {
	set, empty bool
	addr       mailAddr
	all        *string // addr.all(), once asked for
}

type frame struct {
	u     *unit
	vars  map[string]string
	match []string
}

func (ev *evaluator) result() *Result {
	r := &Result{Actions: ev.actions, ImplicitKeep: ev.implicitKeep, Flags: ev.flags, Duplicates: ev.dups}
	if ev.edited {
		r.Header = ev.header
	}
	return r
}

func (ev *evaluator) errorf(p Pos, format string, args ...any) *Error {
	e := errorf(p, format, args...)
	if ev.fr != nil && !ev.fr.u.main {
		e.Script = ev.fr.u.displayName()
	}
	return e
}

func (ev *evaluator) step(p Pos) error {
	ev.steps++
	if ev.work >= 1024 {
		ev.steps += ev.work / 1024
		ev.work %= 1024
	}
	if ev.steps > ev.lim.MaxSteps {
		e := ev.errorf(p, "evaluation takes more than %d steps", ev.lim.MaxSteps)
		e.Err = ErrLimit
		return e
	}
	if ev.steps&1023 == 0 {
		if err := ev.ctx.Err(); err != nil {
			e := ev.errorf(p, "evaluation interrupted")
			e.Err = err
			return e
		}
	}
	return nil
}

// run executes a unit: the main script or an included one.
func (ev *evaluator) run(u *unit) (control, error) {
	saved := ev.fr
	ev.fr = &frame{u: u}
	defer func() { ev.fr = saved }()
	return ev.block(u.body)
}

func (ev *evaluator) block(stmts []stmt) (control, error) {
	for _, st := range stmts {
		if err := ev.step(st.stmtPos()); err != nil {
			return ctlStop, err
		}
		c, err := ev.exec(st)
		if err != nil || c != ctlNone {
			return c, err
		}
	}
	return ctlNone, nil
}

func (ev *evaluator) exec(st stmt) (control, error) {
	switch s := st.(type) {
	case *ifStmt:
		for i, c := range s.conds {
			ok, err := ev.test(c)
			if err != nil {
				return ctlStop, err
			}
			if ok {
				return ev.block(s.blocks[i])
			}
		}
		if s.hasEls {
			return ev.block(s.els)
		}
	case *stopStmt:
		return ctlStop, nil
	case *returnStmt:
		return ctlReturn, nil
	case *keepStmt:
		flags := ev.flags
		if s.hasFlags {
			flags = ev.flagList(s.flags)
		}
		return ctlNone, ev.store(s.pos, ev.inbox(), flags, false, false, true)
	case *fileintoStmt:
		mbox := ev.expand(s.mailbox)
		if !utf8.ValidString(mbox) || mbox == "" {
			return ctlStop, ev.errorf(s.pos, "fileinto: invalid mailbox name %q", mbox)
		}
		if strings.EqualFold(mbox, "INBOX") {
			mbox = "INBOX" // RFC 3501 §5.1: INBOX is case-insensitive
		}
		flags := ev.flags
		if s.hasFlags {
			flags = ev.flagList(s.flags)
		}
		return ctlNone, ev.store(s.pos, mbox, flags, s.create, s.copy, false)
	case *redirectStmt:
		return ctlNone, ev.redirect(s)
	case *discardStmt:
		ev.implicitKeep = false
		for _, a := range ev.actions {
			if _, ok := a.(*Discard); ok {
				return ctlNone, nil
			}
		}
		return ctlNone, ev.add(s.pos, &Discard{})
	case *rejectStmt:
		return ctlNone, ev.doReject(s)
	case *vacationStmt:
		return ctlNone, ev.doVacation(s)
	case *flagStmt:
		ev.doFlags(s)
	case *setStmt:
		ev.doSet(s)
	case *addheaderStmt:
		return ctlNone, ev.addHeader(s)
	case *deleteheaderStmt:
		return ctlNone, ev.deleteHeader(s)
	case *includeStmt:
		if s.unit == nil {
			return ctlNone, nil
		}
		if s.once && ev.included[s.unit] {
			return ctlNone, nil
		}
		if ev.included == nil {
			ev.included = map[*unit]bool{}
		}
		ev.included[s.unit] = true
		c, err := ev.run(s.unit)
		if err != nil || c == ctlStop {
			return ctlStop, err
		}
	case *globalStmt:
		// Declarations are resolved at compile time.
	}
	return ctlNone, nil
}

func (ev *evaluator) inbox() string {
	if ev.opts.Inbox != "" {
		return ev.opts.Inbox
	}
	return "INBOX"
}

func (ev *evaluator) add(p Pos, a Action) error {
	if len(ev.actions) >= ev.lim.MaxActions {
		e := ev.errorf(p, "more than %d actions", ev.lim.MaxActions)
		e.Err = ErrLimit
		return e
	}
	ev.actions = append(ev.actions, a)
	return nil
}

func (ev *evaluator) snapshot() Header {
	if !ev.edited {
		return nil
	}
	return ev.header
}

func sameMailbox(a, b string) bool {
	if strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX") {
		return true
	}
	return a == b
}

// store adds a keep or fileinto, merging it with an earlier store into the
// same mailbox (RFC 5228 §4.1: a message is filed into a mailbox once; the
// later flags win, as in Pigeonhole).
func (ev *evaluator) store(p Pos, mbox string, flags []string, create, copy, keep bool) error {
	if ev.reject != nil {
		return ev.errorf(p, "the store action conflicts with the earlier reject/ereject action (line %d)", ev.reject.pos.Line)
	}
	if !copy {
		ev.implicitKeep = false
	}
	ev.hasDelivery, ev.delivering = true, p
	flags = cloneFlags(flags)
	for _, a := range ev.actions {
		switch a := a.(type) {
		case *Keep:
			if sameMailbox(ev.inbox(), mbox) {
				a.Flags = flags
				return nil
			}
		case *FileInto:
			if sameMailbox(a.Mailbox, mbox) {
				a.Flags = flags
				a.Create = a.Create || create
				return nil
			}
		}
	}
	if keep {
		return ev.add(p, &Keep{Flags: flags, Header: ev.snapshot()})
	}
	return ev.add(p, &FileInto{Mailbox: mbox, Flags: flags, Create: create, Copy: copy, Header: ev.snapshot()})
}

func cloneFlags(f []string) []string {
	if len(f) == 0 {
		return nil
	}
	return append([]string(nil), f...)
}

func (ev *evaluator) redirect(s *redirectStmt) error {
	raw := ev.expand(s.addr)
	addr, why := parseRedirectAddress(raw)
	if why != "" {
		return ev.errorf(s.pos, "specified redirect address '%s' is invalid: %s", short(raw), why)
	}
	if ev.reject != nil {
		return ev.errorf(s.pos, "the redirect action conflicts with the earlier reject/ereject action (line %d)", ev.reject.pos.Line)
	}
	if !s.copy {
		ev.implicitKeep = false
	}
	ev.hasDelivery, ev.delivering = true, s.pos
	for _, a := range ev.actions {
		if r, ok := a.(*Redirect); ok && sameAddress(r.Address, addr) {
			return nil
		}
	}
	ev.redirects++
	if ev.redirects > ev.lim.MaxRedirects {
		e := ev.errorf(s.pos, "number of redirect actions exceeds the limit (%d > %d)", ev.redirects, ev.lim.MaxRedirects)
		e.Err = ErrLimit
		return e
	}
	return ev.add(s.pos, &Redirect{Address: addr, Copy: s.copy, Header: ev.snapshot()})
}

func sameAddress(a, b string) bool {
	la, da, _ := strings.Cut(a, "@")
	lb, db, _ := strings.Cut(b, "@")
	return la == lb && strings.EqualFold(da, db)
}

func (ev *evaluator) doReject(s *rejectStmt) error {
	if ev.reject != nil {
		return ev.errorf(s.pos, "duplicate reject/ereject action not allowed (the first was at line %d)", ev.reject.pos.Line)
	}
	if ev.hasDelivery {
		return ev.errorf(s.pos, "reject/ereject action conflicts with the action at line %d that delivers the message", ev.delivering.Line)
	}
	if ev.vacation != nil {
		return ev.errorf(s.pos, "reject/ereject action conflicts with the vacation action at line %d", ev.vacation.pos.Line)
	}
	ev.reject = s
	ev.implicitKeep = false
	return ev.add(s.pos, &Reject{Reason: ev.expand(s.reason), Extended: s.ext})
}

func (ev *evaluator) doVacation(s *vacationStmt) error {
	if ev.vacation != nil {
		return ev.errorf(s.pos, "duplicate vacation action not allowed (the first was at line %d)", ev.vacation.pos.Line)
	}
	if ev.reject != nil {
		return ev.errorf(s.pos, "vacation action conflicts with the reject/ereject action at line %d", ev.reject.pos.Line)
	}
	ev.vacation = s
	v := &Vacation{Reason: ev.expand(s.reason), MIME: s.mime}
	if s.subject != nil {
		v.Subject = ev.expand(*s.subject)
	}
	if s.from != nil {
		from := ev.expand(*s.from)
		if _, why := parseRedirectAddress(from); why != "" {
			return ev.errorf(s.pos, "specified :from address '%s' is invalid for vacation action: %s", short(from), why)
		}
		v.From = from
	}
	for _, a := range s.addresses {
		v.Addresses = append(v.Addresses, ev.expand(a))
	}
	if s.handle != nil {
		v.Handle = ev.expand(*s.handle)
	} else {
		// Pigeonhole's default handle: the arguments that shape the reply,
		// as written in the script (before variable expansion).
		var b strings.Builder
		b.WriteString(s.reason.lit)
		if s.subject != nil {
			b.WriteString(s.subject.lit)
		} else {
			b.WriteString("<default-subject>")
		}
		if s.from != nil {
			b.WriteString(s.from.lit)
		} else {
			b.WriteString("<default-from>")
		}
		if s.mime {
			b.WriteString("<MIME>")
		} else {
			b.WriteString("<NO-MIME>")
		}
		v.Handle = b.String()
	}
	minP, maxP, defP := ev.opts.VacationMinPeriod, ev.opts.VacationMaxPeriod, ev.opts.VacationDefaultPeriod
	if minP == 0 {
		minP = 24 * time.Hour
	}
	if defP == 0 {
		defP = 7 * 24 * time.Hour
	}
	v.Period = defP
	if s.hasPeriod {
		v.Period = secondsToDuration(s.period)
		if v.Period < minP {
			v.Period = minP
		}
		if maxP > 0 && v.Period > maxP {
			v.Period = maxP
		}
	}
	return ev.add(s.pos, v)
}

func secondsToDuration(s uint64) time.Duration {
	const maxSec = uint64(1<<63-1) / uint64(time.Second)
	if s > maxSec {
		s = maxSec
	}
	return time.Duration(s) * time.Second
}

// expand returns the value of a string argument, variables substituted
// (RFC 5229 §3).
func (ev *evaluator) expand(s str) string {
	if s.parts == nil {
		return s.lit
	}
	var b strings.Builder
	for _, p := range s.parts {
		switch p.kind {
		case tplLit:
			b.WriteString(p.lit)
		case tplLocal:
			if ev.fr.u.globals[p.lit] {
				b.WriteString(ev.globals[p.lit])
			} else {
				b.WriteString(ev.fr.vars[p.lit])
			}
		case tplGlobal:
			b.WriteString(ev.globals[p.lit])
		case tplMatch:
			if p.idx < len(ev.fr.match) {
				b.WriteString(ev.fr.match[p.idx])
			}
		}
		if b.Len() > ev.lim.MaxVariableSize*4 {
			break
		}
	}
	return b.String()
}

// expandList returns the strings of l expanded. The result may be shared
// with the script: callers must not modify it.
func (ev *evaluator) expandList(l strList) []string {
	if len(l) > 0 && len(l[0].lits) == len(l) {
		return l[0].lits
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = ev.expand(s)
	}
	return out
}

func (ev *evaluator) setVar(v varRef, val string) {
	val = truncateUTF8(val, ev.lim.MaxVariableSize)
	if v.global || ev.fr.u.globals[v.name] {
		if ev.globals == nil {
			ev.globals = map[string]string{}
		}
		ev.globals[v.name] = val
		return
	}
	if ev.fr.vars == nil {
		ev.fr.vars = map[string]string{}
	}
	ev.fr.vars[v.name] = val
}

func (ev *evaluator) getVar(v varRef) string {
	if v.global || ev.fr.u.globals[v.name] {
		return ev.globals[v.name]
	}
	return ev.fr.vars[v.name]
}

func (ev *evaluator) doSet(s *setStmt) {
	v := ev.expand(s.val)
	for _, m := range s.mods {
		switch m {
		case modLower:
			v = lowerASCII(v)
		case modUpper:
			v = upperASCII(v)
		case modLowerFirst:
			if v != "" {
				v = lowerASCII(v[:1]) + v[1:]
			}
		case modUpperFirst:
			if v != "" {
				v = upperASCII(v[:1]) + v[1:]
			}
		case modQuoteWildcard:
			v = quoteWildcard(v)
		case modLength:
			v = itoa(utf8.RuneCountInString(v))
		}
	}
	ev.setVar(s.v, v)
}

// Flags (RFC 5232).

func splitFlags(list []string) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.Fields(s)...)
	}
	return out
}

func addFlags(set []string, add []string) []string {
	for _, f := range add {
		dup := false
		for _, g := range set {
			if strings.EqualFold(f, g) {
				dup = true
				break
			}
		}
		if !dup {
			set = append(set, f)
		}
	}
	return set
}

func (ev *evaluator) flagList(l strList) []string {
	return addFlags(nil, splitFlags(ev.expandList(l)))
}

func (ev *evaluator) doFlags(s *flagStmt) {
	var cur []string
	if s.varName != nil {
		cur = strings.Fields(ev.getVar(*s.varName))
	} else {
		cur = ev.flags
	}
	in := splitFlags(ev.expandList(s.flags))
	switch s.op {
	case flagSet:
		cur = addFlags(nil, in)
	case flagAdd:
		cur = addFlags(append([]string(nil), cur...), in)
	case flagRemove:
		var out []string
		for _, f := range cur {
			keep := true
			for _, r := range in {
				if strings.EqualFold(f, r) {
					keep = false
					break
				}
			}
			if keep {
				out = append(out, f)
			}
		}
		cur = out
	}
	if s.varName != nil {
		ev.setVar(*s.varName, strings.Join(cur, " "))
	} else {
		ev.flags = cur
	}
}

// Editheader (RFC 5293).

func (ev *evaluator) protected(name string) bool {
	list := ev.opts.ProtectedHeaders
	if list == nil {
		list = []string{"Received", "Auto-Submitted"}
	}
	for _, p := range list {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

func (ev *evaluator) addHeader(s *addheaderStmt) error {
	name := ev.expand(s.name)
	value := ev.expand(s.value)
	if !validFieldName(name) {
		return ev.errorf(s.pos, "addheader: specified field name `%s' is invalid", name)
	}
	if !utf8.ValidString(value) {
		return ev.errorf(s.pos, "addheader: specified value is not UTF-8")
	}
	if ev.protected(name) {
		return nil
	}
	// RFC 5293 §4: encode non-ASCII, keep the field on one logical line.
	v := strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(value)
	if !isASCII(v) {
		v = mime.QEncoding.Encode("utf-8", v)
	}
	if len(name)+2+len(v) > ev.lim.MaxHeaderSize {
		e := ev.errorf(s.pos, "addheader: field is longer than %d bytes", ev.lim.MaxHeaderSize)
		e.Err = ErrLimit
		return e
	}
	f := HeaderField{Name: name, Value: " " + v}
	h := make(Header, 0, len(ev.header)+1)
	if s.last {
		h = append(append(h, ev.header...), f)
	} else {
		h = append(append(h, f), ev.header...)
	}
	ev.header, ev.edited, ev.hdrCache = h, true, nil
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (ev *evaluator) deleteHeader(s *deleteheaderStmt) error {
	name := ev.expand(s.name)
	if !validFieldName(name) {
		return ev.errorf(s.pos, "deleteheader: specified field name `%s' is invalid", name)
	}
	if ev.protected(name) {
		return nil
	}
	var pats []string
	if s.hasPats {
		pats = ev.expandList(s.patterns)
	}
	// Positions of the fields of that name, for :index.
	var pos []int
	for i, f := range ev.header {
		if strings.EqualFold(f.Name, name) {
			pos = append(pos, i)
		}
	}
	sel := pos
	if s.idx.n > 0 {
		k := s.idx.n - 1
		if s.idx.last {
			k = len(pos) - s.idx.n
		}
		if k < 0 || k >= len(pos) {
			return nil
		}
		sel = pos[k : k+1]
	}
	del := map[int]bool{}
	for _, i := range sel {
		if !s.hasPats {
			del[i] = true
			continue
		}
		ok, err := ev.matchValues(s.pos, &s.m, []string{decodeHeaderValue(ev.header[i].Value)}, s.patterns, pats, false)
		if err != nil {
			return err
		}
		if ok {
			del[i] = true
		}
	}
	if len(del) == 0 {
		return nil
	}
	h := make(Header, 0, len(ev.header)-len(del))
	for i, f := range ev.header {
		if !del[i] {
			h = append(h, f)
		}
	}
	ev.header, ev.edited, ev.hdrCache = h, true, nil
	return nil
}

// duplicate (RFC 7352).
func (ev *evaluator) duplicate(c *duplicateCond) (bool, error) {
	var value string
	switch {
	case c.uniqueid != nil:
		value = ev.expand(*c.uniqueid)
	default:
		name := "message-id"
		if c.header != nil {
			name = ev.expand(*c.header)
		}
		vals := ev.header.Values(name)
		if len(vals) == 0 || vals[0] == "" {
			return false, nil
		}
		value = vals[0]
	}
	handle := ""
	if c.handle != nil {
		handle = ev.expand(*c.handle)
	}
	sum := sha256.Sum256([]byte("sieve-duplicate\x00" + handle + "\x00" + value))
	id := hex.EncodeToString(sum[:])
	period := ev.opts.DuplicatePeriod
	if period == 0 {
		period = 14 * 24 * time.Hour
	}
	if c.hasPeriod {
		period = secondsToDuration(c.period)
	}
	seen := false
	if ev.opts.Duplicates != nil {
		var err error
		seen, err = ev.opts.Duplicates.Seen(ev.ctx, id)
		if err != nil {
			e := ev.errorf(c.pos, "duplicate: tracker failed")
			e.Err = err
			return false, e
		}
	}
	// RFC 7352 §3: IDs checked earlier in this same run are not duplicates.
	for _, d := range ev.dups {
		if d.ID == id {
			if c.last {
				return seen, nil
			}
			return seen, nil
		}
	}
	if !seen || c.last {
		ev.dups = append(ev.dups, DuplicateMark{ID: id, Period: period, Refresh: seen})
	}
	return seen, nil
}
