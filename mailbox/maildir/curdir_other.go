//go:build !linux

package maildir

import "os"

// Elsewhere the files of cur/ are named by their paths.

func (f *folder) openCurDir() {}

func (f *folder) openCur(name, path string) (*os.File, error) { return openFile(path) }

func (f *folder) renameCur(from, to string) error { return rename(f.curPath(from), f.curPath(to)) }

func (f *folder) renameIntoCur(path, name string) error { return rename(path, f.curPath(name)) }

func (f *folder) removeCur(name string) error { return os.Remove(f.curPath(name)) }

func (f *folder) renamesCurZ(fn func(rename func(from, to []byte) error)) { fn(f.renameCurZ) }
