package mailtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/smtp"
)

// stage is a point in the SMTP dialogue where a Fault can strike.
type stage int

const (
	stageConnect stage = iota
	stageGreeting
	stageEHLO
	stageAUTH
	stageMAIL
	stageRCPT
	stageDATA
)

var stageNames = [...]string{"connect", "greeting", "EHLO", "AUTH", "MAIL", "RCPT", "DATA"}

func (st stage) String() string { return stageNames[st] }

// A Fault makes the server misbehave at one stage of the SMTP dialogue,
// for the commands its matchers match. Build it with an On function and
// its methods, then install it with Server.Fault; a Fault must not be
// changed once installed. Without Reply, Disconnect or Hang, a Fault only
// delays (Delay) or does nothing.
//
// A matcher sees what is known at the stage: the sender at MAIL, the
// sender and the one recipient being added at RCPT, the whole message at
// DATA, the user name at AUTH and the HELO name at EHLO (see Match).
// Faults are tried in the order they were installed; the first
// that fires with a Reply, Disconnect or Hang decides the outcome.
type Fault struct {
	stage stage
	match []Matcher

	reply            bool
	code             int
	enhanced, text   string
	delay            time.Duration
	disconnect, hang bool
	times, every     int
	chance           float64
	rng              *rand.Rand
	mu               sync.Mutex // guards the counters and rng
	seen, fired      int
}

// OnConnect returns a Fault that strikes when a client connects, before
// anything is sent (before the TLS handshake on an implicit-TLS
// listener). A Reply is written raw and the connection closed. Matchers
// are ignored.
func OnConnect() *Fault { return &Fault{stage: stageConnect} }

// OnGreeting returns a Fault that strikes instead of, or before, the 220
// greeting (after the TLS handshake on an implicit-TLS listener). With a
// Reply the server sends it and closes the connection, as for a 554
// greeting (RFC 5321 §3.1). Matchers are ignored.
func OnGreeting() *Fault { return &Fault{stage: stageGreeting} }

// OnEHLO returns a Fault for HELO and EHLO. Matchers see Message.Hello.
func OnEHLO(match ...Matcher) *Fault { return &Fault{stage: stageEHLO, match: match} }

// OnAUTH returns a Fault for AUTH, applied when the credentials are
// checked. Matchers see Message.User (the user name given). The smtp
// package answers AUTH failures itself: a 5xx Reply becomes
// 535 5.7.8 and a 4xx one 454 4.7.0, whatever the code and text.
func OnAUTH(match ...Matcher) *Fault { return &Fault{stage: stageAUTH, match: match} }

// OnMAIL returns a Fault for MAIL FROM. Matchers see Message.From.
func OnMAIL(match ...Matcher) *Fault { return &Fault{stage: stageMAIL, match: match} }

// OnRCPT returns a Fault for RCPT TO. Matchers see Message.From and, in
// Message.To, the recipient of this command only.
func OnRCPT(match ...Matcher) *Fault { return &Fault{stage: stageRCPT, match: match} }

// OnDATA returns a Fault for the message content (DATA or BDAT), applied
// once the whole message has been read, so matchers see all of it. A
// message refused by a Fault is not recorded.
func OnDATA(match ...Matcher) *Fault { return &Fault{stage: stageDATA, match: match} }

// Reply makes the server answer with code, enhanced status code (RFC 3463,
// "" for a default from code) and text instead of going on.
func (f *Fault) Reply(code int, enhanced, text string) *Fault {
	f.reply, f.code, f.enhanced, f.text = true, code, enhanced, text
	return f
}

// Delay makes the server wait d before it goes on (or applies the rest of
// the Fault). The wait ends early when the server closes.
func (f *Fault) Delay(d time.Duration) *Fault {
	f.delay = d
	return f
}

// Disconnect makes the server close the connection without a reply.
func (f *Fault) Disconnect() *Fault {
	f.disconnect = true
	return f
}

// Hang makes the server stop answering: it keeps the connection open and
// sends nothing more until the Server closes, so that the client's own
// timeouts are what the test exercises.
func (f *Fault) Hang() *Fault {
	f.hang = true
	return f
}

// Times limits the Fault to its first n firings.
func (f *Fault) Times(n int) *Fault {
	f.times = n
	return f
}

// Every makes the Fault fire on every n-th matching command only (the
// n-th, 2n-th, ...).
func (f *Fault) Every(n int) *Fault {
	f.every = n
	return f
}

// Chance makes the Fault fire with probability p for each matching
// command, drawn from a generator seeded with seed: the same seed and the
// same sequence of commands give the same firings.
func (f *Fault) Chance(p float64, seed uint64) *Fault {
	f.chance = p
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return f
}

// Fired returns how many times the Fault has fired.
func (f *Fault) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// String describes the Fault, as in failure reports.
func (f *Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "On%s(%s)", f.stage, describe(f.match))
	if f.delay > 0 {
		fmt.Fprintf(&b, ".Delay(%v)", f.delay)
	}
	switch {
	case f.reply:
		fmt.Fprintf(&b, ".Reply(%d, %q, %q)", f.code, f.enhanced, f.text)
	case f.disconnect:
		b.WriteString(".Disconnect()")
	case f.hang:
		b.WriteString(".Hang()")
	}
	if f.times > 0 {
		fmt.Fprintf(&b, ".Times(%d)", f.times)
	}
	if f.every > 0 {
		fmt.Fprintf(&b, ".Every(%d)", f.every)
	}
	if f.rng != nil {
		fmt.Fprintf(&b, ".Chance(%g)", f.chance)
	}
	return b.String()
}

// fires reports whether the Fault strikes for m, and counts.
func (f *Fault) fires(m *Message) bool {
	if f.stage > stageGreeting && !matchAll(f.match, m) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	if f.every > 0 && f.seen%f.every != 0 {
		return false
	}
	if f.times > 0 && f.fired >= f.times {
		return false
	}
	if f.rng != nil && f.rng.Float64() >= f.chance {
		return false
	}
	f.fired++
	return true
}

// Fault installs faults, after those installed before.
func (s *Server) Fault(faults ...*Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// ClearFaults removes every installed fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// decide returns the fault that strikes at st for m, or nil. Delay-only
// faults that fire before it add their delays to a combined result.
func (s *Server) decide(st stage, m *Message) *Fault {
	s.mu.Lock()
	var fs []*Fault
	for _, f := range s.faults {
		if f.stage == st {
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	var delay time.Duration
	for _, f := range fs {
		if !f.fires(m) {
			continue
		}
		if f.reply || f.disconnect || f.hang {
			if delay == 0 {
				return f
			}
			g := f.snapshot()
			g.delay += delay
			return g
		}
		delay += f.delay
	}
	if delay > 0 {
		return &Fault{stage: st, delay: delay}
	}
	return nil
}

// snapshot copies the action of f (not its counters or lock).
func (f *Fault) snapshot() *Fault {
	return &Fault{stage: f.stage, match: f.match, reply: f.reply, code: f.code, enhanced: f.enhanced,
		text: f.text, delay: f.delay, disconnect: f.disconnect, hang: f.hang}
}

// errFault is what a session returns after dropping its connection.
var errFault = errors.New("mailtest: connection dropped by a fault")

// apply runs the fault for st and m, if one strikes, on connection c.
// It returns the error the session must return, nil to go on.
func (s *Server) apply(ctx context.Context, st stage, m *Message, c *tconn) error {
	f := s.decide(st, m)
	if f == nil {
		return nil
	}
	if c != nil {
		c.tr.add("-- fault: " + f.String())
	}
	if f.delay > 0 && !s.sleep(ctx, f.delay, c) {
		return errFault
	}
	switch {
	case f.disconnect:
		if c != nil {
			c.Close()
		}
		return errFault
	case f.hang:
		s.hang(ctx, c)
		if c != nil {
			c.Close()
		}
		return errFault
	case f.reply:
		return &smtp.Error{Code: f.code, EnhancedCode: f.enhanced, Message: f.text}
	}
	return nil
}

// sleep waits d, and reports false if the connection or server closed
// first. ctx and c may be nil.
func (s *Server) sleep(ctx context.Context, d time.Duration, c *tconn) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done(ctx):
	case <-closed(c):
	case <-s.ctx.Done():
	}
	return false
}

// hang waits until the connection or the server closes.
func (s *Server) hang(ctx context.Context, c *tconn) {
	select {
	case <-done(ctx):
	case <-closed(c):
	case <-s.ctx.Done():
	}
}

func done(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}

func closed(c *tconn) <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.closed
}
