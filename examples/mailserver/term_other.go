//go:build !linux

package main

import (
	"errors"
	"os"
)

// noEcho is implemented on Linux only; elsewhere the password is read as
// a line (and echoed if stdin is a terminal).
func noEcho(f *os.File) (restore func(), err error) {
	return nil, errors.New("not supported")
}
