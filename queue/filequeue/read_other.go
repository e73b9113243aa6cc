//go:build !unix

package filequeue

import "os"

// readAt0 reads the start of the file name into buf and returns how much
// it read (all of buf, or the whole file if shorter) and the file's size.
func readAt0(name string, buf []byte) (int, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return readFileAt0(f, buf)
}
