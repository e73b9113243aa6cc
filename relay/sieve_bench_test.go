package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// benchScript is a 100-rule script like bench/sievelmtp's.
func benchScript(n int) string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "mailbox", "imap4flags", "envelope"];` + "\n")
	for i := range n {
		k := i / 5
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"subject\" \"[proj-%02d]\" { fileinto :create \"Projects/P%02d\"; stop; }\n", k, k)
		case 1:
			fmt.Fprintf(&b, "if address :is :domain \"from\" \"vendor%02d.example\" { fileinto :create \"Vendors/V%02d\"; stop; }\n", k, k)
		case 2:
			fmt.Fprintf(&b, "if header :matches \"list-id\" \"*<list%02d.lists.example>*\" { fileinto :create \"Lists/L%02d\"; stop; }\n", k, k)
		case 3:
			fmt.Fprintf(&b, "if allof (address :localpart :is \"from\" \"boss%02d\", header :contains \"subject\" \"urgent\") { addflag \"\\\\Flagged\"; keep; stop; }\n", k)
		case 4:
			fmt.Fprintf(&b, "if anyof (header :contains \"x-mailer\" \"bulkmailer-%02d\", envelope :is \"from\" \"bounce%02d@bulk.example\") { fileinto :create \"Bulk/B%02d\"; stop; }\n", k, k, k)
		}
	}
	return b.String()
}

// BenchmarkSieveLMTP delivers a 3 KiB message over the LMTP session API
// (no network) into a Maildir store, with and without a 100-rule script
// that the message runs through entirely (into INBOX).
func BenchmarkSieveLMTP(b *testing.B) {
	for _, mem := range []bool{false, true} {
		for _, withScript := range []bool{false, true} {
			name := "Maildir"
			if mem {
				name = "Memstore"
			}
			name += "/NoScript"
			if withScript {
				name = strings.Replace(name, "NoScript", "Script100", 1)
			}
			b.Run(name, func(b *testing.B) {
				var st mailbox.Store
				if mem {
					st = memstore.New(nil)
				} else {
					md, err := maildir.Open(b.TempDir(), nil)
					if err != nil {
						b.Fatal(err)
					}
					st = md
				}
				defer st.Close()
				in := &relay.Inbound{Policy: testPolicy(), Deliverer: st, Logger: testLogger()}
				if withScript {
					in.Sieve = &relay.Sieve{Scripts: newScripts("alice", benchScript(100)), Logger: testLogger()}
				}
				msg := []byte(letter("Message about topic-07", "bench1") + "\r\n" + strings.Repeat("the quick brown fox jumps over the lazy dog mail server sieve\r\n", 45))
				ctx := context.Background()
				s, err := in.NewSession(ctx, &smtp.ConnInfo{})
				if err != nil {
					b.Fatal(err)
				}
				ls := s.(smtp.LMTPSession)
				from := smtp.Path{Local: "person1", Domain: "site1.example"}
				to := smtp.Path{Local: "alice", Domain: "example.com"}
				b.SetBytes(int64(len(msg)))
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					if err := s.Mail(ctx, from, &smtp.MailOptions{}); err != nil {
						b.Fatal(err)
					}
					if err := s.Rcpt(ctx, to, &smtp.RcptOptions{}); err != nil {
						b.Fatal(err)
					}
					errs, err := ls.LMTPData(ctx, bytes.NewReader(msg))
					if err != nil || errs[0] != nil {
						b.Fatal(err, errs)
					}
					s.Reset(ctx)
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// cpuTime is the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
