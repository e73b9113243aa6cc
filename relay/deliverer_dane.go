package relay

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/postyard/postyard/dnsmx"
)

// daneVerify checks the server's certificate chain against usable TLSA
// records (RFC 7672 §3): a DANE-EE(3) record must match the server's own
// certificate, whose names and dates are then not checked (§3.1.1); a
// DANE-TA(2) record must match a certificate of the chain, which must
// then lead to the server's certificate, valid now and for name (§3.1.2,
// §3.2.2).
func daneVerify(cs tls.ConnectionState, recs []dnsmx.TLSA, name string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("relay: DANE: no server certificate")
	}
	for _, t := range recs {
		switch t.Usage {
		case dnsmx.DANEEE:
			if tlsaMatch(t, certs[0]) {
				return nil
			}
		case dnsmx.DANETA:
			for _, ta := range certs[1:] {
				if !tlsaMatch(t, ta) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(ta)
				inter := x509.NewCertPool()
				for _, c := range certs[1:] {
					inter.AddCert(c)
				}
				if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: time.Now()}); err == nil {
					return nil
				}
			}
		}
	}
	return errors.New("relay: DANE: no TLSA record matches the server's certificate chain")
}

// tlsaMatch reports whether certificate c matches record t (RFC 6698
// §2.1.2, §2.1.3).
func tlsaMatch(t dnsmx.TLSA, c *x509.Certificate) bool {
	data := c.Raw
	if t.Selector == dnsmx.SelectorSPKI {
		data = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case dnsmx.MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case dnsmx.MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	}
	return bytes.Equal(data, t.Data)
}
