package dnsmx

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// STSMode is an MTA-STS policy mode (RFC 8461 §3.2, §5).
type STSMode string

// The MTA-STS modes.
const (
	// STSEnforce: deliver only to MX hosts that match the policy, over TLS
	// with a valid certificate (RFC 8461 §5).
	STSEnforce STSMode = "enforce"
	// STSTesting: check as for enforce, report failures (RFC 8460), but
	// deliver anyway.
	STSTesting STSMode = "testing"
	// STSNone: the domain has withdrawn its policy.
	STSNone STSMode = "none"
)

// MaxPolicySize bounds an MTA-STS policy body, fetched or parsed (RFC 8461
// §3.3 suggests 64 KiB).
const MaxPolicySize = 64 << 10

// maxPolicyAge is the largest max_age, one year (RFC 8461 §3.2); larger
// values are lowered to it.
const maxPolicyAge = 31557600 * time.Second

// STSPolicy is an MTA-STS policy (RFC 8461 §3.2). Policies returned by
// [STS.Lookup] are shared: treat them as read-only.
type STSPolicy struct {
	Mode   STSMode
	MX     []string      // allowed MX host patterns, lower case: "mx.example.com" or "*.example.net"
	MaxAge time.Duration // how long the policy may be cached, at most a year
	ID     string        // the id of the TXT record it was fetched for; "" from ParseSTSPolicy
}

// ParseSTSPolicy parses a policy body (RFC 8461 §3.2): "key: value" lines
// ending in LF or CRLF. version ("STSv1"), mode and max_age are required,
// and mx (one or more) unless mode is none. Unknown keys are ignored; of a
// repeated key other than mx the first counts. Blank lines are skipped.
// Bodies larger than MaxPolicySize are refused.
func ParseSTSPolicy(body []byte) (*STSPolicy, error) {
	if len(body) > MaxPolicySize {
		return nil, malformed("MTA-STS policy", fmt.Errorf("larger than %d octets", MaxPolicySize))
	}
	if !utf8.Valid(body) {
		return nil, malformed("MTA-STS policy", errors.New("not UTF-8"))
	}
	p := &STSPolicy{}
	var version string
	var haveMaxAge bool
	for n := 1; len(body) > 0; n++ {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.Trim(line, " \t")) == 0 {
			continue
		}
		key, value, err := policyLine(string(line))
		if err != nil {
			return nil, malformed("MTA-STS policy", fmt.Errorf("line %d: %w", n, err))
		}
		switch {
		case key == "version" && version == "":
			version = value
		case key == "mode" && p.Mode == "":
			switch m := STSMode(value); m {
			case STSEnforce, STSTesting, STSNone:
				p.Mode = m
			default:
				return nil, malformed("MTA-STS policy", fmt.Errorf("line %d: unknown mode %q", n, value))
			}
		case key == "max_age" && !haveMaxAge:
			age, err := parseMaxAge(value)
			if err != nil {
				return nil, malformed("MTA-STS policy", fmt.Errorf("line %d: %w", n, err))
			}
			p.MaxAge, haveMaxAge = age, true
		case key == "mx":
			pattern, err := mxPattern(value)
			if err != nil {
				return nil, malformed("MTA-STS policy", fmt.Errorf("line %d: %w", n, err))
			}
			p.MX = append(p.MX, pattern)
		}
	}
	switch {
	case version != "STSv1":
		return nil, malformed("MTA-STS policy", fmt.Errorf("version %q, want STSv1", version))
	case p.Mode == "":
		return nil, malformed("MTA-STS policy", errors.New("no mode"))
	case !haveMaxAge:
		return nil, malformed("MTA-STS policy", errors.New("no max_age"))
	case len(p.MX) == 0 && p.Mode != STSNone:
		return nil, malformed("MTA-STS policy", errors.New("no mx"))
	}
	return p, nil
}

// policyLine splits `key ":" *WSP value *WSP`, with key an extension name
// and value `vchar [*(SP / vchar) vchar]`, vchar being printable ASCII or
// any non-ASCII UTF-8 (RFC 8461 §3.2).
func policyLine(line string) (key, value string, err error) {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", errors.New("no colon")
	}
	if !validFieldName(key) {
		return "", "", fmt.Errorf("bad key %q", key)
	}
	value = strings.Trim(value, " \t")
	if value == "" {
		return "", "", fmt.Errorf("empty value for %q", key)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f || c == '\t' {
			return "", "", fmt.Errorf("control character in value for %q", key)
		}
	}
	return key, value, nil
}

// parseMaxAge parses 1*10DIGIT seconds, capped at a year.
func parseMaxAge(s string) (time.Duration, error) {
	if len(s) > 10 || !allDigits(s) {
		return 0, fmt.Errorf("bad max_age %q", s)
	}
	n, _ := strconv.ParseUint(s, 10, 64) // at most 10 digits: fits
	if n > uint64(maxPolicyAge/time.Second) {
		return maxPolicyAge, nil
	}
	return time.Duration(n) * time.Second, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// mxPattern checks `["*."] Domain` and returns it in lower case, the domain
// part as A-labels.
func mxPattern(s string) (string, error) {
	wild, domain := "", s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		wild, domain = "*.", rest
	}
	n, err := normalize(domain)
	if err != nil || strings.Contains(n, "_") {
		return "", fmt.Errorf("bad mx pattern %q", s)
	}
	return wild + n, nil
}

// Match reports whether host (an MX target) is allowed by the policy's mx
// patterns (RFC 8461 §4.1): equal ignoring case and a trailing dot, or, for
// "*.example.com", exactly one label followed by ".example.com" (so not
// "example.com" nor "a.b.example.com").
func (p *STSPolicy) Match(host string) bool {
	h, err := normalize(host)
	if err != nil {
		return false
	}
	for _, pattern := range p.MX {
		if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
			label, rest, found := strings.Cut(h, ".")
			if found && label != "" && rest == suffix {
				return true
			}
		} else if h == pattern {
			return true
		}
	}
	return false
}
