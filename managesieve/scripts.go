package managesieve

import (
	"context"
	"strings"
)

// nameArg reads a script name argument, after its space. It returns the
// name in normalization form C, and ok false if it is not a valid name
// (the caller answers once the whole command is read).
func (c *conn) nameArg() (name string, ok bool, err error) {
	if err := c.sc.sp(); err != nil {
		return "", false, err
	}
	b, err := c.sc.str(int64(c.sc.maxLine))
	if err != nil {
		return "", false, err
	}
	name, ok = cleanName(string(b))
	return name, ok, nil
}

// scriptArg reads a script argument, after its space. A script over the
// size limit is skipped and answered with NO (QUOTA/MAXSIZE): ok is false.
func (c *conn) scriptArg() (script []byte, ok bool, err error) {
	if err := c.sc.sp(); err != nil {
		return nil, false, err
	}
	script, err = c.sc.str(c.s.maxScriptSize())
	if se, ok := err.(*syntaxError); ok && se.tooBig && !se.fatal {
		if err := c.sc.skip(); err != nil {
			return nil, false, err
		}
		c.no(CodeQuotaMaxSize, "Script too large")
		return nil, false, nil
	}
	return script, err == nil, err
}

// noSuchScript answers a command naming a script that cannot exist.
func (c *conn) noSuchScript() {
	c.no(CodeNonexistent, "There is no script by that name")
}

// haveSpace runs HAVESPACE (RFC 5804 §2.5).
func (c *conn) haveSpace(ctx context.Context) error {
	name, ok, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.sp(); err != nil {
		return c.syntax(err)
	}
	size, err := c.sc.number()
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	switch {
	case !ok:
		c.no("", "Invalid script name")
		return nil
	case size > c.s.maxScriptSize():
		c.no(CodeQuotaMaxSize, "Script too large")
		return nil
	}
	if err := c.s.Store.HaveSpace(ctx, c.user, name, size); err != nil {
		c.storeErr("HAVESPACE", err)
		return nil
	}
	c.ok("Putscript would succeed")
	return nil
}

// putScript runs PUTSCRIPT (RFC 5804 §2.6): the script is checked, then
// stored, replacing the one by that name, if any, atomically.
func (c *conn) putScript(ctx context.Context) error {
	name, nameOK, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	script, ok, err := c.scriptArg()
	if err != nil {
		return c.syntax(err)
	}
	if !ok {
		return nil
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if !nameOK {
		c.no("", "Invalid script name")
		return nil
	}
	warnings, ok := c.check(ctx, name, script)
	if !ok {
		return nil
	}
	if err := c.s.Store.Put(ctx, c.user, name, script); err != nil {
		c.storeErr("PUTSCRIPT", err)
		return nil
	}
	c.checked(warnings, "Putscript completed")
	return nil
}

// checked answers a script that passed its check, with the warnings if
// there are any.
func (c *conn) checked(warnings Warnings, text string) {
	if len(warnings) > 0 {
		c.respond("OK", CodeWarnings, strings.Join(warnings, "\r\n"))
		return
	}
	c.ok(text)
}

// checkScript runs CHECKSCRIPT (RFC 5804 §2.12).
func (c *conn) checkScript(ctx context.Context) error {
	script, ok, err := c.scriptArg()
	if err != nil {
		return c.syntax(err)
	}
	if !ok {
		return nil
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if warnings, ok := c.check(ctx, "", script); ok {
		c.checked(warnings, "Script is valid")
	}
	return nil
}

// listScripts runs LISTSCRIPTS (RFC 5804 §2.7).
func (c *conn) listScripts(ctx context.Context) error {
	if err := c.noArgs(); err != nil {
		return c.syntax(err)
	}
	list, err := c.s.Store.List(ctx, c.user)
	if err != nil {
		c.storeErr("LISTSCRIPTS", err)
		return nil
	}
	for _, s := range list {
		writeString(c.w, s.Name)
		if s.Active {
			c.w.WriteString(" ACTIVE")
		}
		c.w.WriteString("\r\n")
	}
	c.ok("Listscripts completed")
	return nil
}

// setActive runs SETACTIVE (RFC 5804 §2.8). The script is checked again
// before it is activated: the server's extensions or the scripts it
// includes may have changed since it was stored.
func (c *conn) setActive(ctx context.Context) error {
	if err := c.sc.sp(); err != nil {
		return c.syntax(err)
	}
	b, err := c.sc.str(int64(c.sc.maxLine))
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if len(b) == 0 {
		if err := c.s.Store.SetActive(ctx, c.user, ""); err != nil {
			c.storeErr("SETACTIVE", err)
			return nil
		}
		c.ok("No script is active")
		return nil
	}
	name, ok := cleanName(string(b))
	if !ok {
		c.noSuchScript()
		return nil
	}
	script, err := c.s.Store.Get(ctx, c.user, name)
	if err != nil {
		c.storeErr("SETACTIVE", err)
		return nil
	}
	if _, ok := c.check(ctx, name, script); !ok {
		return nil
	}
	if err := c.s.Store.SetActive(ctx, c.user, name); err != nil {
		c.storeErr("SETACTIVE", err)
		return nil
	}
	c.ok("Setactive completed")
	return nil
}

// getScript runs GETSCRIPT (RFC 5804 §2.9): the script as a literal.
func (c *conn) getScript(ctx context.Context) error {
	name, ok, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if !ok {
		c.noSuchScript()
		return nil
	}
	script, err := c.s.Store.Get(ctx, c.user, name)
	if err != nil {
		c.storeErr("GETSCRIPT", err)
		return nil
	}
	writeLiteral(c.w, script)
	c.w.WriteString("\r\n")
	c.ok("Getscript completed")
	return nil
}

// deleteScript runs DELETESCRIPT (RFC 5804 §2.10).
func (c *conn) deleteScript(ctx context.Context) error {
	name, ok, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if !ok {
		c.noSuchScript()
		return nil
	}
	if err := c.s.Store.Delete(ctx, c.user, name); err != nil {
		c.storeErr("DELETESCRIPT", err)
		return nil
	}
	c.ok("Deletescript completed")
	return nil
}

// renameScript runs RENAMESCRIPT (RFC 5804 §2.11).
func (c *conn) renameScript(ctx context.Context) error {
	oldName, oldOK, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	newName, newOK, err := c.nameArg()
	if err != nil {
		return c.syntax(err)
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	switch {
	case !oldOK:
		c.noSuchScript()
		return nil
	case !newOK:
		c.no("", "Invalid script name")
		return nil
	}
	if err := c.s.Store.Rename(ctx, c.user, oldName, newName); err != nil {
		c.storeErr("RENAMESCRIPT", err)
		return nil
	}
	c.ok("Renamescript completed")
	return nil
}
