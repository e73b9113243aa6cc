package sieve

import "regexp"

// The checked form of a script: what the checker produces from parsed
// nodes, and the interpreter runs. Every field is set at compile time and
// never written afterwards, so one tree serves concurrent evaluations.

// str is a string argument: a constant, or (with "variables") a template
// expanded at run time.
type str struct {
	lit   string
	parts []tplPart // nil: constant lit
	// lits, on the first element of a constant list the checker made,
	// holds the list's strings: expandList returns it without copying
	// (when its length still matches the list's).
	lits []string
}

func (s str) constant() bool { return s.parts == nil }

type tplKind uint8

const (
	tplLit tplKind = iota
	tplLocal
	tplGlobal
	tplMatch
)

type tplPart struct {
	kind tplKind
	lit  string // tplLit: the text; tplLocal/tplGlobal: variable name (lower case)
	idx  int    // tplMatch: match variable index
}

type strList []str

func (l strList) constant() bool {
	for _, s := range l {
		if !s.constant() {
			return false
		}
	}
	return true
}

// Comparators (RFC 4790 §9, RFC 5228 §2.7.3).
type comparator uint8

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default
	cmpOctet
	cmpNumeric
)

// Match types (RFC 5228 §2.7.1, RFC 5231, draft-ietf-sieve-regex).
type matchType uint8

const (
	mtIs matchType = iota
	mtContains
	mtMatches
	mtValue
	mtCount
	mtRegex
)

// Relational operators (RFC 5231 §4).
type relOp uint8

const (
	relGT relOp = iota + 1
	relGE
	relLT
	relLE
	relEQ
	relNE
)

type matcher struct {
	cmp comparator
	mt  matchType
	rel relOp
	// re holds the compiled keys of a :regex match whose keys are all
	// constant, in key order.
	re []*regexp.Regexp
	// globs holds the compiled keys of a :matches match whose keys are all
	// constant.
	globs [][]globTok
}

// Address parts (RFC 5228 §2.7.4, RFC 5233).
type addrPart uint8

const (
	apAll addrPart = iota
	apLocal
	apDomain
	apUser
	apDetail
)

type index struct {
	n    int // 0: no :index
	last bool
}

// Statements.
type stmt interface{ stmtPos() Pos }

type base struct{ pos Pos }

func (b base) stmtPos() Pos { return b.pos }

type ifStmt struct {
	base
	conds  []cond   // if, elsif...
	blocks [][]stmt // one per cond
	els    []stmt   // else block, nil if none
	hasEls bool
}

type stopStmt struct{ base }
type returnStmt struct{ base }

type keepStmt struct {
	base
	flags    strList
	hasFlags bool
}

type fileintoStmt struct {
	base
	mailbox  str
	flags    strList
	hasFlags bool
	copy     bool
	create   bool
}

type redirectStmt struct {
	base
	addr str
	copy bool
}

type discardStmt struct{ base }

type rejectStmt struct {
	base
	reason str
	ext    bool
}

type vacationStmt struct {
	base
	period    uint64 // seconds; 0: default
	hasPeriod bool
	subject   *str
	from      *str
	addresses strList
	mime      bool
	handle    *str
	reason    str
}

type flagOp uint8

const (
	flagSet flagOp = iota
	flagAdd
	flagRemove
)

type flagStmt struct {
	base
	op      flagOp
	varName *varRef // nil: the internal variable
	flags   strList
}

type varRef struct {
	global bool
	name   string // lower case
}

type modifier uint8

const (
	modLower modifier = iota + 1
	modUpper
	modLowerFirst
	modUpperFirst
	modQuoteWildcard
	modLength
)

type setStmt struct {
	base
	v    varRef
	mods []modifier // in application order
	val  str
}

type addheaderStmt struct {
	base
	last  bool
	name  str
	value str
}

type deleteheaderStmt struct {
	base
	idx      index
	m        matcher
	name     str
	patterns strList
	hasPats  bool
}

type includeStmt struct {
	base
	global   bool
	once     bool
	optional bool
	name     string
	unit     *unit // nil when optional and missing
}

type globalStmt struct {
	base
	names []string
}

// Tests.
type cond interface{ condPos() Pos }

func (b base) condPos() Pos { return b.pos }

type constCond struct {
	base
	v bool
}

type notCond struct {
	base
	c cond
}

type listCond struct {
	base
	all bool
	cs  []cond
}

type addressCond struct {
	base
	m       matcher
	part    addrPart
	idx     index
	headers strList
	keys    strList
}

type envelopeCond struct {
	base
	m     matcher
	part  addrPart
	parts strList
	keys  strList
}

type headerCond struct {
	base
	m       matcher
	idx     index
	headers strList
	keys    strList
}

type existsCond struct {
	base
	headers strList
}

type sizeCond struct {
	base
	over bool
	n    uint64
}

type bodyTransform uint8

const (
	btText bodyTransform = iota
	btRaw
	btContent
)

type bodyCond struct {
	base
	m     matcher
	tr    bodyTransform
	types strList
	keys  strList
}

type dateCond struct {
	base
	m        matcher
	zone     *str
	origZone bool
	idx      index
	header   str // empty for currentdate
	current  bool
	part     str
	keys     strList
}

type stringCond struct {
	base
	m       matcher
	sources strList
	keys    strList
}

type hasflagCond struct {
	base
	m     matcher
	vars  []varRef // empty: the internal variable
	flags strList
}

type mailboxexistsCond struct {
	base
	names strList
}

type duplicateCond struct {
	base
	handle    *str
	header    *str
	uniqueid  *str
	period    uint64 // seconds
	hasPeriod bool
	last      bool
}

type spamtestCond struct {
	base
	virus   bool
	percent bool
	m       matcher
	value   str
}
