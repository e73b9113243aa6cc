//go:build !(linux && (amd64 || arm64))

package maildir

import "os"

func writeBack(*os.File) (bool, error) { return false, nil }

func startWriteBack(*os.File) {}
