package imap

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/postyard/postyard/mailbox"
)

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// create runs CREATE (RFC 9051 §6.3.4) with USE (RFC 6154 §3).
func (c *conn) create(ctx context.Context, cmd *command) error {
	if err := c.sc.SP(); err != nil {
		return err
	}
	raw, err := c.sc.AString()
	if err != nil {
		return err
	}
	// A trailing delimiter only says children will follow (RFC 9051 §6.3.4).
	if len(raw) > 1 && strings.HasSuffix(raw, "/") {
		raw = raw[:len(raw)-1]
	}
	name, err := c.decodeMailbox(raw)
	if err != nil {
		return err
	}
	var opts mailbox.CreateOptions
	if c.sc.Accept(' ') {
		err := c.sc.List(false, func() error {
			if !c.sc.AcceptFold("USE") {
				return bad("Unknown CREATE parameter")
			}
			if err := c.sc.SP(); err != nil {
				return err
			}
			return c.sc.List(true, func() error {
				if err := c.sc.Expect('\\'); err != nil {
					return err
				}
				a, err := c.sc.Atom()
				if err != nil {
					return err
				}
				u, ok := mailbox.ParseSpecialUse(`\` + a)
				if !ok || opts.SpecialUse != "" {
					return no("USEATTR", "Unsupported special-use attribute")
				}
				opts.SpecialUse = u
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if err := c.u.Create(ctx, name, &opts); err != nil {
		if opts.SpecialUse != "" && mailbox.AsError(err) == mailbox.ErrNotAllowed {
			return no("USEATTR", "Unsupported special-use attribute")
		}
		return err
	}
	return nil
}

func (c *conn) oneMailboxArg() (string, error) {
	name, err := c.spMailbox()
	if err != nil {
		return "", err
	}
	return name, c.sc.End()
}

// deleteCmd runs DELETE (RFC 9051 §6.3.5).
func (c *conn) deleteCmd(ctx context.Context, cmd *command) error {
	name, err := c.oneMailboxArg()
	if err != nil {
		return err
	}
	if c.sel != nil && c.sel.mbox.Name() == name {
		c.closeSelection()
	}
	return c.u.Delete(ctx, name)
}

// rename runs RENAME (RFC 9051 §6.3.6).
func (c *conn) rename(ctx context.Context, cmd *command) error {
	from, err := c.spMailbox()
	if err != nil {
		return err
	}
	to, err := c.spMailbox()
	if err != nil {
		return err
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	return c.u.Rename(ctx, from, to)
}

// subscribe runs SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8).
func (c *conn) subscribe(ctx context.Context, cmd *command) error {
	name, err := c.oneMailboxArg()
	if err != nil {
		return err
	}
	if cmd.name == "SUBSCRIBE" {
		return c.u.Subscribe(ctx, name)
	}
	return c.u.Unsubscribe(ctx, name)
}

// namespace runs NAMESPACE (RFC 2342): one personal namespace.
func (c *conn) namespace(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	c.untagged(`NAMESPACE (("" "/")) NIL NIL`)
	return nil
}

// statusItems are the STATUS data items (RFC 9051 §6.3.11, RFC 7162,
// RFC 8438, RFC 7889).
var statusItems = []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT", "APPENDLIMIT"}

func (c *conn) readStatusItems() ([]string, error) {
	var items []string
	err := c.sc.List(false, func() error {
		a, err := c.sc.Atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		if !contains(statusItems, a) {
			return bad("Unknown STATUS item")
		}
		items = append(items, a)
		return nil
	})
	return items, err
}

// status runs STATUS.
func (c *conn) status(ctx context.Context, cmd *command) error {
	name, err := c.spMailbox()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	items, err := c.readStatusItems()
	if err != nil {
		return err
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	return c.writeStatus(ctx, name, items)
}

func (c *conn) writeStatus(ctx context.Context, name string, items []string) error {
	st, err := c.u.Status(ctx, name)
	if err != nil {
		return err
	}
	r := c.newResp().raw("STATUS ")
	r.str(c.encodeMailbox(name)).raw(" (")
	for i, it := range items {
		if i > 0 {
			r.sp()
		}
		r.raw(it).sp()
		switch it {
		case "MESSAGES":
			r.num(uint64(st.Messages))
		case "UIDNEXT":
			r.num(uint64(st.UIDNext))
		case "UIDVALIDITY":
			r.num(uint64(st.UIDValidity))
		case "UNSEEN":
			r.num(uint64(st.Unseen))
		case "DELETED":
			r.num(uint64(st.Deleted))
		case "SIZE":
			r.num(uint64(st.Size))
		case "HIGHESTMODSEQ":
			c.condstore = true // RFC 7162 §3.1.2: a CONDSTORE-enabling command
			r.num(uint64(st.HighestModSeq))
		case "RECENT":
			r.num(0)
		case "APPENDLIMIT":
			r.num(uint64(c.maxMessage()))
		}
	}
	r.raw(")")
	c.endResp(r)
	return nil
}

// listOptions are LIST's selection and return options (RFC 5258, RFC
// 5819, RFC 6154).
type listOptions struct {
	subscribed bool // select SUBSCRIBED
	specialUse bool // select SPECIAL-USE
	retSubs    bool
	retSpecial bool
	retStatus  []string
	extended   bool
}

// list runs LIST (RFC 9051 §6.3.9, RFC 5258) and LSUB (RFC 3501 §6.3.9).
func (c *conn) list(ctx context.Context, cmd *command) error {
	lsub := cmd.name == "LSUB"
	var opts listOptions
	if err := c.sc.SP(); err != nil {
		return err
	}
	if !lsub && c.sc.Peek() == '(' {
		opts.extended = true
		err := c.sc.List(true, func() error {
			a, err := c.sc.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				opts.subscribed = true
			case "SPECIAL-USE":
				opts.specialUse = true
			case "REMOTE", "RECURSIVEMATCH":
			default:
				return bad("Unknown LIST selection option")
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	ref, err := c.sc.AString()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	var patterns []string
	readPattern := func() error {
		var p string
		var err error
		if c.sc.Peek() == '"' || c.sc.IsLiteral() {
			p, err = c.sc.String()
		} else {
			p = c.sc.Token("%*]")
			if p == "" {
				err = bad("Missing mailbox pattern")
			}
		}
		patterns = append(patterns, p)
		return err
	}
	if !lsub && c.sc.Peek() == '(' {
		opts.extended = true
		err = c.sc.List(false, readPattern)
	} else {
		err = readPattern()
	}
	if err != nil {
		return err
	}
	if !lsub && c.sc.Accept(' ') {
		if !c.sc.AcceptFold("RETURN ") {
			return bad("Expected RETURN")
		}
		err := c.sc.List(true, func() error {
			a, err := c.sc.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				opts.retSubs = true
			case "CHILDREN":
			case "SPECIAL-USE":
				opts.retSpecial = true
			case "STATUS":
				if err := c.sc.SP(); err != nil {
					return err
				}
				opts.retStatus, err = c.readStatusItems()
				return err
			default:
				return bad("Unknown LIST return option")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if len(patterns) == 1 && patterns[0] == "" && !lsub {
		// RFC 9051 §6.3.9: the delimiter and root.
		c.untagged(`LIST (\Noselect) "/" ""`)
		return nil
	}
	for i, p := range patterns {
		p = ref + p
		if len(p) > 1024 {
			return bad("Pattern too long")
		}
		if !c.utf8 {
			if dec, err := DecodeUTF7(p); err == nil {
				p = dec
			}
		}
		patterns[i] = p
	}
	return c.listMatches(ctx, lsub, &opts, patterns)
}

func (c *conn) listMatches(ctx context.Context, lsub bool, opts *listOptions, patterns []string) error {
	infos, err := c.u.List(ctx)
	if err != nil {
		return err
	}
	exists := make(map[string]*mailbox.MailboxInfo, len(infos))
	hasChildren := map[string]bool{}
	for i := range infos {
		exists[infos[i].Name] = &infos[i]
		name := infos[i].Name
		for j := len(name) - 1; j > 0; j-- {
			if name[j] == mailbox.Delimiter {
				hasChildren[name[:j]] = true
			}
		}
	}
	subs := map[string]bool{}
	var names []string
	if lsub || opts.subscribed {
		list, err := c.u.Subscriptions(ctx)
		if err != nil {
			return err
		}
		for _, n := range list {
			subs[n] = true
		}
		names = list
	} else {
		for _, in := range infos {
			names = append(names, in.Name)
			if in.Subscribed {
				subs[in.Name] = true
			}
		}
		// Parents that do not exist themselves (RFC 9051 §6.3.9).
		for p := range hasChildren {
			if exists[p] == nil {
				names = append(names, p)
			}
		}
		if opts.retSubs {
			list, err := c.u.Subscriptions(ctx)
			if err != nil {
				return err
			}
			for _, n := range list {
				subs[n] = true
			}
		}
	}
	sortStrings(names)
	verb := "LIST"
	if lsub {
		verb = "LSUB"
	}
	for _, name := range names {
		matched := false
		for _, p := range patterns {
			if matchPattern(p, name) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		info := exists[name]
		if info == nil && !lsub && !opts.subscribed && !parentOnlyMatch(patterns, name) {
			continue
		}
		var attrs []string
		if info == nil {
			if c.rev2 || opts.extended {
				attrs = append(attrs, `\NonExistent`)
			} else {
				attrs = append(attrs, `\Noselect`)
			}
		}
		if !lsub {
			if hasChildren[name] {
				attrs = append(attrs, `\HasChildren`)
			} else {
				attrs = append(attrs, `\HasNoChildren`)
			}
		}
		if subs[name] && (opts.subscribed || opts.retSubs || c.rev2) && !lsub {
			attrs = append(attrs, `\Subscribed`)
		}
		if info != nil && info.SpecialUse != "" && !lsub {
			attrs = append(attrs, string(info.SpecialUse))
		}
		if opts.specialUse && (info == nil || info.SpecialUse == "") {
			continue
		}
		r := c.newResp().raw(verb).raw(" (").raw(strings.Join(attrs, " ")).raw(`) "/" `)
		r.str(c.encodeMailbox(name))
		c.endResp(r)
		if len(opts.retStatus) > 0 && info != nil {
			if err := c.writeStatus(ctx, name, opts.retStatus); err != nil && mailbox.AsError(err) == nil {
				return err
			}
		}
	}
	return nil
}

// parentOnlyMatch reports whether a non-existent parent should be listed:
// when a pattern matches it but none of its children (as "%" does).
func parentOnlyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchPattern(p, name) && !matchPattern(p, name+"/x") {
			return true
		}
	}
	return false
}

// matchPattern matches a LIST pattern: "*" matches anything, "%" anything
// but the hierarchy delimiter (RFC 9051 §6.3.9). INBOX matches
// case-insensitively.
func matchPattern(pattern, name string) bool {
	if strings.EqualFold(name, mailbox.Inbox) && len(pattern) >= 5 && strings.EqualFold(pattern[:5], "INBOX") {
		pattern = "INBOX" + pattern[5:]
	}
	return globMatch(pattern, name)
}

// globMatch matches in O(len(p)*len(s)) time, whatever the pattern.
func globMatch(p, s string) bool {
	cur := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	cur[0] = true
	for k := 0; k < len(p); k++ {
		switch c := p[k]; c {
		case '*', '%':
			reach := false
			for i := 0; i <= len(s); i++ {
				if c == '%' && i > 0 && s[i-1] == mailbox.Delimiter {
					reach = false
				}
				reach = reach || cur[i]
				next[i] = reach
			}
		default:
			next[0] = false
			for i := 1; i <= len(s); i++ {
				next[i] = cur[i-1] && s[i-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(s)]
}

func sortStrings(s []string) { slices.Sort(s) }
