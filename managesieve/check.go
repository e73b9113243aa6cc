package managesieve

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/postyard/postyard/sieve"
)

// check checks a script uploaded as name ("" for CHECKSCRIPT) with
// Server.Check, or package sieve. It answers a refused script itself and
// returns ok false; an accepted one is for the caller to answer.
func (c *conn) check(ctx context.Context, name string, script []byte) (warnings Warnings, ok bool) {
	var err error
	if c.s.Check != nil {
		err = c.callCheck(ctx, script)
	} else {
		err = c.s.compile(ctx, c.user, name, script)
	}
	if err == nil {
		return nil, true
	}
	if errors.As(err, &warnings) {
		return warnings, true
	}
	var list sieve.ErrorList
	var one *sieve.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = sieve.ErrorList{one}
	default:
		c.storeErr("checking the script", err)
		return nil, false
	}
	code := ""
	lines := make([]string, 0, len(list))
	for _, e := range list {
		if e.Err != nil && !errors.Is(e.Err, sieve.ErrLimit) {
			// An included script could not be loaded: a temporary
			// failure, whose cause is not for the client.
			c.logger().Error("checking the script", "err", e.Err)
			code = CodeTryLater
		}
		lines = append(lines, errorLine(e))
	}
	c.no(code, strings.Join(lines, "\r\n"))
	return nil, false
}

// errorLine formats a script error for the client, naming the line and
// column: `line 3, column 5: unknown command "fileinot"`, and the script
// first if the error is in an included one.
func errorLine(e *sieve.Error) string {
	var b strings.Builder
	if e.Script != "" {
		b.WriteString(e.Script)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Col)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// callCheck calls Server.Check, turning a panic into an error.
func (c *conn) callCheck(ctx context.Context, script []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("managesieve: panic in Check: %v", v)
		}
	}()
	return c.s.Check(ctx, c.user, script)
}

// compile is the default check: compiling the script with package sieve
// and Server.Sieve's options. Included personal scripts are loaded from
// the Store (the script itself, by its new name, is the one being
// uploaded); included scripts that do not exist yet, and global ones,
// which the Store does not hold, are taken as empty, with a warning.
func (s *Server) compile(ctx context.Context, user, name string, script []byte) error {
	var opts sieve.Options
	if s.Sieve != nil {
		opts = *s.Sieve
	}
	opts.Name = ""
	var warnings Warnings
	opts.Loader = sieve.LoaderFunc(func(ctx context.Context, loc sieve.Location, inc string) ([]byte, error) {
		if loc == sieve.Global {
			warnings = append(warnings, fmt.Sprintf("global script %q is not available here; it is checked when mail is delivered", inc))
			return []byte{}, nil
		}
		if inc == name {
			return script, nil
		}
		b, err := s.Store.Get(ctx, user, inc)
		if errors.Is(err, ErrNoSuchScript) || errors.Is(err, ErrInvalidName) {
			warnings = append(warnings, fmt.Sprintf("included script %q does not exist yet", inc))
			return []byte{}, nil
		}
		return b, err
	})
	if _, err := sieve.CompileContext(ctx, script, &opts); err != nil {
		return err
	}
	if len(warnings) > 0 {
		return warnings
	}
	return nil
}
