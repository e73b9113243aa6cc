// Package certs serves TLS certificates to postyard's servers: a
// [Reloader] that keeps a certificate and key pair from PEM files and picks
// up a renewed pair without a restart, and [ServerConfig], the tls.Config
// the smtp, imap and pop3 servers (and any other Go TLS server) take.
//
// Every server reads its certificate through tls.Config.GetCertificate, so
// the source of certificates is pluggable: a Reloader for files written by
// certbot, lego or an operator; any other func(*tls.ClientHelloInfo)
// (*tls.Certificate, error) for anything else. In particular ACME
// (RFC 8555) plugs in here: golang.org/x/crypto/acme/autocert's
// Manager.GetCertificate obtains and renews certificates from Let's
// Encrypt on the first handshake for each name (see the autocert example).
// Mail servers have no HTTPS port of their own, so autocert's challenges
// need either Manager.HTTPHandler on port 80 (http-01) or the Manager's
// TLS config on port 443 (tls-alpn-01).
//
// # Reloading
//
// A Reloader loads its pair once when it is made, then again when either
// file's modification time or size changes (checked at most once a second,
// on a handshake: an idle server does no I/O) and when Reloader.Reload is
// called (from a SIGHUP handler, say). A pair that fails to load (a file
// half written, a key that does not match the certificate) is logged and
// the previous certificate stays in use; the next change of the files is
// tried again. Handshakes never wait for a reload of another handshake.
//
// # Not implemented
//
// OCSP stapling, several certificates chosen by server name (wrap
// several Reloaders in one GetCertificate for that), and encrypted
// private keys.
package certs
