package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/managesieve"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/sieve"
)

// This file sets up local delivery: the quarantine mailbox, Sieve with
// the scripts uploaded over ManageSieve, and the archive.

// junkStore is the mailbox store local delivery writes to: the Maildir
// store, which makes each user's quarantine mailbox (the \Junk
// special-use mailbox) the first time a copy goes there. It is still a
// mailbox.Store, as Sieve's fileinto :create needs.
type junkStore struct {
	*maildir.Store
	junk string
	made sync.Map // users whose quarantine mailbox exists
}

// Deliver implements mailbox.Deliverer.
func (s *junkStore) Deliver(ctx context.Context, r io.Reader, rcpts []mailbox.Recipient) ([]error, error) {
	for _, rc := range rcpts {
		if rc.Mailbox == s.junk {
			s.ensure(ctx, rc.User)
		}
	}
	return s.Store.Deliver(ctx, r, rcpts)
}

// ensure makes user's quarantine mailbox if it does not exist. Failures
// are left to Deliver, which then delivers to INBOX (relay's fallback).
func (s *junkStore) ensure(ctx context.Context, user string) {
	if _, ok := s.made.Load(user); ok {
		return
	}
	u, err := s.Store.User(ctx, user)
	if err != nil {
		return
	}
	err = u.Create(ctx, s.junk, &mailbox.CreateOptions{SpecialUse: mailbox.Junk})
	if errors.Is(err, mailbox.ErrNotAllowed) { // a \Junk mailbox exists under another name
		err = u.Create(ctx, s.junk, nil)
	}
	if err == nil || errors.Is(err, mailbox.ErrMailboxExists) {
		s.made.Store(user, true)
	}
}

// setupSieve opens the users' script store (DATA/sieve, served over
// ManageSieve) and returns the Sieve that runs the scripts at local
// delivery, with its vacation and duplicate state in DATA/sieve-state.
func (ms *mailServer) setupSieve(c *config, log *slog.Logger) (*relay.Sieve, error) {
	ms.sieve = &managesieve.DirStore{
		Root:  filepath.Join(ms.dataDir, "sieve"),
		Quota: managesieve.Quota{MaxScripts: c.Sieve.MaxScripts, MaxScriptSize: int64(c.Sieve.MaxScriptSize)},
	}
	sv := &relay.Sieve{
		Scripts:  ms.sieve,
		State:    &relay.SieveState{Dir: filepath.Join(ms.dataDir, "sieve-state")},
		Hostname: c.Hostname,
		Logger:   log,
	}
	load := func(files []string) ([]relay.SieveScript, error) {
		var out []relay.SieveScript
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("sieve: %w", err)
			}
			if _, err := sieve.Compile(src, &sieve.Options{Name: f}); err != nil {
				return nil, fmt.Errorf("sieve: %s: %w", f, err)
			}
			out = append(out, relay.SieveScript{Name: filepath.Base(f), Source: src})
		}
		return out, nil
	}
	var err error
	if sv.Before, err = load(c.Sieve.Before); err != nil {
		return nil, err
	}
	if sv.After, err = load(c.Sieve.After); err != nil {
		return nil, err
	}
	return sv, nil
}

// prepareArchive makes the archive mailbox, if the archive is one.
func (ms *mailServer) prepareArchive() error {
	a := ms.archive
	if a == nil || a.User == "" {
		return nil
	}
	ctx := context.Background()
	u, err := ms.store.User(ctx, a.User)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if a.Mailbox == "" || strings.EqualFold(a.Mailbox, mailbox.Inbox) {
		return nil
	}
	if err := u.Create(ctx, a.Mailbox, nil); err != nil && !errors.Is(err, mailbox.ErrMailboxExists) {
		return fmt.Errorf("archive: mailbox %q: %w", a.Mailbox, err)
	}
	return nil
}

// startArchive starts the sweeps of archived copies past their
// retention, every sweep_interval (default an hour).
func (ms *mailServer) startArchive(log *slog.Logger, interval time.Duration) {
	a := ms.archive
	if a == nil || a.User == "" || a.Retention <= 0 {
		return
	}
	interval = cmp.Or(interval, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx, ms.store, interval, log) })
	ms.stopArchive = func() { cancel(); wg.Wait() }
	log.Info("archive", "user", a.User, "mailbox", cmp.Or(a.Mailbox, mailbox.Inbox), "retention", a.Retention.String(), "sweep_interval", interval.String())
}
