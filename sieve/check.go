package sieve

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// checker turns the parsed nodes of one script into statements, checking
// every command, test and argument against the capabilities the script
// requires (RFC 5228 §2.10.5: unknown or unrequired extensions are errors).
type checker struct {
	c    *compiler
	unit *unit
	caps map[string]bool
	errs ErrorList
	full bool // MaxErrors reached
	vars map[string]bool
}

type parsedArgs struct {
	tags  map[string]argument
	order []string
	pos   []argument
}

func (k *checker) errorf(p Pos, format string, args ...any) {
	if k.full {
		return
	}
	e := errorf(p, format, args...)
	e.Script = k.unit.displayName()
	k.errs = append(k.errs, e)
	if len(k.errs) >= k.c.lim.MaxErrors {
		k.full = true
	}
}

func (k *checker) has(ext string) bool { return k.caps[ext] }

// require handles the require commands at the start of a script and
// returns the rest.
func (k *checker) requires(nodes []*node) []*node {
	i := 0
	for ; i < len(nodes) && nodes[i].name == "require"; i++ {
		n := nodes[i]
		if len(n.args) != 1 || (n.args[0].kind != aString && n.args[0].kind != aList) || len(n.tests) > 0 || n.hasBlock {
			k.errorf(n.pos, "the require command expects a string list of capabilities")
			continue
		}
		for _, e := range n.args[0].strs {
			if !knownExt[e] || !k.c.enabled(e) {
				k.errorf(n.args[0].pos, "require command: unknown Sieve capability %q", e)
				continue
			}
			k.caps[e] = true
			for _, x := range implied[e] {
				k.caps[x] = true
			}
		}
	}
	return nodes[i:]
}

func (k *checker) commands(nodes []*node, top bool) []stmt {
	var out []stmt
	var lastIf *ifStmt
	for _, n := range nodes {
		if k.full {
			return out
		}
		switch n.name {
		case "require":
			k.errorf(n.pos, "require commands can only be placed at top level at the beginning of the file")
			continue
		case "elsif", "else":
			if lastIf == nil || lastIf.hasEls {
				k.errorf(n.pos, "the %s command must follow an if or elsif command", n.name)
				continue
			}
			if _, ok := k.args(n); !ok {
				continue
			}
			block := k.commands(n.block, false)
			if n.name == "else" {
				lastIf.els, lastIf.hasEls = block, true
				lastIf = nil
			} else {
				lastIf.conds = append(lastIf.conds, k.test(n.tests[0]))
				lastIf.blocks = append(lastIf.blocks, block)
			}
			continue
		}
		lastIf = nil
		s := k.command(n)
		if s == nil {
			continue
		}
		if is, ok := s.(*ifStmt); ok {
			lastIf = is
		}
		out = append(out, s)
	}
	return out
}

// args checks n's arguments against its definition.
func (k *checker) args(n *node) (parsedArgs, bool) {
	d := defs[n.name]
	what := "command"
	if d.test {
		what = "test"
	}
	pa := parsedArgs{tags: map[string]argument{}}
	groups := map[string]string{}
	ok := true
	args := n.args
	i := 0
	for ; i < len(args) && args[i].kind == aTag; i++ {
		a := args[i]
		td, known := d.tags[":"+a.tag]
		if known && td.ext != "" && !k.has(td.ext) {
			known = false
		}
		if !known {
			k.errorf(a.pos, "unknown tagged argument ':%s' for the %s %s", a.tag, n.name, what)
			return pa, false
		}
		name := ":" + a.tag
		if td.group != "" {
			if prev, dup := groups[td.group]; dup {
				k.errorf(a.pos, "%s and %s conflict for the %s %s", prev, name, n.name, what)
				return pa, false
			}
			groups[td.group] = name
		} else if _, dup := pa.tags[name]; dup {
			k.errorf(a.pos, "duplicate tagged argument %s for the %s %s", name, n.name, what)
			return pa, false
		}
		if td.arg != atNone {
			if i+1 >= len(args) || !argFits(args[i+1], td.arg) {
				k.errorf(a.pos, "the %s tag for the %s %s requires %s argument", name, n.name, what, td.arg)
				return pa, false
			}
			i++
			pa.tags[name] = args[i]
		} else {
			pa.tags[name] = a
		}
		pa.order = append(pa.order, name)
	}
	pos := args[i:]
	for _, a := range pos {
		if a.kind == aTag {
			k.errorf(a.pos, "unexpected tagged argument ':%s' among the positional arguments of the %s %s", a.tag, n.name, what)
			return pa, false
		}
	}
	if len(pos) > len(d.pos) || len(pos) < len(d.pos)-d.opt {
		k.errorf(n.pos, "the %s %s requires %d positional argument(s), but %d are specified", n.name, what, len(d.pos)-d.opt, len(pos))
		return pa, false
	}
	want := d.pos
	if missing := len(d.pos) - len(pos); missing > 0 {
		if d.lead {
			want = d.pos[missing:]
		} else {
			want = d.pos[:len(pos)]
		}
	}
	for j, a := range pos {
		if !argFits(a, want[j]) {
			k.errorf(a.pos, "the %s %s expects %s as argument %d, but %s was found", n.name, what, want[j], j+1, a.kind)
			ok = false
		}
	}
	pa.pos = pos
	switch d.tests {
	case 0:
		if len(n.tests) > 0 {
			k.errorf(n.pos, "the %s %s accepts no tests", n.name, what)
			ok = false
		}
	case 1:
		if len(n.tests) != 1 || n.testList {
			k.errorf(n.pos, "the %s %s requires one test", n.name, what)
			ok = false
		}
	case 2:
		if !n.testList {
			k.errorf(n.pos, "the %s test requires a list of sub-tests", n.name)
			ok = false
		}
	}
	if d.block && !n.hasBlock {
		k.errorf(n.pos, "the %s command requires a command block", n.name)
		ok = false
	}
	if !d.block && n.hasBlock {
		k.errorf(n.pos, "the %s command does not take a command block", n.name)
		ok = false
	}
	return pa, ok
}

func argFits(a argument, t argT) bool {
	switch t {
	case atStr:
		return a.kind == aString
	case atList:
		return a.kind == aString || a.kind == aList
	case atNum:
		return a.kind == aNumber
	}
	return false
}

func (k *checker) lookup(n *node, test bool) (*def, bool) {
	d, ok := defs[n.name]
	if !ok || d.test != test {
		return nil, false
	}
	if len(d.exts) == 0 {
		return d, true
	}
	for _, e := range d.exts {
		if k.has(e) {
			return d, true
		}
	}
	return nil, false
}

// str converts a raw string argument, applying encoded-character and
// variables.
func (k *checker) str(p Pos, s string) str {
	if k.has("encoded-character") {
		d, msg := decodeEncoded(s)
		if msg != "" {
			k.errorf(p, "%s", msg)
		} else {
			s = d
		}
	}
	if k.has("variables") {
		return str{lit: s, parts: parseTemplate(s, k.has("include"))}
	}
	return str{lit: s}
}

func (k *checker) list(a argument) strList {
	out := make(strList, len(a.strs))
	for i, s := range a.strs {
		out[i] = k.str(a.pos, s)
	}
	if len(out) > 0 && out.constant() {
		lits := make([]string, len(out))
		for i, s := range out {
			lits[i] = s.lit
		}
		out[0].lits = lits
	}
	return out
}

func (k *checker) command(n *node) stmt {
	if _, ok := k.lookup(n, false); !ok {
		k.errorf(n.pos, "unknown command '%s'", n.name)
		return nil
	}
	pa, ok := k.args(n)
	if !ok {
		return nil
	}
	b := base{n.pos}
	strArg := func(i int) str { return k.str(pa.pos[i].pos, pa.pos[i].strs[0]) }
	tagStr := func(t string) *str {
		a, ok := pa.tags[t]
		if !ok {
			return nil
		}
		s := k.str(a.pos, a.strs[0])
		return &s
	}
	has := func(t string) bool { _, ok := pa.tags[t]; return ok }
	switch n.name {
	case "if":
		block := k.commands(n.block, false)
		return &ifStmt{base: b, conds: []cond{k.test(n.tests[0])}, blocks: [][]stmt{block}}
	case "stop":
		return &stopStmt{b}
	case "return":
		return &returnStmt{b}
	case "keep":
		s := &keepStmt{base: b}
		if a, ok := pa.tags[":flags"]; ok {
			s.flags, s.hasFlags = k.list(a), true
		}
		return s
	case "discard":
		return &discardStmt{b}
	case "redirect":
		s := &redirectStmt{base: b, addr: strArg(0), copy: has(":copy")}
		if s.addr.constant() {
			if _, err := parseRedirectAddress(s.addr.lit); err != "" {
				k.errorf(pa.pos[0].pos, "specified redirect address '%s' is invalid: %s", short(s.addr.lit), err)
			}
		}
		return s
	case "fileinto":
		s := &fileintoStmt{base: b, mailbox: strArg(0), copy: has(":copy"), create: has(":create")}
		if a, ok := pa.tags[":flags"]; ok {
			s.flags, s.hasFlags = k.list(a), true
		}
		if s.mailbox.constant() && !utf8.ValidString(s.mailbox.lit) {
			k.errorf(pa.pos[0].pos, "invalid folder name specified for fileinto command (not UTF-8)")
		}
		return s
	case "reject", "ereject":
		return &rejectStmt{base: b, reason: strArg(0), ext: n.name == "ereject"}
	case "vacation":
		s := &vacationStmt{base: b, reason: strArg(0), mime: has(":mime")}
		if a, ok := pa.tags[":days"]; ok {
			s.period, s.hasPeriod = satMul(a.num, 86400), true
		}
		if a, ok := pa.tags[":seconds"]; ok {
			s.period, s.hasPeriod = a.num, true
		}
		s.subject, s.from, s.handle = tagStr(":subject"), tagStr(":from"), tagStr(":handle")
		if a, ok := pa.tags[":addresses"]; ok {
			s.addresses = k.list(a)
		}
		if s.from != nil && s.from.constant() {
			if _, err := parseRedirectAddress(s.from.lit); err != "" {
				k.errorf(pa.tags[":from"].pos, "specified :from address '%s' is invalid for vacation action: %s", short(s.from.lit), err)
			}
		}
		return s
	case "setflag", "addflag", "removeflag":
		s := &flagStmt{base: b, op: map[string]flagOp{"setflag": flagSet, "addflag": flagAdd, "removeflag": flagRemove}[n.name]}
		if len(pa.pos) == 2 {
			if !k.has("variables") {
				k.errorf(n.pos, "the %s command only allows for the specification of a variable name when the variables extension is active", n.name)
				return nil
			}
			v, ok := k.varName(pa.pos[0].pos, pa.pos[0].strs[0], false)
			if !ok {
				return nil
			}
			s.varName = &v
		}
		s.flags = k.list(pa.pos[len(pa.pos)-1])
		return s
	case "set":
		v, ok := k.varName(pa.pos[0].pos, pa.pos[0].strs[0], true)
		if !ok {
			return nil
		}
		s := &setStmt{base: b, v: v, val: strArg(1)}
		for _, t := range pa.order {
			s.mods = append(s.mods, map[string]modifier{
				":lower": modLower, ":upper": modUpper, ":lowerfirst": modLowerFirst,
				":upperfirst": modUpperFirst, ":quotewildcard": modQuoteWildcard,
				":length": modLength,
			}[t])
		}
		// RFC 5229 §4.1: higher precedence first.
		slices.SortStableFunc(s.mods, func(a, b modifier) int { return modPrec(b) - modPrec(a) })
		return s
	case "addheader":
		s := &addheaderStmt{base: b, last: has(":last"), name: strArg(0), value: strArg(1)}
		if s.name.constant() && !validFieldName(s.name.lit) {
			k.errorf(pa.pos[0].pos, "addheader command: specified field name `%s' is invalid", s.name.lit)
		}
		if s.value.constant() && !utf8.ValidString(s.value.lit) {
			k.errorf(pa.pos[1].pos, "addheader command: specified value is not UTF-8")
		}
		return s
	case "deleteheader":
		s := &deleteheaderStmt{base: b, name: strArg(0)}
		if _, ok := pa.tags[":index"]; !ok {
			// Pigeonhole accepts a lone :last here and ignores it.
			delete(pa.tags, ":last")
		}
		s.idx = k.index(n, pa)
		if len(pa.pos) == 2 {
			s.patterns, s.hasPats = k.list(pa.pos[1]), true
		}
		s.m = k.matcher(n, pa, s.patterns)
		if s.name.constant() && !validFieldName(s.name.lit) {
			k.errorf(pa.pos[0].pos, "deleteheader command: specified field name `%s' is invalid", s.name.lit)
		}
		return s
	case "include":
		return k.include(n, pa)
	case "global":
		if !k.has("variables") {
			k.errorf(n.pos, "global command requires that variables extension is active")
			return nil
		}
		s := &globalStmt{base: b}
		for _, name := range pa.pos[0].strs {
			if !isIdentifier(name) {
				k.errorf(pa.pos[0].pos, "invalid variable name '%s'", short(name))
				continue
			}
			s.names = append(s.names, strings.ToLower(name))
			k.unit.globals[strings.ToLower(name)] = true
		}
		return s
	}
	k.errorf(n.pos, "unknown command '%s'", n.name)
	return nil
}

func satMul(a, b uint64) uint64 {
	if a != 0 && a > (1<<64-1)/b {
		return 1<<64 - 1
	}
	return a * b
}

func modPrec(m modifier) int {
	switch m {
	case modLower, modUpper:
		return 40
	case modLowerFirst, modUpperFirst:
		return 30
	case modQuoteWildcard:
		return 20
	case modLength:
		return 10
	}
	return 0
}

// varName checks the name of a variable to assign to (RFC 5229 §4).
func (k *checker) varName(p Pos, name string, isSet bool) (varRef, bool) {
	if isNumeric(name) {
		k.errorf(p, "cannot assign to match variable")
		return varRef{}, false
	}
	lower := strings.ToLower(name)
	if dot := strings.IndexByte(lower, '.'); dot > 0 {
		if lower[:dot] == "global" && k.has("include") && isIdentifier(lower[dot+1:]) {
			return varRef{global: true, name: lower[dot+1:]}, true
		}
		k.errorf(p, "invalid variable name '%s'", short(name))
		return varRef{}, false
	}
	if !isIdentifier(name) {
		k.errorf(p, "invalid variable name '%s'", short(name))
		return varRef{}, false
	}
	if !k.vars[lower] {
		if len(k.vars) >= k.c.lim.MaxVariables {
			k.c.limitErr(k, p, "more than %d variables", k.c.lim.MaxVariables)
			return varRef{}, false
		}
		k.vars[lower] = true
	}
	return varRef{name: lower}, true
}

func (k *checker) index(n *node, pa parsedArgs) index {
	var idx index
	if a, ok := pa.tags[":index"]; ok {
		if a.num == 0 || a.num > 1<<31 {
			k.errorf(a.pos, "the :index tag requires a number greater than zero")
		}
		idx.n = int(min(a.num, 1<<31))
	}
	if a, ok := pa.tags[":last"]; ok {
		if idx.n == 0 {
			k.errorf(a.pos, "the :last tag for the %s %s requires the :index tag", n.name, kindOf(n))
		}
		idx.last = true
	}
	return idx
}

func kindOf(n *node) string {
	if defs[n.name] != nil && defs[n.name].test {
		return "test"
	}
	return "command"
}

// matcher reads the comparator and match type of n.
func (k *checker) matcher(n *node, pa parsedArgs, keys strList) matcher {
	m := matcher{cmp: cmpCasemap, mt: mtIs}
	if a, ok := pa.tags[":comparator"]; ok {
		switch name := a.strs[0]; name {
		case "i;octet":
			m.cmp = cmpOctet
		case "i;ascii-casemap":
			m.cmp = cmpCasemap
		case "i;ascii-numeric":
			if !k.has("comparator-i;ascii-numeric") {
				k.errorf(a.pos, "unknown comparator '%s'", short(name))
			}
			m.cmp = cmpNumeric
		default:
			k.errorf(a.pos, "unknown comparator '%s'", short(name))
		}
	}
	for _, t := range pa.order {
		switch t {
		case ":is":
			m.mt = mtIs
		case ":contains":
			m.mt = mtContains
		case ":matches":
			m.mt = mtMatches
		case ":regex":
			m.mt = mtRegex
		case ":value", ":count":
			m.mt = mtValue
			if t == ":count" {
				m.mt = mtCount
			}
			a := pa.tags[t]
			op, ok := map[string]relOp{"gt": relGT, "ge": relGE, "lt": relLT, "le": relLE, "eq": relEQ, "ne": relNE}[strings.ToLower(a.strs[0])]
			if !ok {
				k.errorf(a.pos, `the %s match-type requires a constant string argument being one of "gt", "ge", "lt", "le", "eq" or "ne", but "%s" was found`, t, a.strs[0])
			}
			m.rel = op
		}
	}
	if m.cmp == cmpNumeric && (m.mt == mtContains || m.mt == mtMatches || m.mt == mtRegex) {
		k.errorf(n.pos, "the specified i;ascii-numeric comparator does not support sub-string matching as required by the match type")
	}
	if m.mt == mtMatches && keys.constant() {
		for _, key := range keys {
			m.globs = append(m.globs, compileGlob(key.lit))
		}
	}
	if m.mt == mtRegex && keys.constant() {
		for _, key := range keys {
			re, err := compileRegex(key.lit, m.cmp, k.c.lim.MaxRegexLength)
			if errors.Is(err, ErrLimit) {
				k.c.limitErr(k, n.pos, "regular expression '%s' for regex match: %v", short(key.lit), err)
				continue
			}
			if err != nil {
				k.errorf(n.pos, "invalid regular expression '%s' for regex match: %v", short(key.lit), err)
				continue
			}
			m.re = append(m.re, re)
		}
	}
	return m
}

func (k *checker) addrPart(pa parsedArgs) addrPart {
	for _, t := range pa.order {
		switch t {
		case ":all":
			return apAll
		case ":localpart":
			return apLocal
		case ":domain":
			return apDomain
		case ":user":
			return apUser
		case ":detail":
			return apDetail
		}
	}
	return apAll
}

func (k *checker) test(n *node) cond {
	if _, ok := k.lookup(n, true); !ok {
		k.errorf(n.pos, "unknown test '%s'", n.name)
		return &constCond{base: base{n.pos}}
	}
	pa, ok := k.args(n)
	if !ok {
		return &constCond{base: base{n.pos}}
	}
	b := base{n.pos}
	list := func(i int) strList { return k.list(pa.pos[i]) }
	has := func(t string) bool { _, ok := pa.tags[t]; return ok }
	switch n.name {
	case "true", "false":
		return &constCond{base: b, v: n.name == "true"}
	case "not":
		return &notCond{base: b, c: k.test(n.tests[0])}
	case "allof", "anyof":
		c := &listCond{base: b, all: n.name == "allof"}
		for _, t := range n.tests {
			c.cs = append(c.cs, k.test(t))
		}
		return c
	case "address":
		c := &addressCond{base: b, part: k.addrPart(pa), idx: k.index(n, pa), headers: list(0), keys: list(1)}
		c.m = k.matcher(n, pa, c.keys)
		for _, h := range c.headers {
			if h.constant() && !addressHeaders[strings.ToLower(h.lit)] {
				k.errorf(pa.pos[0].pos, "specified header '%s' is not allowed for the address test", short(h.lit))
			}
		}
		return c
	case "envelope":
		c := &envelopeCond{base: b, part: k.addrPart(pa), parts: list(0), keys: list(1)}
		c.m = k.matcher(n, pa, c.keys)
		for _, p := range c.parts {
			if p.constant() {
				switch strings.ToLower(p.lit) {
				case "from", "to", "auth":
				default:
					k.errorf(pa.pos[0].pos, "specified envelope part '%s' is not supported by the envelope test", short(p.lit))
				}
			}
		}
		return c
	case "header":
		c := &headerCond{base: b, idx: k.index(n, pa), headers: list(0), keys: list(1)}
		c.m = k.matcher(n, pa, c.keys)
		return c
	case "exists":
		return &existsCond{base: b, headers: list(0)}
	case "size":
		c := &sizeCond{base: b}
		if a, ok := pa.tags[":over"]; ok {
			c.over, c.n = true, a.num
		} else if a, ok := pa.tags[":under"]; ok {
			c.n = a.num
		} else {
			k.errorf(n.pos, "the size test requires either the :under or the :over tag to be specified")
		}
		return c
	case "body":
		c := &bodyCond{base: b, keys: list(0)}
		c.m = k.matcher(n, pa, c.keys)
		switch {
		case has(":raw"):
			c.tr = btRaw
		case has(":content"):
			c.tr = btContent
			c.types = k.list(pa.tags[":content"])
		}
		return c
	case "date", "currentdate":
		c := &dateCond{base: b, current: n.name == "currentdate"}
		i := 0
		if !c.current {
			c.header = k.str(pa.pos[0].pos, pa.pos[0].strs[0])
			c.idx = k.index(n, pa)
			i = 1
		}
		c.part = k.str(pa.pos[i].pos, pa.pos[i].strs[0])
		c.keys = list(i + 1)
		c.m = k.matcher(n, pa, c.keys)
		if a, ok := pa.tags[":zone"]; ok {
			z := k.str(a.pos, a.strs[0])
			c.zone = &z
		}
		c.origZone = has(":originalzone")
		return c
	case "string":
		c := &stringCond{base: b, sources: list(0), keys: list(1)}
		c.m = k.matcher(n, pa, c.keys)
		return c
	case "hasflag":
		c := &hasflagCond{base: b}
		if len(pa.pos) == 2 {
			if !k.has("variables") {
				k.errorf(n.pos, "the hasflag test only allows for the specification of a variable name when the variables extension is active")
			}
			for _, name := range pa.pos[0].strs {
				v, ok := k.varName(pa.pos[0].pos, name, false)
				if ok {
					c.vars = append(c.vars, v)
				}
			}
		}
		c.flags = list(len(pa.pos) - 1)
		c.m = k.matcher(n, pa, c.flags)
		return c
	case "mailboxexists":
		return &mailboxexistsCond{base: b, names: list(0)}
	case "duplicate":
		c := &duplicateCond{base: b, last: has(":last")}
		c.handle = k.tagStr(pa, ":handle")
		c.header = k.tagStr(pa, ":header")
		c.uniqueid = k.tagStr(pa, ":uniqueid")
		if a, ok := pa.tags[":seconds"]; ok {
			c.period, c.hasPeriod = a.num, true
		}
		return c
	case "spamtest", "virustest":
		c := &spamtestCond{base: b, virus: n.name == "virustest", percent: has(":percent")}
		c.value = k.str(pa.pos[0].pos, pa.pos[0].strs[0])
		c.m = k.matcher(n, pa, strList{c.value})
		return c
	}
	k.errorf(n.pos, "unknown test '%s'", n.name)
	return &constCond{base: b}
}

func (k *checker) tagStr(pa parsedArgs, t string) *str {
	a, ok := pa.tags[t]
	if !ok {
		return nil
	}
	s := k.str(a.pos, a.strs[0])
	return &s
}

// validFieldName reports whether s is a header field name (RFC 5322
// §3.6.8: printable ASCII except colon).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

func compileRegex(pat string, cmp comparator, maxLen int) (*regexp.Regexp, error) {
	if len(pat) > maxLen {
		return nil, fmt.Errorf("pattern longer than %d bytes: %w", maxLen, ErrLimit)
	}
	// POSIX extended syntax in spirit: "." and bracket expressions match
	// line breaks, "^" and "$" anchor at the ends of the value, and the
	// match is leftmost-longest as regexec's.
	prefix := "(?s)"
	if cmp == cmpCasemap {
		prefix = "(?si)"
	}
	re, err := regexp.Compile(prefix + pat)
	if err != nil {
		return nil, err
	}
	re.Longest()
	return re, nil
}

// short abbreviates s for an error message.
func short(s string) string {
	if len(s) > 64 {
		return truncateUTF8(s, 60) + "..."
	}
	return s
}
