// Package mailtest runs mail servers inside Go tests, as net/http/httptest
// does for HTTP: an SMTP server on 127.0.0.1:0 (and, with options, IMAP
// and POP3 over the same messages, STARTTLS and implicit TLS with a
// throwaway certificate) that records every message it accepts.
//
//	srv := mailtest.NewServer(t)
//	sendWelcomeMail(srv.Addr(), "bob@example.org") // the code under test
//	m := srv.WaitOne(t, mailtest.To("bob@example.org"), mailtest.Subject("Welcome"))
//	if !strings.Contains(m.Text(), "activate") { ... }
//
// [Server.WaitOne] and [Server.WaitN] block until matching messages arrive,
// without polling, for at most the wait timeout (5 seconds unless
// [WithWaitTimeout] says otherwise, and never past the test's deadline).
// On timeout the test fails with the messages that nearly matched and the
// SMTP transcripts of the last connections.
//
// # Faults
//
// [Server.Fault] makes the server misbehave at one stage of the SMTP
// dialogue: a reply ([Fault.Reply]), a delay, a dropped connection or a
// connection that hangs, for every matching command or only some
// ([Fault.Times], [Fault.Every], [Fault.Chance] with a seed, so that a
// failing run can be repeated):
//
//	srv.Fault(mailtest.OnRCPT(mailtest.To("gone@example.org")).Reply(550, "5.1.1", "no such user"))
//	srv.Fault(mailtest.OnDATA().Reply(451, "4.3.0", "try later").Times(1))
//
// # Outbound mail
//
// [NewResolver] runs a DNS server on loopback (package dnsmx/dnstest)
// whose MX records point at test servers, each at an address of its own in
// 127.0.0.0/8 where it also listens (on the port [Resolver.Port] gives),
// with a dial function ([Resolver.DialContext]) that routes those
// addresses to the servers where it cannot. An application's relay path,
// MX lookup included, is tested end to end.
//
// # testing/synctest
//
// With [WithInMemory] the server opens no socket: clients connect with
// [Server.DialContext] over net.Pipe, and everything, timeouts and faults'
// delays included, runs on the bubble's fake clock.
//
// # Limits
//
// The server is a fixture, not a production server: it accepts any sender
// and recipient, keeps every message in memory, allows AUTH without TLS
// and has no connection limits. SMTP AUTH accepts any credentials unless
// [WithUser] names users. Transcripts show traffic after STARTTLS, and on
// an implicit-TLS listener, as session events rather than wire lines,
// because the recording sits below TLS.
package mailtest
