package sieve

// The grammar of RFC 5228 §8.2:
//
//	commands   = *command
//	command    = identifier arguments (";" / block)
//	block      = "{" commands "}"
//	arguments  = *argument [ test / test-list ]
//	argument   = string-list / number / tag
//	test       = identifier arguments
//	test-list  = "(" test *("," test) ")"
//	string-list = "[" string *("," string) "]" / string

type argKind uint8

const (
	aTag argKind = iota + 1
	aNumber
	aString // one string, not bracketed
	aList   // a bracketed string list
)

func (k argKind) String() string {
	switch k {
	case aTag:
		return "tagged argument"
	case aNumber:
		return "number"
	case aString:
		return "string"
	case aList:
		return "string list"
	}
	return "argument"
}

type argument struct {
	pos  Pos
	kind argKind
	tag  string
	num  uint64
	strs []string
}

// node is a command or a test as parsed, before checking.
type node struct {
	pos      Pos
	name     string
	args     []argument
	tests    []*node
	testList bool
	block    []*node
	hasBlock bool
}

type parser struct {
	lx    *lexer
	tok   token
	lim   *Limits
	depth int
}

func parse(src []byte, lim *Limits) ([]*node, *Error) {
	p := &parser{lx: newLexer(src), lim: lim}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errorf(p.tok.pos, "unexpected %s", p.tok.kind)
	}
	return cmds, nil
}

func (p *parser) advance() *Error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) commands() ([]*node, *Error) {
	var out []*node
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) enter(pos Pos) *Error {
	p.depth++
	if p.depth > p.lim.MaxNesting {
		return limitf(pos, "nesting is deeper than %d levels", p.lim.MaxNesting)
	}
	return nil
}

func (p *parser) command() (*node, *Error) {
	n := &node{pos: p.tok.pos, name: p.tok.s}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tSemi:
		if err := p.advance(); err != nil {
			return nil, err
		}
	case tLBrace:
		if err := p.enter(p.tok.pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.commands()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrace {
			return nil, errorf(p.tok.pos, "expected '}' or a command but found %s", p.tok.kind)
		}
		p.depth--
		if err := p.advance(); err != nil {
			return nil, err
		}
		n.block, n.hasBlock = block, true
	default:
		return nil, errorf(p.tok.pos, "expected ';' or '{' after %s command arguments but found %s", n.name, p.tok.kind)
	}
	return n, nil
}

func (p *parser) arguments(n *node) *Error {
	for {
		switch p.tok.kind {
		case tTag:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: aTag, tag: p.tok.s})
			if err := p.advance(); err != nil {
				return err
			}
		case tNumber:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: aNumber, num: p.tok.n})
			if err := p.advance(); err != nil {
				return err
			}
		case tString:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: aString, strs: []string{p.tok.s}})
			if err := p.advance(); err != nil {
				return err
			}
		case tLBracket:
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
		case tIdent:
			t, err := p.test()
			if err != nil {
				return err
			}
			n.tests = []*node{t}
			return nil
		case tLParen:
			tests, err := p.testList()
			if err != nil {
				return err
			}
			n.tests, n.testList = tests, true
			return nil
		default:
			return nil
		}
	}
}

func (p *parser) stringList() (argument, *Error) {
	a := argument{pos: p.tok.pos, kind: aList}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tString {
			return a, errorf(p.tok.pos, "expected string in string list but found %s", p.tok.kind)
		}
		if len(a.strs) >= p.lim.MaxStringList {
			return a, limitf(p.tok.pos, "string list has more than %d items", p.lim.MaxStringList)
		}
		a.strs = append(a.strs, p.tok.s)
		if err := p.advance(); err != nil {
			return a, err
		}
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return a, err
			}
		case tRBracket:
			return a, p.advance()
		default:
			return a, errorf(p.tok.pos, "expected ',' or ']' in string list but found %s", p.tok.kind)
		}
	}
}

func (p *parser) test() (*node, *Error) {
	if err := p.enter(p.tok.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n := &node{pos: p.tok.pos, name: p.tok.s}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) testList() ([]*node, *Error) {
	if err := p.enter(p.tok.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []*node
	for {
		if p.tok.kind != tIdent {
			return nil, errorf(p.tok.pos, "expected test but found %s", p.tok.kind)
		}
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tRParen:
			return out, p.advance()
		default:
			return nil, errorf(p.tok.pos, "expected ',' or ')' in test list but found %s", p.tok.kind)
		}
	}
}
