package imap

// ParseSeqSet exposes the sequence-set parser to the fuzz tests.
func ParseSeqSet(s string) error {
	_, err := parseSeqSet(s, DefaultMaxSeqSetRanges)
	return err
}
