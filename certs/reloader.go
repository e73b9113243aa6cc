package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often, at most, a Reloader looks at its files
// during handshakes when ReloaderOptions.CheckInterval is zero.
const DefaultCheckInterval = time.Second

// ReloaderOptions configure a Reloader. The zero value (or nil) means the
// defaults.
type ReloaderOptions struct {
	// CheckInterval is the least time between two looks at the files'
	// modification times from GetCertificate. Zero means
	// DefaultCheckInterval (1 second); negative means never: the files
	// are read again only by Reload.
	CheckInterval time.Duration
	// Logger receives a line at Info for each certificate loaded (with its
	// names and expiry) and at Error for each pair that fails to load.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Reloader serves the certificate in a pair of PEM files (as
// tls.LoadX509KeyPair reads them: the certificate chain, leaf first, and
// an unencrypted PKCS #1, PKCS #8 or EC private key) and loads them again
// when they change. Make it with NewReloader; it is safe for concurrent
// use.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // UnixNano before which GetCertificate does not stat

	mu   sync.Mutex // serialises loads; guards seen
	seen stamp      // the files when last loaded or tried
}

// stamp identifies a version of the pair of files.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewReloader loads certFile and keyFile and returns a Reloader serving
// them, or the error that made the pair unusable. opts may be nil.
func NewReloader(certFile, keyFile string, opts *ReloaderOptions) (*Reloader, error) {
	var o ReloaderOptions
	if opts != nil {
		o = *opts
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: o.CheckInterval, log: o.Logger}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	r.nextCheck.Store(time.Now().Add(r.interval).UnixNano())
	return r, nil
}

// GetCertificate returns the current certificate; its signature is that
// of tls.Config.GetCertificate. If the check interval has passed since the
// last look, it first checks whether the files changed and, if so, loads
// them; a failure to load is logged and the previous certificate returned.
// Only one handshake at a time does the check; the others meanwhile get the
// current certificate at once. The returned certificate must not be
// modified.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if r.interval > 0 {
		now := time.Now()
		if next := r.nextCheck.Load(); now.UnixNano() >= next &&
			r.nextCheck.CompareAndSwap(next, now.Add(r.interval).UnixNano()) {
			r.check()
		}
	}
	return r.cert.Load(), nil
}

// check loads the files if their stamp differs from the last one seen.
func (r *Reloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stat()
	if err != nil {
		// A file that is missing for a moment (being replaced by a rename)
		// is not worth a log line per second; Reload reports it.
		return
	}
	if st == r.seen {
		return
	}
	if err := r.loadLocked(st); err != nil {
		r.log.Error("certs: keeping the previous certificate", "cert", r.certFile, "key", r.keyFile, "err", err)
	}
}

// Reload reads the files now, whether or not they changed. On error the
// previous certificate stays in use, and the error (also logged) is
// returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stat()
	if err == nil {
		err = r.loadLocked(st)
	}
	if err != nil && r.cert.Load() != nil {
		r.log.Error("certs: keeping the previous certificate", "cert", r.certFile, "key", r.keyFile, "err", err)
	}
	return err
}

// Certificate returns the certificate being served (Leaf set), without
// checking the files. It must not be modified.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

func (r *Reloader) stat() (stamp, error) {
	cfi, err := os.Stat(r.certFile)
	if err != nil {
		return stamp{}, err
	}
	kfi, err := os.Stat(r.keyFile)
	if err != nil {
		return stamp{}, err
	}
	return stamp{cfi.ModTime(), kfi.ModTime(), cfi.Size(), kfi.Size()}, nil
}

// loadLocked loads the pair and, if it is good, serves it. st is the stamp
// taken before reading: should the files change while they are read, the
// next check sees a new stamp and loads them again. r.mu must be held.
func (r *Reloader) loadLocked(st stamp) error {
	r.seen = st // a bad pair is not tried again until the files change
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if cert.Leaf == nil { // set by LoadX509KeyPair unless x509keypairleaf=0
		return fmt.Errorf("certs: %s: no parsed leaf certificate", r.certFile)
	}
	r.cert.Store(&cert)
	r.log.Info("certs: certificate loaded", "cert", r.certFile, "names", cert.Leaf.DNSNames,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// ServerConfig returns a server tls.Config that gets its certificate from
// getCert (a Reloader's GetCertificate, autocert.Manager.GetCertificate, or
// any other) and accepts TLS 1.2 and 1.3 with Go's default cipher suites
// and curves. RFC 8314 §4.1 asks for TLS 1.2 or later; older clients are
// refused. The caller may change the config before the server starts.
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{GetCertificate: getCert, MinVersion: tls.VersionTLS12}
}
