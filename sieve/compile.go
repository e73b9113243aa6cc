package sieve

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"strings"
	"unicode/utf8"
)

// Options configure Compile. The zero value (or nil) enables every
// extension in Extensions, applies the default Limits and has no Loader.
type Options struct {
	// Name names the script in errors ("" for none).
	Name string
	// Extensions restricts the capabilities a script may require. Nil
	// means all of Extensions(); an empty non-nil slice allows none.
	Extensions []string
	// Limits bound compilation and evaluation; see Limits for the
	// defaults.
	Limits Limits
	// Loader loads the scripts named by include (RFC 6609). Included
	// scripts are loaded and compiled with the script that includes them,
	// so a compiled Script never does I/O. Nil: every include fails,
	// unless it is :optional.
	Loader Loader
}

// Location says where an included script lives (RFC 6609 §3.1).
type Location uint8

const (
	// Personal scripts belong to the user whose script is running.
	Personal Location = iota
	// Global scripts are shared by all users, managed by the administrator.
	Global
)

func (l Location) String() string {
	if l == Global {
		return "global"
	}
	return "personal"
}

// Loader loads included scripts. A script that does not exist is reported
// with an error for which errors.Is(err, fs.ErrNotExist) holds (ErrNotFound
// does). Implementations must be safe for concurrent use when Compile is
// called concurrently.
type Loader interface {
	LoadScript(ctx context.Context, loc Location, name string) ([]byte, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, loc Location, name string) ([]byte, error)

// LoadScript calls f.
func (f LoaderFunc) LoadScript(ctx context.Context, loc Location, name string) ([]byte, error) {
	return f(ctx, loc, name)
}

// ErrNotFound is what a Loader returns for a script that does not exist.
var ErrNotFound = fs.ErrNotExist

// Script is a compiled script. It is immutable: any number of goroutines
// may call Eval at once.
type Script struct {
	main *unit
	lim  Limits
	hash [32]byte
}

// Hash returns the SHA-256 of the main script's source.
func (s *Script) Hash() [32]byte { return s.hash }

type unit struct {
	name    string
	loc     Location
	main    bool
	body    []stmt
	globals map[string]bool
	caps    map[string]bool
}

func (u *unit) displayName() string {
	if u.main {
		return u.name
	}
	return u.loc.String() + " script " + u.name
}

type unitKey struct {
	loc  Location
	name string
}

type compiler struct {
	ctx     context.Context
	opts    *Options
	lim     Limits
	enabled func(string) bool
	units   map[unitKey]*unit
	stack   []unitKey
}

func (c *compiler) limitErr(k *checker, p Pos, format string, args ...any) {
	if k.full {
		return
	}
	e := limitf(p, format, args...)
	e.Script = k.unit.displayName()
	k.errs = append(k.errs, e)
	if len(k.errs) >= c.lim.MaxErrors {
		k.full = true
	}
}

// Compile parses and checks a script. The error, if any, is an ErrorList
// naming the line and column of each problem.
func Compile(src []byte, opts *Options) (*Script, error) {
	return CompileContext(context.Background(), src, opts)
}

// CompileContext is Compile with a context for the Loader.
func CompileContext(ctx context.Context, src []byte, opts *Options) (*Script, error) {
	if opts == nil {
		opts = &Options{}
	}
	c := &compiler{ctx: ctx, opts: opts, lim: opts.Limits.Resolved(), units: map[unitKey]*unit{}}
	if opts.Extensions == nil {
		c.enabled = func(string) bool { return true }
	} else {
		set := map[string]bool{"comparator-i;octet": true, "comparator-i;ascii-casemap": true}
		for _, e := range opts.Extensions {
			set[e] = true
		}
		c.enabled = func(e string) bool { return set[e] }
	}
	u := &unit{name: opts.Name, main: true}
	errs := c.compileUnit(u, src)
	if len(errs) > 0 {
		return nil, errs
	}
	return &Script{main: u, lim: c.lim, hash: sha256.Sum256(src)}, nil
}

func (c *compiler) compileUnit(u *unit, src []byte) ErrorList {
	u.globals = map[string]bool{}
	if len(src) > c.lim.MaxScriptSize {
		e := limitf(Pos{}, "script is larger than %d bytes", c.lim.MaxScriptSize)
		e.Script = u.displayName()
		return ErrorList{e}
	}
	nodes, perr := parse(src, &c.lim)
	if perr != nil {
		perr.Script = u.displayName()
		return ErrorList{perr}
	}
	k := &checker{c: c, unit: u, caps: map[string]bool{}, vars: map[string]bool{}}
	rest := k.requires(nodes)
	u.caps = k.caps
	u.body = k.commands(rest, true)
	return k.errs
}

// include resolves an include command at compile time (RFC 6609 §3.2).
func (k *checker) include(n *node, pa parsedArgs) stmt {
	a := pa.pos[0]
	name := a.strs[0]
	if k.has("encoded-character") {
		if d, msg := decodeEncoded(name); msg == "" {
			name = d
		}
	}
	s := &includeStmt{base: base{n.pos}, name: name}
	_, s.global = pa.tags[":global"]
	_, s.once = pa.tags[":once"]
	_, s.optional = pa.tags[":optional"]
	if name == "" || strings.ContainsAny(name, "/\x00\r\n") || !utf8.ValidString(name) || strings.Contains(name, "${") {
		k.errorf(a.pos, "include: invalid script name '%s'", short(name))
		return nil
	}
	c := k.c
	loc := Personal
	if s.global {
		loc = Global
	}
	key := unitKey{loc, name}
	for _, sk := range c.stack {
		if sk == key {
			k.errorf(n.pos, "include: circular include of %s script '%s'", loc, short(name))
			return nil
		}
	}
	if u, ok := c.units[key]; ok {
		s.unit = u
		return s
	}
	if len(c.stack)+1 > c.lim.MaxIncludeDepth {
		c.limitErr(k, n.pos, "include: nesting is deeper than %d scripts", c.lim.MaxIncludeDepth)
		return nil
	}
	if len(c.units)+1 > c.lim.MaxIncludes {
		c.limitErr(k, n.pos, "include: more than %d included scripts", c.lim.MaxIncludes)
		return nil
	}
	var src []byte
	var err error
	if c.opts.Loader == nil {
		err = ErrNotFound
	} else {
		src, err = c.opts.Loader.LoadScript(c.ctx, loc, name)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if s.optional {
				return s
			}
			k.errorf(n.pos, "include: %s script '%s' not found", loc, short(name))
			return nil
		}
		e := errorf(n.pos, "include: cannot load %s script '%s'", loc, short(name))
		e.Script, e.Err = k.unit.displayName(), err
		k.errs = append(k.errs, e)
		return nil
	}
	u := &unit{name: name, loc: loc}
	c.units[key] = u
	c.stack = append(c.stack, key)
	errs := c.compileUnit(u, src)
	c.stack = c.stack[:len(c.stack)-1]
	for _, e := range errs {
		if k.full {
			break
		}
		k.errs = append(k.errs, e)
		if len(k.errs) >= c.lim.MaxErrors {
			k.full = true
		}
	}
	if len(errs) > 0 {
		return nil
	}
	s.unit = u
	return s
}
