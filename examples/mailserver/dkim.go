package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/postyard/postyard/internal/atomicfile"
	"github.com/postyard/postyard/relay"
)

// setupDKIM loads (or, where the key file is missing, generates) the DKIM
// keys and logs, for each, the TXT record to publish. It returns nil when
// no key is configured.
func setupDKIM(keys []dkimConfig, dataDir string, log *slog.Logger) (*relay.DKIMSigner, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	s := &relay.DKIMSigner{}
	for _, k := range keys {
		domain := strings.ToLower(strings.TrimSuffix(k.Domain, "."))
		file := k.KeyFile
		if file == "" {
			file = filepath.Join(dataDir, "dkim", k.Selector+"."+domain+".key")
		}
		data, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			signer, err := relay.GenerateDKIMKey(relay.DKIMAlgorithm(cmp.Or(k.Algorithm, "rsa")))
			if err != nil {
				return nil, err
			}
			if data, err = relay.MarshalDKIMKey(signer); err != nil {
				return nil, err
			}
			if err := atomicfile.WriteFile(file, data, 0o600); err != nil {
				return nil, fmt.Errorf("dkim %s: %w", domain, err)
			}
			log.Info("made a DKIM key", "domain", domain, "selector", k.Selector, "file", file)
		} else if err != nil {
			return nil, fmt.Errorf("dkim %s: %w", domain, err)
		}
		signer, err := relay.ParseDKIMKey(data)
		if err != nil {
			return nil, fmt.Errorf("dkim %s: %s: %w", domain, file, err)
		}
		record, err := relay.DKIMRecord(signer)
		if err != nil {
			return nil, fmt.Errorf("dkim %s: %w", domain, err)
		}
		log.Info("dkim signing", "domain", domain, "selector", k.Selector,
			"publish", relay.DKIMRecordName(k.Selector, domain)+" TXT", "record", record)
		s.Keys = append(s.Keys, relay.DKIMKey{Domain: domain, Selector: k.Selector, Signer: signer})
	}
	return s, nil
}
