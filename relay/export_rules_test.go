package relay

import (
	"strings"
	"testing"
)

// RulesTestMessage spools raw as the Message a filter's Data gets, for
// the tests of the content rules; it is removed when the test ends.
func RulesTestMessage(tb testing.TB, raw string) *Message {
	tb.Helper()
	m, err := readMessage(strings.NewReader(raw), -1, "", DefaultMaxHeaderBytes, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}
