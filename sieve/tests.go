package sieve

import (
	"regexp"
	"strings"
)

// test evaluates a test.
func (ev *evaluator) test(c cond) (bool, error) {
	if err := ev.step(c.condPos()); err != nil {
		return false, err
	}
	switch c := c.(type) {
	case *constCond:
		return c.v, nil
	case *notCond:
		ok, err := ev.test(c.c)
		return !ok, err
	case *listCond:
		for _, sub := range c.cs {
			ok, err := ev.test(sub)
			if err != nil {
				return false, err
			}
			if ok != c.all {
				return ok, nil
			}
		}
		return c.all, nil
	case *headerCond:
		hs := ev.expandList(c.headers)
		var vals []string
		if len(hs) == 1 {
			vals = ev.headerValues(hs[0], c.idx) // matchValues only reads it
		} else {
			for _, h := range hs {
				vals = append(vals, ev.headerValues(h, c.idx)...)
			}
		}
		return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, true)
	case *addressCond:
		// vals is scratch space: matchValues only reads it, and no other
		// test runs meanwhile.
		vals := ev.scratch[:0]
		sep := ev.separator()
		for _, h := range ev.expandList(c.headers) {
			for _, v := range ev.headerValues(h, c.idx) {
				for _, a := range ev.addresses(v) {
					if p, ok := addressPart(a, c.part, sep); ok {
						vals = append(vals, p)
					}
				}
			}
		}
		ev.scratch = vals
		return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, true)
	case *envelopeCond:
		vals := ev.scratch[:0]
		for _, part := range ev.expandList(c.parts) {
			var k int
			switch strings.ToLower(part) {
			case "from":
				k = 0
				if ev.env.From == "" {
					// RFC 5228 §5.4: the null reverse-path matches "".
					vals = append(vals, "")
					continue
				}
			case "to":
				k = 1
			case "auth":
				k = 2
			default:
				continue
			}
			if p, ok := ev.envelopePart(k, c.part); ok {
				vals = append(vals, p)
			}
		}
		ev.scratch = vals
		return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, true)
	case *existsCond:
		for _, h := range ev.expandList(c.headers) {
			if !ev.hasHeader(h) {
				return false, nil
			}
		}
		return true, nil
	case *sizeCond:
		size := uint64(ev.msg.Size())
		if c.over {
			return size > c.n, nil
		}
		return size < c.n, nil
	case *bodyCond:
		vals := ev.msg.bodyValues(c.tr, ev.expandList(c.types))
		for _, v := range vals {
			ev.work += len(v)
		}
		return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, false)
	case *dateCond:
		return ev.date(c)
	case *stringCond:
		vals := ev.expandList(c.sources)
		if c.m.mt == mtCount {
			// RFC 5229 §5: only non-empty strings count.
			var ne []string
			for _, v := range vals {
				if v != "" {
					ne = append(ne, v)
				}
			}
			vals = ne
		}
		return ev.matchValues(c.pos, &c.m, vals, c.keys, nil, true)
	case *hasflagCond:
		var vals []string
		if len(c.vars) == 0 {
			vals = ev.flags
		} else {
			for _, v := range c.vars {
				vals = append(vals, strings.Fields(ev.getVar(v))...)
			}
		}
		keys := c.flags
		if c.m.mt != mtCount && c.m.mt != mtRegex {
			// Each key may hold several flags (RFC 5232 §4).
			var split strList
			for _, k := range ev.expandList(c.flags) {
				for _, f := range strings.Fields(k) {
					split = append(split, str{lit: f})
				}
			}
			keys = split
		}
		return ev.matchValues(c.pos, &c.m, vals, keys, nil, true)
	case *mailboxexistsCond:
		for _, name := range ev.expandList(c.names) {
			if ev.opts.Mailboxes == nil {
				return false, nil
			}
			ok, err := ev.opts.Mailboxes.MailboxExists(ev.ctx, name)
			if err != nil {
				e := ev.errorf(c.pos, "mailboxexists: cannot check mailbox")
				e.Err = err
				return false, e
			}
			if !ok {
				return false, nil
			}
		}
		return true, nil
	case *duplicateCond:
		return ev.duplicate(c)
	case *spamtestCond:
		return ev.spamtest(c)
	}
	return false, nil
}

// envelopePart returns part of envelope address k (0 from, 1 to, 2 auth),
// parsed once per evaluation.
func (ev *evaluator) envelopePart(k int, part addrPart) (string, bool) {
	e := &ev.envCache[k]
	if !e.set {
		var v string
		switch k {
		case 0:
			v = ev.env.From
		case 1:
			v = ev.env.To
		case 2:
			v = ev.env.Auth
		}
		e.set, e.empty = true, v == ""
		if !e.empty {
			a, ok := parseAddrSpec(strings.Trim(v, "<>"))
			if !ok {
				a = mailAddr{raw: v}
			}
			e.addr = a
		}
	}
	if e.empty {
		return "", false
	}
	if part == apAll {
		if e.all == nil {
			all := e.addr.all()
			e.all = &all
		}
		return *e.all, true
	}
	return addressPart(e.addr, part, ev.separator())
}

func (ev *evaluator) separator() string {
	if ev.opts.Separator != "" {
		return ev.opts.Separator
	}
	return "+"
}

func (ev *evaluator) hasHeader(name string) bool {
	for _, f := range ev.header {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// addresses returns parseAddressList(v), parsed once per evaluation: a
// script with many address tests on the same field parses it once.
func (ev *evaluator) addresses(v string) []mailAddr {
	if a, ok := ev.addrCache[v]; ok {
		return a
	}
	a := parseAddressList(v)
	if ev.addrCache == nil {
		ev.addrCache = map[string][]mailAddr{}
	}
	if len(ev.addrCache) < 64 {
		ev.addrCache[v] = a
	}
	return a
}

// headerValues returns the decoded values of the fields named name,
// selected by :index (RFC 5260 §6).
func (ev *evaluator) headerValues(name string, idx index) []string {
	key := lowerASCII(name)
	vals, ok := ev.hdrCache[key]
	if !ok {
		vals = ev.header.Values(name)
		if ev.hdrCache == nil {
			ev.hdrCache = map[string][]string{}
		}
		ev.hdrCache[key] = vals
	}
	if idx.n == 0 {
		return vals
	}
	k := idx.n - 1
	if idx.last {
		k = len(vals) - idx.n
	}
	if k < 0 || k >= len(vals) {
		return nil
	}
	return vals[k : k+1]
}

// matchValues compares values against keys with the matcher and sets the
// match variables on success (RFC 5229 §3.2). keys are expanded unless
// expanded is given. countAll counts values for :count as given.
func (ev *evaluator) matchValues(p Pos, m *matcher, vals []string, keys strList, expanded []string, _ bool) (bool, error) {
	if expanded == nil {
		expanded = ev.expandList(keys)
	}
	switch m.mt {
	case mtCount:
		n := itoa(len(vals))
		for _, k := range expanded {
			if err := ev.step(p); err != nil {
				return false, err
			}
			if m.rel.holds(m.cmp.compare(n, k)) {
				return true, nil
			}
		}
		return false, nil
	case mtValue:
		for _, v := range vals {
			for _, k := range expanded {
				if err := ev.step(p); err != nil {
					return false, err
				}
				if m.rel.holds(m.cmp.compare(v, k)) {
					return true, nil
				}
			}
		}
		return false, nil
	case mtIs, mtContains:
		for _, v := range vals {
			for _, k := range expanded {
				if err := ev.step(p); err != nil {
					return false, err
				}
				if m.mt == mtIs && m.cmp.equal(v, k) || m.mt == mtContains && m.cmp.contains(v, k) {
					return true, nil
				}
			}
		}
		return false, nil
	case mtMatches:
		globs := m.globs
		if globs == nil {
			globs = make([][]globTok, len(expanded))
			for i, k := range expanded {
				globs[i] = compileGlob(k)
			}
		}
		var caps []string
		for _, v := range vals {
			for i := range expanded {
				if err := ev.step(p); err != nil {
					return false, err
				}
				budget := (ev.lim.MaxSteps-ev.steps)*1024 + 1024
				if ev.lim.MaxSteps == unlimited {
					budget = unlimited
				}
				if glob(v, globs[i], m.cmp == cmpCasemap, &caps, &ev.work, budget) {
					ev.setMatch(caps)
					return true, nil
				}
				if ev.work > budget {
					e := ev.errorf(p, "evaluation takes more than %d steps", ev.lim.MaxSteps)
					e.Err = ErrLimit
					return false, e
				}
			}
		}
		return false, nil
	case mtRegex:
		res := m.re
		if res == nil {
			res = make([]*regexp.Regexp, 0, len(expanded))
			for _, k := range expanded {
				re, err := ev.regex(p, k, m.cmp)
				if err != nil {
					return false, err
				}
				res = append(res, re)
			}
		}
		for _, v := range vals {
			for _, re := range res {
				if err := ev.step(p); err != nil {
					return false, err
				}
				ev.work += len(v)
				if sm := re.FindStringSubmatch(v); sm != nil {
					ev.setMatch(sm)
					return true, nil
				}
			}
		}
		return false, nil
	}
	return false, nil
}

func (ev *evaluator) setMatch(caps []string) {
	if !ev.fr.u.caps["variables"] {
		return
	}
	n := min(len(caps), maxMatchIndex+1)
	out := make([]string, n)
	for i := 0; i < n; i++ {
		out[i] = truncateUTF8(caps[i], ev.lim.MaxVariableSize)
	}
	ev.fr.match = out
}

func (ev *evaluator) regex(p Pos, pat string, cmp comparator) (*regexp.Regexp, error) {
	key := string(rune('0'+cmp)) + pat
	if re, ok := ev.regexCache[key]; ok {
		return re, nil
	}
	re, err := compileRegex(pat, cmp, ev.lim.MaxRegexLength)
	if err != nil {
		e := ev.errorf(p, "invalid regular expression '%s': %v", short(pat), err)
		e.Err = err
		return nil, e
	}
	if ev.regexCache == nil {
		ev.regexCache = map[string]*regexp.Regexp{}
	}
	if len(ev.regexCache) < 64 {
		ev.regexCache[key] = re
	}
	return re, nil
}
