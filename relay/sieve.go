package relay

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/sieve"
)

// SieveScripts finds a user's active Sieve script. A managesieve.Store
// satisfies it. Active returns "", nil and no error for a user without an
// active script. If the value also has a method
//
//	Get(ctx context.Context, user, name string) ([]byte, error)
//
// (as managesieve.Store has), scripts a user's script includes with
// "include :personal" (RFC 6609) are loaded through it; otherwise such
// includes fail (unless :optional).
type SieveScripts interface {
	Active(ctx context.Context, user string) (name string, script []byte, err error)
}

// SieveScript is an administrator's script: [Sieve.Before] and
// [Sieve.After].
type SieveScript struct {
	// Name names the script in logs.
	Name string
	// Source is the script's text.
	Source []byte
}

// Sieve runs Sieve scripts (RFC 5228, package sieve) at local delivery:
// set it as [Inbound.Sieve] (and so Submission's) and [Deliverer.Sieve],
// for mail that reaches local users through the queue (redirects, replies
// and reports to local addresses). Each local user's copy goes through the
// administrator's Before scripts, the user's active script from Scripts,
// then the After scripts, as Pigeonhole's sieve_before and sieve_after:
// a script runs only while the implicit keep of those before it is still
// in effect, and their explicit actions add up.
//
// The actions:
//
//   - keep stores into INBOX; the implicit keep stores into INBOX, or,
//     for a message with a spam verdict (quarantined by the Verifier or a
//     Filter, or scored at least SpamThreshold), into
//     Inbound.QuarantineMailbox ("Junk"). Without any script this is what
//     every message gets.
//   - fileinto stores into the mailbox with the flags (RFC 5232) set;
//     with :create (RFC 5490) a missing mailbox is created first
//     (mailbox.User.Create; the Deliverer must then be a mailbox.Store).
//     A mailbox that does not exist, or whose name the store refuses,
//     gets the copy in INBOX instead.
//   - redirect enqueues the message for the address, with the original
//     envelope sender (RFC 5228 §4.2) and an X-Sieve-Redirected-From
//     field naming the recipient. A user whose address is already in such
//     a field does not redirect the message again (it came back to them:
//     the redirect becomes a keep), nor does anyone once the message
//     carries MaxRedirectHops of them; at most MaxRedirects redirects per
//     message and user.
//   - reject (RFC 5429 §2.1.3) sends a message disposition notification
//     (RFC 8098, "deleted") with the reason to the envelope sender through
//     the queue, with the null reverse-path; nothing is sent for a message
//     from the null sender, which is then dropped.
//   - ereject (RFC 5429 §2.1.1) refuses the message for that recipient with
//     550 5.7.1 and the reason: in LMTP that recipient's reply; in SMTP the
//     DATA reply if every recipient refused it, otherwise a delivery status
//     notification (RFC 3464) from Inbound's failure report; for queued
//     mail, the queue's failure report.
//   - vacation (RFC 5230, RFC 6131) queues a reply (RFC 3834: Auto-Submitted:
//     auto-replied, In-Reply-To and References, the null reverse-path) once
//     per sender and :handle within the period, unless
//     [sieve.Vacation.Check] says not to (null or system sender, lists,
//     bulk and auto-submitted mail, a message not addressed to the user).
//     The replies sent are remembered in State.
//   - duplicate (RFC 7352) asks State; the identifiers are recorded once
//     the message is delivered.
//
// A filter error never loses a message: when a script fails at run time,
// or a redirect or reject cannot be queued while no copy was stored, the
// message is kept as if there were no script (INBOX, or the spam mailbox
// for a message with a spam verdict). A script that does not compile is
// skipped, with a warning in the log. Side effects (redirect, reject,
// vacation, duplicate records) happen only once the user's copies are
// stored; when storing fails temporarily the recipient fails temporarily
// and nothing else is done, so a retry does not repeat them.
//
// Envelope "to" is the recipient as given in RCPT TO (before aliases and
// with its sub-address, RFC 5233: envelope :detail "to" sees the tag;
// Policy.Separator, else "+", is the separator). Scripts are compiled once
// per distinct source and cached; a script that uses include is cached per
// user for at most a minute, so that changes to the scripts it includes
// are seen.
//
// The message is held in memory while its scripts run. Configure the
// fields before use; a Sieve is safe for concurrent use.
type Sieve struct {
	// Scripts finds each user's active script. Nil: users have none.
	Scripts SieveScripts
	// Before and After are the administrator's scripts, run before and
	// after the user's.
	Before, After []SieveScript
	// Global loads the scripts included with "include :global". Nil: such
	// includes fail (unless :optional).
	Global sieve.Loader
	// Options are the compile options: Extensions and Limits (whose
	// MaxRedirects also bounds redirects per evaluation). Its Name and
	// Loader are ignored. Nil means sieve's defaults.
	Options *sieve.Options
	// Eval holds evaluation settings: Location, the vacation period
	// bounds, DuplicatePeriod, ProtectedHeaders, and the Spam and Virus
	// scorers of spamtest and virustest (RFC 5235), for example a
	// sieve.HeaderScorer reading the X-Spam-Score a Filter added. Its
	// other fields are set per delivery. spamtest sees a message with a
	// spam verdict that the Spam scorer did not rate (or with no scorer)
	// as certainly spam. Nil means defaults.
	Eval *sieve.EvalOptions
	// SpamThreshold, if above zero, gives a spam verdict to messages the
	// Eval.Spam scorer rates at least this ratio (0 to 1), as if a filter
	// had quarantined them.
	SpamThreshold float64
	// State remembers vacation replies and duplicate identifiers. Nil
	// means a SieveState in memory: lost on restart.
	State SieveTracker
	// Hostname names this host in the Message-IDs and reports it writes.
	// "" means the Inbound's QueueOptions.Hostname or the Deliverer's
	// Hostname, else "localhost".
	Hostname string
	// MaxRedirects bounds the redirects one message makes per user, all
	// scripts together. Zero means 4; negative means unlimited.
	MaxRedirects int
	// MaxRedirectHops is how many X-Sieve-Redirected-From fields a message
	// may carry and still be redirected. Zero means 8.
	MaxRedirectHops int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger; nil means the Inbound's or Deliverer's.
	Logger *slog.Logger

	once     sync.Once
	cache    sieve.Cache
	state    SieveTracker
	lastMu   sync.Mutex
	last     map[string]sieveLast
	incMu    sync.Mutex
	incCache map[[32]byte]*list.Element
	incLRU   list.List
}

// Defaults of Sieve.
const (
	DefaultSieveMaxRedirects    = 4
	DefaultSieveMaxRedirectHops = 8
	// sieveIncludeTTL is how long a script that uses include is cached.
	sieveIncludeTTL = time.Minute
	// sieveIncludeCacheSize bounds the per-user cache of such scripts.
	sieveIncludeCacheSize = 1024
	// sieveLastSize bounds the users whose last script is remembered
	// (the map starts again when full).
	sieveLastSize = 4096
)

// SieveRedirectField is the header field a redirected message carries,
// naming the recipient whose script redirected it.
const SieveRedirectField = "X-Sieve-Redirected-From"

func (sv *Sieve) init() {
	sv.once.Do(func() {
		opts := sv.compileOptions("")
		opts.Loader = sieveGlobalOnly{sv.Global}
		sv.cache.Options = opts
		sv.state = sv.State
		if sv.state == nil {
			sv.state = &SieveState{}
		}
	})
}

func (sv *Sieve) compileOptions(name string) *sieve.Options {
	var o sieve.Options
	if sv.Options != nil {
		o = *sv.Options
	}
	o.Name, o.Loader = name, nil
	return &o
}

func (sv *Sieve) now() time.Time {
	if sv.Now != nil {
		return sv.Now()
	}
	return time.Now()
}

// sieveGlobalOnly loads :global includes only.
type sieveGlobalOnly struct{ global sieve.Loader }

func (g sieveGlobalOnly) LoadScript(ctx context.Context, loc sieve.Location, name string) ([]byte, error) {
	if loc == sieve.Global && g.global != nil {
		return g.global.LoadScript(ctx, loc, name)
	}
	return nil, fmt.Errorf("no %s script %q: %w", loc, name, sieve.ErrNotFound)
}

// sieveScriptGetter is the optional method of SieveScripts for personal
// includes.
type sieveScriptGetter interface {
	Get(ctx context.Context, user, name string) ([]byte, error)
}

// sieveUserLoader loads a user's includes.
type sieveUserLoader struct {
	sv   *Sieve
	user string
}

func (l sieveUserLoader) LoadScript(ctx context.Context, loc sieve.Location, name string) ([]byte, error) {
	if loc == sieve.Global {
		return sieveGlobalOnly{l.sv.Global}.LoadScript(ctx, loc, name)
	}
	g, ok := l.sv.Scripts.(sieveScriptGetter)
	if !ok {
		return nil, fmt.Errorf("no personal script %q: %w", name, sieve.ErrNotFound)
	}
	b, err := g.Get(ctx, l.user, name)
	if err != nil {
		// The store's "no such script" is not known here: any failure
		// counts as a missing script (an error unless :optional).
		return nil, fmt.Errorf("personal script %q: %v: %w", name, err, sieve.ErrNotFound)
	}
	return b, nil
}

// sieveLast is a user's script as last compiled.
type sieveLast struct {
	src []byte
	s   *sieve.Script
}

type sieveIncEntry struct {
	key [32]byte
	at  time.Time
	s   *sieve.Script
	err error
}

// compile returns the compiled form of a script of user (or of the
// administrator's, user ""): from the shared cache, or, for a user's
// script that uses include, from the per-user cache. slot names the
// script (the user's, or an administrator's) for a check that it did not
// change since last time, cheaper than hashing it.
func (sv *Sieve) compile(ctx context.Context, user, slot string, src []byte) (*sieve.Script, error) {
	sv.init()
	// Only scripts compiled through the shared cache (no include) are
	// remembered in last: look there first, cheaper than searching a
	// long script for "include".
	sv.lastMu.Lock()
	if e, ok := sv.last[slot]; ok && bytes.Equal(e.src, src) {
		sv.lastMu.Unlock()
		return e.s, nil
	}
	sv.lastMu.Unlock()
	if user == "" || !bytes.Contains(src, []byte("include")) {
		s, err := sv.cache.Compile(ctx, src)
		if err == nil {
			sv.lastMu.Lock()
			if sv.last == nil || len(sv.last) >= sieveLastSize {
				sv.last = make(map[string]sieveLast)
			}
			sv.last[slot] = sieveLast{src: bytes.Clone(src), s: s}
			sv.lastMu.Unlock()
		}
		return s, err
	}
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write(src)
	var key [32]byte
	h.Sum(key[:0])
	now := sv.now()
	sv.incMu.Lock()
	if e, ok := sv.incCache[key]; ok {
		ent := e.Value.(*sieveIncEntry)
		if now.Sub(ent.at) < sieveIncludeTTL && now.Sub(ent.at) >= 0 {
			sv.incLRU.MoveToFront(e)
			sv.incMu.Unlock()
			return ent.s, ent.err
		}
		sv.incLRU.Remove(e)
		delete(sv.incCache, key)
	}
	sv.incMu.Unlock()

	opts := sv.compileOptions("")
	opts.Loader = sieveUserLoader{sv, user}
	s, err := sieve.CompileContext(ctx, src, opts)
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	sv.incMu.Lock()
	defer sv.incMu.Unlock()
	if sv.incCache == nil {
		sv.incCache = make(map[[32]byte]*list.Element)
	}
	if _, ok := sv.incCache[key]; !ok {
		sv.incCache[key] = sv.incLRU.PushFront(&sieveIncEntry{key: key, at: now, s: s, err: err})
		for sv.incLRU.Len() > sieveIncludeCacheSize {
			old := sv.incLRU.Back()
			sv.incLRU.Remove(old)
			delete(sv.incCache, old.Value.(*sieveIncEntry).key)
		}
	}
	return s, err
}

// sieveScript is one script to run for a user.
type sieveScript struct {
	name string
	s    *sieve.Script
}

// scripts returns the compiled scripts to run for user, in order. A
// script that does not compile is left out and logged; a failure to read
// the user's script is returned.
func (sv *Sieve) scripts(ctx context.Context, user string, log *slog.Logger) ([]sieveScript, error) {
	var out []sieveScript
	add := func(owner, slot, name string, src []byte) {
		s, err := sv.compile(ctx, owner, slot, src)
		if err != nil {
			log.Warn("sieve script does not compile; skipped", "user", user, "script", name, "err", err)
			return
		}
		out = append(out, sieveScript{name: name, s: s})
	}
	for i, b := range sv.Before {
		add("", "\x00before"+strconv.Itoa(i), b.Name, b.Source)
	}
	if sv.Scripts != nil {
		name, src, err := sv.Scripts.Active(ctx, user)
		if err != nil {
			return nil, err
		}
		if src != nil {
			add(user, "u:"+user, name, src)
		}
	}
	for i, a := range sv.After {
		add("", "\x00after"+strconv.Itoa(i), a.Name, a.Source)
	}
	return out, nil
}

// sieveStorer is the part of mailbox.Store that fileinto :create and
// mailboxexists need.
type sieveStorer interface {
	User(ctx context.Context, name string) (mailbox.User, error)
}

// sieveMailboxChecker answers mailboxexists (RFC 5490) for one user.
type sieveMailboxChecker struct {
	st   sieveStorer
	user string
}

func (c sieveMailboxChecker) MailboxExists(ctx context.Context, name string) (bool, error) {
	if c.st == nil {
		return strings.EqualFold(name, mailbox.Inbox), nil
	}
	u, err := c.st.User(ctx, c.user)
	if err != nil {
		return false, err
	}
	if _, err := u.Status(ctx, name); err != nil {
		if errors.Is(err, mailbox.ErrNoSuchMailbox) || errors.Is(err, mailbox.ErrInvalidName) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// sieveDupView is one user's view of the State for the duplicate test.
type sieveDupView struct {
	st   SieveTracker
	user string
	now  time.Time
}

func (d sieveDupView) Seen(ctx context.Context, id string) (bool, error) {
	return d.st.Seen(ctx, d.user, "d:"+id, d.now)
}

// sieveVerdictScorer is spamtest's view of a message with a spam verdict:
// what the scorer says, or certainly spam if it did not test it.
type sieveVerdictScorer struct{ s sieve.Scorer }

func (v sieveVerdictScorer) Score(ctx context.Context, m *sieve.Message) (float64, bool, error) {
	if v.s != nil {
		if r, tested, err := v.s.Score(ctx, m); err != nil || tested {
			return r, tested, err
		}
	}
	return 1, true, nil
}
