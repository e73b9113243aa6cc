package pop3

import "math"

// maxArgs is the most arguments a command has (TOP msg n, APOP name digest,
// AUTH mechanism response); one more is kept to tell that there were too
// many.
const maxArgs = 2

// command is a parsed command line (RFC 1939 §3): a keyword and arguments
// separated by spaces.
type command struct {
	// name is the keyword, upper-cased, if it is one the server knows
	// (an entry of keywords), else "".
	name string
	// args are the arguments; a line with more than maxArgs has
	// maxArgs+1, the last holding the rest of the line.
	args []string
	// rest is everything after the keyword and the one space that follows
	// it, verbatim: PASS takes it whole, spaces included (RFC 1939 §7).
	rest string

	buf [maxArgs + 1]string
}

// keywords are the commands the server knows, and HTTP methods it hangs up
// on (a cross-protocol attack).
var keywords = [...]string{"USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "QUIT",
	"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL",
	"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"}

// parse parses line into c. It returns false for a line with a control
// character (a CR, LF, NUL, TAB or DEL inside a command is never valid: RFC
// 1939 §3 allows printable characters only); octets above 0x7F are let
// through for UTF-8 user names and passwords. The keyword is matched
// case-insensitively; known keywords come back as constants, so the common
// case allocates only the argument string.
func (c *command) parse(line []byte) bool {
	for _, b := range line {
		if b < ' ' || b == 0x7f {
			return false
		}
	}
	kw := line
	var rest []byte
	for i, b := range line {
		if b == ' ' {
			kw, rest = line[:i], line[i+1:]
			break
		}
	}
	c.name = ""
	var up [8]byte
	if len(kw) <= len(up) {
		for i, b := range kw {
			if 'a' <= b && b <= 'z' {
				b -= 'a' - 'A'
			}
			up[i] = b
		}
		for _, k := range keywords {
			if string(up[:len(kw)]) == k {
				c.name = k
				break
			}
		}
	}
	c.rest = string(rest)
	c.args = c.buf[:0]
	s := c.rest
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:] // be lenient with repeated spaces
			continue
		}
		if len(c.args) == maxArgs {
			c.args = append(c.args, s)
			break
		}
		i := 0
		for i < len(s) && s[i] != ' ' {
			i++
		}
		c.args = append(c.args, s[:i])
		s = s[i:]
	}
	return true
}

// parseNumber parses a message number or line count: decimal digits only,
// without sign (RFC 1939 §3). Values too large for an int32 come back as
// math.MaxInt32, which is beyond every maildrop and every message.
func parseNumber(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		if n < math.MaxInt32 {
			n = min(n*10+int(d-'0'), math.MaxInt32)
		}
	}
	return n, true
}
