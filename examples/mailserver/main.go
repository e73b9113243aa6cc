// Command mailserver runs postyard's example mail server. With no flags it
// listens on loopback high ports, so it needs neither root nor a config:
//
//	go run ./examples/mailserver
//
// It serves, on 127.0.0.1:
//
//	10025  SMTP for incoming mail (MX): local delivery, no relaying for strangers
//	10587  message submission with STARTTLS and AUTH (RFC 6409)
//	10465  message submission over implicit TLS (RFC 8314)
//	10143  IMAP with STARTTLS      10993  IMAP over TLS
//	10110  POP3 with STLS          10995  POP3 over TLS
//	14190  ManageSieve with STARTTLS (RFC 5804): upload Sieve filters
//
// with a self-signed certificate made at start, one demo user whose
// password is printed. Mailboxes (Maildir++, readable by mutt and Dovecot)
// and the outbound queue live under -data, by default a new temporary
// directory whose name is logged. Mail for other domains
// that the demo user submits is queued and delivered through MX.
//
// # A real server
//
// A TOML file given with -config (see mailserver.example.toml) sets the
// host name, the domains, the listen addresses (the real ports 25, 587,
// 465, 143, 993, 110, 995), the certificate files, a users file, trusted
// networks, a smarthost, DKIM keys, SPF/DKIM/DMARC checks on incoming
// mail, content filters ([filters]: DNSBL, size and attachment rules,
// data-loss rules, clamd, spamd, milters such as rspamd), an archive copy
// of all mail ([archive]), Sieve ([sieve]), the data and queue
// directories, and the log format and level. Flags override the file.
// Relative paths in the file are relative to the file's directory.
//
//	mailserver -config /etc/mailserver.toml
//
// The certificate is read again when its files change (certs.Reloader);
// SIGHUP reloads it and the users file at once. SIGTERM or SIGINT shuts
// the server down gracefully: listeners close, sessions in the middle of a
// command finish it (idle ones are told 421 or BYE), deliveries in
// progress end, then the queue and the mailboxes are closed; everything
// acknowledged is on disk before that anyway. A second signal, or 30
// seconds, closes what remains at once.
//
// # Users
//
// Without a users file there is one demo user. The users file holds
// "name:hash" lines (argon2id, or bcrypt from htpasswd -B); the server
// reads it again when it changes:
//
//	mailserver adduser -data /var/lib/mail alice@example.org   # asks for a password
//	mailserver passwd  -data /var/lib/mail alice@example.org
//	mailserver deluser -data /var/lib/mail alice@example.org
//	echo "$PASSWORD" | mailserver adduser -users users.txt bob@example.org
//
// # The queue
//
//	mailserver queue -data /var/lib/mail list [ID...]
//	mailserver queue -data /var/lib/mail hold|release|delete ID...
//	mailserver queue -data /var/lib/mail retry [ID...]
//
// The queue directory is open in one process at a time; while the server
// runs, the queue subcommand talks to it over the Unix socket
// DATA/admin.sock, and when it is stopped it opens the directory itself.
//
// # Sieve
//
// Local delivery runs each user's active Sieve script (RFC 5228, with
// fileinto, imap4flags, vacation, ...: package sieve), which users upload
// over ManageSieve with the same login as for IMAP:
//
//	sieve-connect --server 127.0.0.1 --port 14190 --nosrv --notlsverify \
//	    --user demo@localhost --upload --localsieve my.sieve --remotesieve my
//	sieve-connect ... --activate --remotesieve my
//
// Scripts are kept in DATA/sieve, vacation and duplicate records in
// DATA/sieve-state. Without a script mail goes to INBOX, and mail a filter
// quarantined to Junk.
//
// Not configurable here (see the relay package): per-domain TLS policies,
// LMTP hand-off, quotas.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cli runs the command line args and returns the exit status.
func cli(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 {
		switch args[0] {
		case "adduser", "passwd", "deluser":
			err = userCommand(args[0], args[1:], stdin, stdout, stderr)
		case "queue":
			err = queueCommand(args[1:], stdout, stderr)
		default:
			return serve(args, stderr)
		}
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		if err != nil {
			fmt.Fprintf(stderr, "mailserver %s: %v\n", args[0], err)
			return 1
		}
		return 0
	}
	return serve(args, stderr)
}

// serve runs the server.
func serve(args []string, stderr io.Writer) int {
	c, err := parseConfig("mailserver", args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "mailserver: %v\n", err)
		return 2
	}
	log, _ := newLogger(c.Log, stderr) // checked by parseConfig
	if err := run(log, c); err != nil {
		log.Error("mailserver", "err", err)
		return 1
	}
	return 0
}
