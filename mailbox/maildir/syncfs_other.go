//go:build !(linux && (amd64 || arm64))

package maildir

import (
	"errors"
	"os"
)

func syncFS(*os.File) error { return errors.ErrUnsupported }
