package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// DefaultSignedHeaders is the header set DKIMSigner signs when
// HeaderKeys is nil: the fields RFC 6376 §5.4.1 recommends, plus the MIME
// fields and Message-ID. "From" is listed twice, so that the signature also
// covers the absence of a second From field (over-signing, RFC 6376 §8.15):
// a From added in transit breaks it.
var DefaultSignedHeaders = []string{
	"From", "From",
	"Reply-To", "Subject", "Date", "To", "Cc",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive",
	"Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// Defaults for DKIMSigner and Verifier limits.
const (
	// DefaultSpoolMemory is how much of a message Sign holds in memory
	// before spooling the rest to a temporary file.
	DefaultSpoolMemory = 1 << 20
	// DefaultMaxHeaderBytes bounds the header section read to find the
	// From field (and, when verifying, held in memory).
	DefaultMaxHeaderBytes = 1 << 20
)

// ErrHeaderTooLarge is returned when a message's header section exceeds
// the configured MaxHeaderBytes.
var ErrHeaderTooLarge = errors.New("relay: message header section too large")

// DKIMKey is one signing key: the SDID (d=) and selector (s=) it is
// published under, at Selector + "._domainkey." + Domain.
type DKIMKey struct {
	// Domain is the signing domain: lower-case A-labels, no trailing dot.
	Domain string
	// Selector names the key within Domain (RFC 6376 §3.1).
	Selector string
	// Signer is an *rsa.PrivateKey (RSA-SHA256, 2048 bits or more
	// recommended, RFC 8301) or an ed25519.PrivateKey (Ed25519-SHA256,
	// RFC 8463).
	Signer crypto.Signer
}

// DKIMSigner signs outgoing messages (RFC 6376) with the keys of the
// domain in their From field. A domain may have several keys (an RSA and
// an Ed25519 key, say, as RFC 8463 §3 suggests): each adds a signature.
// Messages whose From domain has no key, nor any parent domain of it,
// pass unsigned.
//
// Configure it before first use; it is then safe for concurrent use.
type DKIMSigner struct {
	// Keys are the signing keys. A message from user@sub.example.com is
	// signed with the keys of sub.example.com, or if it has none, those of
	// the closest parent domain that has some (example.com).
	Keys []DKIMKey

	// HeaderKeys are the header fields to sign, in order; a name listed
	// more often than the field occurs signs its absence. Nil means
	// DefaultSignedHeaders. It must contain "From".
	HeaderKeys []string

	// HeaderCanonicalization and BodyCanonicalization (RFC 6376 §3.4).
	// "" means relaxed.
	HeaderCanonicalization dkim.Canonicalization
	BodyCanonicalization   dkim.Canonicalization

	// Expiration sets the x= tag to the signing time plus this. Zero
	// means no x= tag.
	Expiration time.Duration

	// SpoolMemory is how many octets of a message Sign holds in memory;
	// the rest goes to a temporary file in TempDir, removed before Sign
	// returns. Zero means DefaultSpoolMemory (1 MiB); negative means the
	// whole message is held in memory.
	SpoolMemory int64

	// TempDir is where Sign spools; "" means os.TempDir().
	TempDir string

	// MaxHeaderBytes bounds the header section, which is held in memory
	// to find the From field. Zero means DefaultMaxHeaderBytes (1 MiB);
	// negative means unlimited.
	MaxHeaderBytes int
}

// keysFor returns the keys for domain or its closest parent that has any.
func (s *DKIMSigner) keysFor(domain string) []DKIMKey {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for domain != "" {
		var keys []DKIMKey
		for _, k := range s.Keys {
			if strings.EqualFold(strings.TrimSuffix(k.Domain, "."), domain) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			return keys
		}
		_, rest, ok := strings.Cut(domain, ".")
		if !ok || !strings.Contains(rest, ".") {
			break // never sign with a key for a bare TLD
		}
		domain = rest
	}
	return nil
}

func (s *DKIMSigner) options(k DKIMKey) *dkim.SignOptions {
	o := &dkim.SignOptions{
		Domain:                 strings.TrimSuffix(strings.ToLower(k.Domain), "."),
		Selector:               k.Selector,
		Signer:                 k.Signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: s.HeaderCanonicalization,
		BodyCanonicalization:   s.BodyCanonicalization,
		HeaderKeys:             s.HeaderKeys,
	}
	if o.HeaderCanonicalization == "" {
		o.HeaderCanonicalization = dkim.CanonicalizationRelaxed
	}
	if o.BodyCanonicalization == "" {
		o.BodyCanonicalization = dkim.CanonicalizationRelaxed
	}
	if o.HeaderKeys == nil {
		o.HeaderKeys = DefaultSignedHeaders
	}
	if s.Expiration > 0 {
		o.Expiration = time.Now().Add(s.Expiration)
	}
	return o
}

// Signatures reads the whole message (CRLF line endings) and returns the
// DKIM-Signature header fields to prepend to it, each ending in CRLF, or
// "" if the From domain has no key. It holds only the header section in
// memory, so a caller that keeps the message elsewhere (a queue file) can
// sign it without a copy. The caller keeps ownership of msg.
func (s *DKIMSigner) Signatures(ctx context.Context, msg io.Reader) (string, error) {
	return s.sign(ctx, msg, nil)
}

// Sign copies msg to w with DKIM-Signature header fields prepended (none if
// the From domain has no key). Signing needs the whole message before the
// first byte can be written, so msg is spooled: up to SpoolMemory octets in
// memory, the rest in a temporary file. The caller keeps ownership of msg
// and w.
func (s *DKIMSigner) Sign(ctx context.Context, w io.Writer, msg io.Reader) error {
	sp := &spool{mem: s.SpoolMemory, dir: s.TempDir}
	defer sp.Close()
	sigs, err := s.sign(ctx, msg, sp)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, sigs); err != nil {
		return err
	}
	r, err := sp.Reader()
	if err != nil {
		return err
	}
	_, err = io.Copy(w, &ctxReader{ctx, r})
	return err
}

// sign feeds msg to one dkim.Signer per key, and to keep if not nil.
func (s *DKIMSigner) sign(ctx context.Context, msg io.Reader, keep io.Writer) (string, error) {
	br := bufio.NewReader(&ctxReader{ctx, msg})
	hdr, err := readHeaderSection(br, orDefaultInt(s.MaxHeaderBytes, DefaultMaxHeaderBytes))
	if err != nil {
		return "", err
	}
	domain, err := fromDomain(hdr)
	var keys []DKIMKey
	if err == nil {
		keys = s.keysFor(domain)
	}
	ws := make([]io.Writer, 0, len(keys)+1)
	signers := make([]*dkim.Signer, 0, len(keys))
	defer func() {
		for _, sg := range signers {
			sg.Close() // no-op after a successful Close
		}
	}()
	for _, k := range keys {
		sg, err := dkim.NewSigner(s.options(k))
		if err != nil {
			return "", fmt.Errorf("relay: DKIM key %s for %s: %w", k.Selector, k.Domain, err)
		}
		signers = append(signers, sg)
		ws = append(ws, sg)
	}
	if keep != nil {
		ws = append(ws, keep)
	}
	if len(ws) == 0 {
		_, err := io.Copy(io.Discard, br)
		return "", err
	}
	mw := io.MultiWriter(ws...)
	if _, err := mw.Write(hdr); err != nil {
		return "", err
	}
	if _, err := io.Copy(mw, br); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, sg := range signers {
		if err := sg.Close(); err != nil {
			return "", err
		}
		b.WriteString(sg.Signature())
	}
	return b.String(), nil
}

// DKIMAlgorithm names a DKIM key type (the k= tag, RFC 6376 §3.6.1).
type DKIMAlgorithm string

const (
	DKIMRSA     DKIMAlgorithm = "rsa"     // RSA-SHA256, 2048 bits
	DKIMEd25519 DKIMAlgorithm = "ed25519" // Ed25519-SHA256 (RFC 8463)
)

// GenerateDKIMKey returns a new private key: RSA-2048 or Ed25519.
func GenerateDKIMKey(alg DKIMAlgorithm) (crypto.Signer, error) {
	switch alg {
	case DKIMRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case DKIMEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("relay: unknown DKIM algorithm %q", alg)
}

// DKIMRecord returns the text of the DNS TXT record that publishes the
// public key of signer (RFC 6376 §3.6.1; RFC 8463 §4.2 for Ed25519), to be
// put at DKIMRecordName(selector, domain). DNS splits TXT data into
// strings of at most 255 octets; an RSA-2048 record needs two, which
// verifiers join without spaces.
func DKIMRecord(signer crypto.Signer) (string, error) {
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("relay: unsupported DKIM key type %T", signer.Public())
}

// DKIMRecordName returns the name of the TXT record for a key (RFC 6376
// §3.6.2.1).
func DKIMRecordName(selector, domain string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".")
}

// MarshalDKIMKey encodes a private key as PKCS #8 PEM ("PRIVATE KEY"), the
// form OpenDKIM and most tools read.
func MarshalDKIMKey(signer crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseDKIMKey decodes a PEM private key: PKCS #8 ("PRIVATE KEY") with an
// RSA or Ed25519 key, or PKCS #1 ("RSA PRIVATE KEY", as opendkim-genkey
// writes).
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("relay: no PEM block in DKIM key")
	}
	if block.Type == "RSA PRIVATE KEY" {
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("relay: unsupported DKIM key type %T", k)
}

// readHeaderSection reads up to and including the empty line that ends the
// header section (CRLF or bare LF), or to EOF for a message without body.
// max < 0 means unlimited.
func readHeaderSection(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	for {
		line, err := br.ReadSlice('\n')
		if max >= 0 && len(hdr)+len(line) > max {
			return nil, ErrHeaderTooLarge
		}
		hdr = append(hdr, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return hdr, nil
		case err != nil:
			return nil, err
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			return hdr, nil
		}
	}
}

// errNoFrom: the message has not exactly one From address.
var errNoFrom = errors.New("relay: message has not exactly one From address")

// fromDomain returns the lower-case domain of the single author address in
// the From field(s) of hdr (RFC 5322 §3.6.2; RFC 7489 §6.6.1).
func fromDomain(hdr []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(append(bytes.TrimRight(hdr, "\r\n"), "\r\n\r\n"...)))
	if err != nil {
		return "", err
	}
	froms := m.Header["From"]
	if len(froms) != 1 {
		return "", errNoFrom
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil {
		return "", err
	}
	if len(list) != 1 {
		return "", errNoFrom
	}
	i := strings.LastIndexByte(list[0].Address, '@')
	if i < 0 || i == len(list[0].Address)-1 {
		return "", errNoFrom
	}
	return strings.TrimSuffix(strings.ToLower(list[0].Address[i+1:]), "."), nil
}

func orDefaultInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
