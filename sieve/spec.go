package sieve

// The argument shapes of every command and test: which capability each
// needs, which tagged arguments it takes and which positional ones.

type argT uint8

const (
	atNone argT = iota
	atStr       // one string
	atList      // a string list (a single string is a list of one)
	atNum       // a number
)

func (t argT) String() string {
	switch t {
	case atStr:
		return "a string"
	case atList:
		return "a string list"
	case atNum:
		return "a number"
	}
	return "nothing"
}

type tagDef struct {
	arg   argT
	ext   string // capability needed for this tag, "" if none beyond the command's
	group string // tags of one group exclude each other
}

type def struct {
	exts  []string // one of these capabilities is needed; none for the base language
	test  bool
	tags  map[string]tagDef
	pos   []argT
	opt   int  // how many positional arguments may be left out
	lead  bool // the optional ones are the leading ones (setflag [var] flags)
	tests int  // 0 none, 1 one test, 2 a test list
	block bool
}

func tags(groups ...map[string]tagDef) map[string]tagDef {
	out := map[string]tagDef{}
	for _, g := range groups {
		for k, v := range g {
			out[k] = v
		}
	}
	return out
}

var (
	comparatorTags = map[string]tagDef{":comparator": {arg: atStr, group: "comparator"}}
	matchTags      = map[string]tagDef{
		":is":       {group: "match"},
		":contains": {group: "match"},
		":matches":  {group: "match"},
		":value":    {arg: atStr, ext: "relational", group: "match"},
		":count":    {arg: atStr, ext: "relational", group: "match"},
		":regex":    {ext: "regex", group: "match"},
	}
	addrTags = map[string]tagDef{
		":all":       {group: "addrpart"},
		":localpart": {group: "addrpart"},
		":domain":    {group: "addrpart"},
		":user":      {ext: "subaddress", group: "addrpart"},
		":detail":    {ext: "subaddress", group: "addrpart"},
	}
	indexTags = map[string]tagDef{
		":index": {arg: atNum, ext: "index", group: "index"},
		":last":  {ext: "index", group: "last"},
	}
)

// defs is read-only after package initialisation.
var defs = map[string]*def{
	// RFC 5228 §3: control.
	"require": {pos: []argT{atList}},
	"if":      {tests: 1, block: true},
	"elsif":   {tests: 1, block: true},
	"else":    {block: true},
	"stop":    {},
	// RFC 5228 §4: actions.
	"keep":     {tags: map[string]tagDef{":flags": {arg: atList, ext: "imap4flags"}}},
	"discard":  {},
	"redirect": {tags: map[string]tagDef{":copy": {ext: "copy"}}, pos: []argT{atStr}},
	"fileinto": {exts: []string{"fileinto"}, tags: map[string]tagDef{
		":copy":   {ext: "copy"},
		":flags":  {arg: atList, ext: "imap4flags"},
		":create": {ext: "mailbox"},
	}, pos: []argT{atStr}},
	// RFC 5429.
	"reject":  {exts: []string{"reject"}, pos: []argT{atStr}},
	"ereject": {exts: []string{"ereject"}, pos: []argT{atStr}},
	// RFC 5230, RFC 6131.
	"vacation": {exts: []string{"vacation"}, tags: map[string]tagDef{
		":days":      {arg: atNum, group: "period"},
		":seconds":   {arg: atNum, ext: "vacation-seconds", group: "period"},
		":subject":   {arg: atStr},
		":from":      {arg: atStr},
		":addresses": {arg: atList},
		":mime":      {},
		":handle":    {arg: atStr},
	}, pos: []argT{atStr}},
	// RFC 5232.
	"setflag":    {exts: []string{"imap4flags"}, pos: []argT{atStr, atList}, opt: 1, lead: true},
	"addflag":    {exts: []string{"imap4flags"}, pos: []argT{atStr, atList}, opt: 1, lead: true},
	"removeflag": {exts: []string{"imap4flags"}, pos: []argT{atStr, atList}, opt: 1, lead: true},
	// RFC 5229.
	"set": {exts: []string{"variables"}, tags: map[string]tagDef{
		":lower":         {group: "mod40"},
		":upper":         {group: "mod40"},
		":lowerfirst":    {group: "mod30"},
		":upperfirst":    {group: "mod30"},
		":quotewildcard": {group: "mod20"},
		":length":        {group: "mod10"},
	}, pos: []argT{atStr, atStr}},
	// RFC 5293.
	"addheader": {exts: []string{"editheader"}, tags: map[string]tagDef{":last": {}}, pos: []argT{atStr, atStr}},
	"deleteheader": {exts: []string{"editheader"}, tags: tags(comparatorTags, matchTags, map[string]tagDef{
		":index": {arg: atNum, group: "index"},
		":last":  {group: "last"},
	}), pos: []argT{atStr, atList}, opt: 1},
	// RFC 6609.
	"include": {exts: []string{"include"}, tags: map[string]tagDef{
		":personal": {group: "location"},
		":global":   {group: "location"},
		":once":     {},
		":optional": {},
	}, pos: []argT{atStr}},
	"return": {exts: []string{"include"}},
	"global": {exts: []string{"include"}, pos: []argT{atList}},

	// Tests, RFC 5228 §5.
	"address":  {test: true, tags: tags(comparatorTags, matchTags, addrTags, indexTags), pos: []argT{atList, atList}},
	"allof":    {test: true, tests: 2},
	"anyof":    {test: true, tests: 2},
	"not":      {test: true, tests: 1},
	"envelope": {exts: []string{"envelope"}, test: true, tags: tags(comparatorTags, matchTags, addrTags), pos: []argT{atList, atList}},
	"exists":   {test: true, pos: []argT{atList}},
	"false":    {test: true},
	"true":     {test: true},
	"header":   {test: true, tags: tags(comparatorTags, matchTags, indexTags), pos: []argT{atList, atList}},
	"size": {test: true, tags: map[string]tagDef{
		":over":  {arg: atNum, group: "size"},
		":under": {arg: atNum, group: "size"},
	}},
	// RFC 5173.
	"body": {exts: []string{"body"}, test: true, tags: tags(comparatorTags, matchTags, map[string]tagDef{
		":raw":     {group: "transform"},
		":content": {arg: atList, group: "transform"},
		":text":    {group: "transform"},
	}), pos: []argT{atList}},
	// RFC 5260.
	"date": {exts: []string{"date"}, test: true, tags: tags(comparatorTags, matchTags, indexTags, map[string]tagDef{
		":zone":         {arg: atStr, group: "zone"},
		":originalzone": {group: "zone"},
	}), pos: []argT{atStr, atStr, atList}},
	"currentdate": {exts: []string{"date"}, test: true, tags: tags(comparatorTags, matchTags, map[string]tagDef{
		":zone": {arg: atStr, group: "zone"},
	}), pos: []argT{atStr, atList}},
	// RFC 5229 §5.
	"string": {exts: []string{"variables"}, test: true, tags: tags(comparatorTags, matchTags), pos: []argT{atList, atList}},
	// RFC 5232 §4.
	"hasflag": {exts: []string{"imap4flags"}, test: true, tags: tags(comparatorTags, matchTags), pos: []argT{atList, atList}, opt: 1, lead: true},
	// RFC 5490 §3.1.
	"mailboxexists": {exts: []string{"mailbox"}, test: true, pos: []argT{atList}},
	// RFC 7352.
	"duplicate": {exts: []string{"duplicate"}, test: true, tags: map[string]tagDef{
		":handle":   {arg: atStr},
		":header":   {arg: atStr, group: "id"},
		":uniqueid": {arg: atStr, group: "id"},
		":seconds":  {arg: atNum},
		":last":     {},
	}},
	// RFC 5235.
	"spamtest": {exts: []string{"spamtest", "spamtestplus"}, test: true, tags: tags(comparatorTags, matchTags, map[string]tagDef{
		":percent": {ext: "spamtestplus"},
	}), pos: []argT{atStr}},
	"virustest": {exts: []string{"virustest"}, test: true, tags: tags(comparatorTags, matchTags), pos: []argT{atStr}},
}

// Extensions lists the capability strings this package implements, in the
// order a ManageSieve SIEVE capability line would list them.
func Extensions() []string {
	return []string{
		"fileinto", "reject", "ereject", "envelope", "encoded-character",
		"vacation", "vacation-seconds", "subaddress", "comparator-i;ascii-numeric",
		"relational", "regex", "imap4flags", "copy", "include", "body",
		"variables", "date", "index", "mailbox", "editheader", "duplicate",
		"spamtest", "spamtestplus", "virustest",
	}
}

var knownExt = func() map[string]bool {
	m := map[string]bool{"comparator-i;octet": true, "comparator-i;ascii-casemap": true}
	for _, e := range Extensions() {
		m[e] = true
	}
	return m
}()

// implied lists capabilities that requiring another one brings along.
var implied = map[string][]string{
	"vacation-seconds": {"vacation"},
	"spamtestplus":     {"spamtest"},
}

// Headers the address test accepts (RFC 5228 §5.1: headers that contain
// addresses). The list is Pigeonhole's.
var addressHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "sender": true,
	"resent-from": true, "resent-to": true, "reply-to": true,
	"resent-reply-to": true, "resent-sender": true, "resent-cc": true,
	"resent-bcc": true, "for-approval": true, "for-handling": true,
	"for-comment": true, "apparently-to": true, "errors-to": true,
	"delivered-to": true, "return-receipt-to": true, "x-admin": true,
	"read-receipt-to": true, "x-confirm-reading-to": true,
	"return-receipt-requested": true, "registered-mail-reply-requested-by": true,
	"mail-followup-to": true, "mail-reply-to": true, "abuse-reports-to": true,
	"x-complaints-to": true, "x-report-abuse-to": true, "x-beenthere": true,
}

var dateParts = map[string]bool{
	"year": true, "month": true, "day": true, "date": true, "julian": true,
	"hour": true, "minute": true, "second": true, "time": true,
	"iso8601": true, "std11": true, "zone": true, "weekday": true,
}
