package managesieve_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/managesieve"
)

const (
	script1 = "require \"fileinto\";\r\nif header :contains \"subject\" \"sale\" {\r\n  fileinto \"Ads\";\r\n}\r\n"
	script2 = "keep;\r\n"
)

func TestGreetingAndCapability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.run(greeting + `
			C: CAPABILITY
			S: "IMPLEMENTATION" "postyard"
			S: "SASL" "PLAIN LOGIN"
			S: "SIEVE" "fileinto vacation include"
			S: "MAXREDIRECTS" "4"
			S: "UNAUTHENTICATE"
			S: "VERSION" "1.0"
			S: OK "Capability completed"
			C: AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + `"
			S: OK "Authenticated"
			C: capability
			S: "IMPLEMENTATION" "postyard"
			S: "SASL" "PLAIN LOGIN"
			S: "SIEVE" "fileinto vacation include"
			S: "MAXREDIRECTS" "4"
			S: "OWNER" "alice"
			S: "UNAUTHENTICATE"
			S: "VERSION" "1.0"
			S: OK "Capability completed"
			C: LOGOUT
			S: OK "Logout completed"`)
		if !p.closed() {
			t.Fatal("open after LOGOUT")
		}
	})
}

// TestCapabilityOptions: the implementation name, and MAXREDIRECTS from
// the sieve limits (left out when unlimited).
func TestCapabilityOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil, func(s *managesieve.Server) {
			s.Implementation = "Example ManageSieve"
			s.Sieve.Limits.MaxRedirects = -1
			s.Sieve.Extensions = []string{}
		}))
		p.run(`
			S: "IMPLEMENTATION" "Example ManageSieve"
			S: "SASL" "PLAIN LOGIN"
			S: "SIEVE" ""
			S: "UNAUTHENTICATE"
			S: "VERSION" "1.0"
			S: OK "Example ManageSieve ManageSieve ready"`)
	})
}

func TestAuthenticate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.run(greeting + `
			C: AUTHENTICATE "PLAIN" "` + plain("alice", "wrong") + `"
			S: NO "Authentication failed"
			C: AUTHENTICATE "PLAIN" "not base64!"
			S: NO "Invalid base64 data"
			C: AUTHENTICATE "CRAM-MD5"
			S: NO "Unsupported authentication mechanism"
			C: AUTHENTICATE "PLAIN"
			S: ""
			C: "*"
			S: NO "Authentication cancelled"
			C: AUTHENTICATE "PLAIN"
			S: ""
			C: {2+}
			C: !!
			S: NO "Invalid base64 data"
			C: AUTHENTICATE "PLAIN"
			S: ""
			C: unquoted
			S: NO "Malformed authentication response"
			C: AUTHENTICATE "PLAIN"
			S: ""
			C: "` + plain("alice", "secret") + `"
			S: OK "Authenticated"
			C: AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + `"
			S: NO "Already authenticated"`)
	})
}

func TestAuthenticateForms(t *testing.T) {
	for _, tc := range []struct{ name, lines string }{
		{"literal", `C: AUTHENTICATE "PLAIN" ` + lit(plain("bob", "secret"))},
		{"synchronizing literal", `C: AUTHENTICATE "plain" {` + itoa(len(plain("bob", "secret"))) + "}\r\n" + plain("bob", "secret")},
		{"atom mechanism", `C: Authenticate PLAIN "` + plain("bob", "secret") + `"`},
		{"mechanism literal", `C: AUTHENTICATE {5+}` + "\r\nPLAIN \"" + plain("bob", "secret") + `"`},
		{"LOGIN", `C: AUTHENTICATE "LOGIN"
			S: "VXNlcm5hbWU6"
			C: "Ym9i"
			S: "UGFzc3dvcmQ6"
			C: {8+}
			C: c2VjcmV0`},
		{"LOGIN with initial response", `C: AUTHENTICATE "LOGIN" "Ym9i"
			S: "UGFzc3dvcmQ6"
			C: "c2VjcmV0"`},
		{"authorization identity", `C: AUTHENTICATE "PLAIN" "` + b64("bob\x00root\x00toor") + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := dial(t, newServer(nil))
				p.run(greeting + "\n" + tc.lines + `
					S: OK "Authenticated"
					C: CAPABILITY
					S: "IMPLEMENTATION" "postyard"
					S: "SASL" "PLAIN LOGIN"
					S: "SIEVE" "fileinto vacation include"
					S: "MAXREDIRECTS" "4"
					S: "OWNER" "bob"
					S: "UNAUTHENTICATE"
					S: "VERSION" "1.0"
					S: OK "Capability completed"`)
			})
		})
	}
}

// TestAuthFailures: the session is closed after MaxAuthFailures, with
// replies delayed by the throttle.
func TestAuthFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(nil)
		srv.AuthThrottle = nil // the default: 1s, 2s, ...
		p := dial(t, srv)
		p.run(greeting)
		bad := `AUTHENTICATE "PLAIN" "` + plain("alice", "wrong") + `"` + "\r\n"
		for i, want := range []string{`NO "Authentication failed"`, `NO "Authentication failed"`, `BYE "Too many authentication failures, closing connection"`} {
			delay := time.Second << i
			start := time.Now()
			p.raw(bad) // no answer yet
			time.Sleep(delay - time.Millisecond)
			p.expect(nil, nil)
			time.Sleep(time.Millisecond)
			p.expect([]string{bad}, []string{want})
			if d := time.Since(start); d != delay {
				t.Errorf("failure %d answered after %v", i+1, d)
			}
		}
		if !p.closed() {
			t.Fatal("open after 3 failures")
		}
	})
}

// TestAuthRefusedWithoutTLS: without AllowInsecureAuth and TLS, SASL is
// empty and AUTHENTICATE refused with ENCRYPT-NEEDED.
func TestAuthRefusedWithoutTLS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil, func(s *managesieve.Server) { s.AllowInsecureAuth = false }))
		p.run(`
			S: "IMPLEMENTATION" "postyard"
			S: "SASL" ""
			S: "SIEVE" "fileinto vacation include"
			S: "MAXREDIRECTS" "4"
			S: "UNAUTHENTICATE"
			S: "VERSION" "1.0"
			S: OK "postyard ManageSieve ready"
			C: AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + `"
			S: NO (ENCRYPT-NEEDED) "Authentication requires TLS, use STARTTLS"
			C: STARTTLS
			S: NO "STARTTLS not available"`)
	})
}

// TestScripts walks through every script command, checking the store
// after each.
func TestScripts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		p := dial(t, newServer(st))
		p.login("alice")
		want := func(w ...string) {
			t.Helper()
			if got := scripts(t, st, "alice"); !slices.Equal(got, w) {
				t.Fatalf("store holds %q, want %q", got, w)
			}
		}
		p.run(`
			C: LISTSCRIPTS
			S: OK "Listscripts completed"
			C: HAVESPACE "filter" 1000
			S: OK "Putscript would succeed"
			C: PUTSCRIPT "filter" ` + lit(script1) + `
			S: OK "Putscript completed"`)
		want("filter=" + script1)
		p.run(`
			C: PUTSCRIPT "plain" ` + lit(script2) + `
			C: LISTSCRIPTS
			S: OK "Putscript completed"
			S: "filter"
			S: "plain"
			S: OK "Listscripts completed"
			C: SETACTIVE "filter"
			S: OK "Setactive completed"
			C: LISTSCRIPTS
			S: "filter" ACTIVE
			S: "plain"
			S: OK "Listscripts completed"`)
		want("filter*="+script1, "plain="+script2)
		if name, b, err := st.Active(context.Background(), "alice"); name != "filter" || string(b) != script1 || err != nil {
			t.Fatalf("Active: %q, %q, %v", name, b, err)
		}
		p.run(`
			C: GETSCRIPT "filter"
			S: {` + itoa(len(script1)) + `}
			S: require "fileinto";
			S: if header :contains "subject" "sale" {
			S:   fileinto "Ads";
			S: }
			S:
			S: OK "Getscript completed"
			C: DELETESCRIPT "filter"
			S: NO (ACTIVE) "You may not delete an active script"
			C: RENAMESCRIPT "filter" "plain"
			S: NO (ALREADYEXISTS) "A script with that name already exists"
			C: RENAMESCRIPT "filter" "main"
			S: OK "Renamescript completed"
			C: LISTSCRIPTS
			S: "main" ACTIVE
			S: "plain"
			S: OK "Listscripts completed"`)
		want("main*="+script1, "plain="+script2)
		// Replacing the active script keeps it active.
		p.run(`
			C: PUTSCRIPT "main" ` + lit(script2) + `
			S: OK "Putscript completed"`)
		want("main*="+script2, "plain="+script2)
		p.run(`
			C: SETACTIVE "plain"
			S: OK "Setactive completed"
			C: DELETESCRIPT "main"
			S: OK "Deletescript completed"
			C: SETACTIVE ""
			S: OK "No script is active"
			C: DELETESCRIPT "plain"
			S: OK "Deletescript completed"`)
		want()
		p.run(`
			C: GETSCRIPT "plain"
			S: NO (NONEXISTENT) "There is no script by that name"
			C: DELETESCRIPT "plain"
			S: NO (NONEXISTENT) "There is no script by that name"
			C: SETACTIVE "plain"
			S: NO (NONEXISTENT) "There is no script by that name"
			C: RENAMESCRIPT "plain" "other"
			S: NO (NONEXISTENT) "There is no script by that name"
			C: LOGOUT
			S: OK "Logout completed"`)
	})
}

// TestBadScript: PUTSCRIPT and CHECKSCRIPT refuse a script that does not
// compile with the errors' lines and columns, and nothing is stored.
func TestBadScript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		p := dial(t, newServer(st))
		p.login("alice")
		bad := "# my filter\r\nfileinot \"Ads\";\r\n"
		twoBad := "foo;\r\nbar;\r\n"
		p.run(`
			C: PUTSCRIPT "bad" ` + lit(bad) + `
			S: NO "line 2, column 1: unknown command 'fileinot'"
			C: CHECKSCRIPT ` + lit(bad) + `
			S: NO "line 2, column 1: unknown command 'fileinot'"
			C: CHECKSCRIPT ` + lit(twoBad) + `
			S: NO {80}
			S: line 1, column 1: unknown command 'foo'
			S: line 2, column 1: unknown command 'bar'
			C: CHECKSCRIPT "require \"regex\"; keep;"
			S: NO "line 1, column 9: require command: unknown Sieve capability ` + "\\\"regex\\\"" + `"
			C: CHECKSCRIPT ` + lit(script1) + `
			S: OK "Script is valid"
			C: CHECKSCRIPT ""
			S: OK "Script is valid"
			C: LISTSCRIPTS
			S: OK "Listscripts completed"`)
		if got := scripts(t, st, "alice"); len(got) != 0 {
			t.Fatalf("store holds %q", got)
		}
	})
}

// TestIncludeWarnings: an include of a script not stored yet is accepted,
// with a warning; once stored, it is checked with the includer.
func TestIncludeWarnings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		p := dial(t, newServer(st))
		p.login("alice")
		main := "require \"include\";\r\ninclude \"lib\";\r\n"
		p.run(`
			C: PUTSCRIPT "main" ` + lit(main) + `
			S: OK (WARNINGS) "included script \"lib\" does not exist yet"
			C: CHECKSCRIPT ` + lit("require \"include\";\r\ninclude :global \"spam\";\r\n") + `
			S: OK (WARNINGS) "global script \"spam\" is not available here; it is checked when mail is delivered"
			C: PUTSCRIPT "lib" "keep;"
			S: OK "Putscript completed"
			C: PUTSCRIPT "main" ` + lit(main) + `
			S: OK "Putscript completed"
			C: SETACTIVE "main"
			S: OK "Setactive completed"
			C: SETACTIVE ""
			S: OK "No script is active"`)
		// The included script changes behind the server's back.
		if err := st.Put(context.Background(), "alice", "lib", []byte(`fileinto "x";`)); err != nil {
			t.Fatal(err)
		}
		p.run(`
			C: SETACTIVE "main"
			S: NO "personal script lib: line 1, column 1: unknown command 'fileinto'"`)
		if got := scripts(t, st, "alice"); len(got) != 2 || strings.Contains(got[1], "*") {
			t.Fatalf("store holds %q", got)
		}
	})
}

// TestQuota: the store's quota gives QUOTA, QUOTA/MAXSCRIPTS and
// QUOTA/MAXSIZE, in HAVESPACE and PUTSCRIPT; the server's script size
// limit skips the literal unread.
func TestQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{Quota: managesieve.Quota{MaxScripts: 2, MaxScriptSize: 20, MaxTotalSize: 30}}
		p := dial(t, newServer(st, func(s *managesieve.Server) { s.MaxScriptSize = 100 }))
		p.login("alice")
		big := strings.Repeat("#", 18) + "\r\n"
		p.run(`
			C: HAVESPACE "a" 21
			S: NO (QUOTA/MAXSIZE) "Script too large"
			C: HAVESPACE "a" 101
			S: NO (QUOTA/MAXSIZE) "Script too large"
			C: HAVESPACE "a" 4294967296
			S: NO "Number too large"
			C: PUTSCRIPT "a" ` + lit(big+"#") + `
			S: NO (QUOTA/MAXSIZE) "Script too large"
			C: PUTSCRIPT "a" ` + lit(big) + `
			S: OK "Putscript completed"
			C: HAVESPACE "a" 20
			S: OK "Putscript would succeed"
			C: HAVESPACE "b" 11
			S: NO (QUOTA) "Storage quota exceeded"
			C: PUTSCRIPT "b" ` + lit(strings.Repeat("#", 11)) + `
			S: NO (QUOTA) "Storage quota exceeded"
			C: PUTSCRIPT "b" "keep;"
			S: OK "Putscript completed"
			C: HAVESPACE "c" 1
			S: NO (QUOTA/MAXSCRIPTS) "Too many scripts"
			C: PUTSCRIPT "c" "keep;"
			S: NO (QUOTA/MAXSCRIPTS) "Too many scripts"
			C: PUTSCRIPT "c" ` + lit(strings.Repeat("#", 101)) + `
			S: NO (QUOTA/MAXSIZE) "Script too large"
			C: CHECKSCRIPT ` + lit(strings.Repeat("#", 101)) + `
			S: NO (QUOTA/MAXSIZE) "Script too large"
			C: NOOP
			S: OK "NOOP completed"`)
		if got := scripts(t, st, "alice"); len(got) != 2 {
			t.Fatalf("store holds %q", got)
		}
	})
}

// TestHugeLiteral: a literal too large even to skip ends the session.
func TestHugeLiteral(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.login("alice")
		p.run(`
			C: PUTSCRIPT "a" {99999999999+}
			S: BYE "Literal too large, closing connection"`)
		if !p.closed() {
			t.Fatal("open")
		}
	})
}

func TestNoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.run(greeting + `
			C: NOOP
			S: OK "NOOP completed"
			C: NOOP "STARTTLS-SYNC-42"
			S: OK (TAG "STARTTLS-SYNC-42") "Done"
			C: NOOP {16+}
			C: STARTTLS-SYNC-42
			S: OK (TAG "STARTTLS-SYNC-42") "Done"
			C: NOOP "a \"quoted\" \\ tag"
			S: OK (TAG "a \"quoted\" \\ tag") "Done"
			C: NOOP ` + lit("two\r\nlines") + `
			S: OK (TAG {10}
			S: two
			S: lines) "Done"`)
	})
}

func TestUnauthenticate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		st.Put(context.Background(), "alice", "a", []byte("keep;"))
		p := dial(t, newServer(st))
		p.run(greeting + `
			C: UNAUTHENTICATE
			S: NO "Authenticate first"
			C: AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + `"
			S: OK "Authenticated"
			C: LISTSCRIPTS
			S: "a"
			S: OK "Listscripts completed"
			C: UNAUTHENTICATE
			S: OK "Unauthenticate completed"
			C: LISTSCRIPTS
			S: NO "Authenticate first"
			C: AUTHENTICATE "PLAIN" "` + plain("bob", "secret") + `"
			S: OK "Authenticated"
			C: LISTSCRIPTS
			S: OK "Listscripts completed"`)
	})
}

// TestNames: names are checked (RFC 5804 §1.6) and normalized to NFC;
// names with quotes and backslashes go out escaped.
func TestNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		p := dial(t, newServer(st))
		p.login("alice")
		long := strings.Repeat("é", managesieve.MaxNameLength)
		p.run(`
			C: PUTSCRIPT "" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "a/b" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT {3+}
			C: a` + "\x01b" + ` "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "a` + "\u2028" + `b" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "` + long + `x" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "` + "\xff" + `" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "` + long + `" "keep;"
			S: OK "Putscript completed"
			C: PUTSCRIPT "cafe` + "\u0301" + `" "keep;"
			S: OK "Putscript completed"
			C: PUTSCRIPT "say \"hi\" \\o/" "keep;"
			S: NO "Invalid script name"
			C: PUTSCRIPT "say \"hi\" \\o" "keep;"
			S: OK "Putscript completed"
			C: LISTSCRIPTS
			S: "café"
			S: "say \"hi\" \\o"
			S: "` + long + `"
			S: OK "Listscripts completed"
			C: GETSCRIPT "café"
			S: {5}
			S: keep;
			S: OK "Getscript completed"
			C: GETSCRIPT "a/b"
			S: NO (NONEXISTENT) "There is no script by that name"
			C: RENAMESCRIPT "café" "a/b"
			S: NO "Invalid script name"`)
	})
}

// TestMalformed: malformed commands are answered with NO and the session
// goes on, until MaxBadCommands.
func TestMalformed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil, func(s *managesieve.Server) { s.MaxBadCommands = -1 }))
		p.login("alice")
		p.run(`
			C: FOO
			S: NO "Unknown command"
			C: FOO "bar" {3+}
			C: abc "baz"
			S: NO "Unknown command"
			C:
			S: NO "Unknown command"
			C: PUTSCRIPT
			S: NO "Expected a space at end of line"
			C: PUTSCRIPT "a"
			S: NO "Expected a space at end of line"
			C: PUTSCRIPT "a" keep
			S: NO "Expected a string at column 15"
			C: PUTSCRIPT "a" "keep;" extra
			S: NO "Unexpected text at column 23"
			C: PUTSCRIPT "a" "keep;" {3+}
			C: abc
			S: NO "Unexpected text at column 23"
			C: GETSCRIPT "a\x"
			S: NO "Invalid escape in quoted string"
			C: GETSCRIPT "a
			S: NO "Unterminated quoted string"
			C: GETSCRIPT {x}
			S: NO "Invalid literal"
			C: GETSCRIPT {3+} x
			S: NO "Invalid literal"
			C: HAVESPACE "a" -1
			S: NO "Expected a number at column 15"
			C: HAVESPACE "a" 12x
			S: NO "Unexpected text at column 17"
			C: LISTSCRIPTS now
			S: NO "Unexpected text at column 13"
			C: GETSCRIPT "` + "a\x00b" + `"
			S: NO "Invalid character in quoted string"
			C: PUTSCRIPT {1+}
			C: a ` + lit("keep;\r\n") + `
			S: OK "Putscript completed"
			C: getscript "a"
			S: {7}
			S: keep;
			S:
			S: OK "Getscript completed"`)
	})
}

// TestLineTooLong: a command line over MaxLineLength is refused; a
// literal may be longer.
func TestLineTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil, func(s *managesieve.Server) { s.MaxLineLength = 100 }))
		p.login("alice")
		long := strings.Repeat("#", 200)
		p.run(`
			C: CHECKSCRIPT "` + long + `"
			S: NO "Line too long"
			C: CHECKSCRIPT ` + lit(long) + `
			S: OK "Script is valid"
			C: NOOP ` + lit(long) + `
			S: NO "Literal too large"
			C: NOOP
			S: OK "NOOP completed"`)
	})
}

// TestBadCommandLimit: the session is closed after MaxBadCommands.
func TestBadCommandLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil, func(s *managesieve.Server) { s.MaxBadCommands = 3 }))
		p.run(greeting + `
			C: LISTSCRIPTS
			C: FOO
			C: NOOP x
			S: NO "Authenticate first"
			S: NO "Unknown command"
			S: NO "Expected a string at column 6"
			S: BYE "Too many errors, closing connection"`)
		if !p.closed() {
			t.Fatal("open")
		}
	})
}

// TestHTTP: an HTTP request ends the session without a word.
func TestHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.run(greeting + `
			C: GET / HTTP/1.1`)
		if !p.closed() {
			t.Fatal("open")
		}
	})
}

// TestCheckFunc: Server.Check's answers.
func TestCheckFunc(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, `OK "Putscript completed"`},
		{managesieve.Warnings{"one", "two"}, "OK (WARNINGS) {8}\none\ntwo"},
		{&managesieve.Error{Code: managesieve.CodeQuota, Message: "Policy says no", Err: errors.New("cause")}, `NO (QUOTA) "Policy says no"`},
		{errors.New("secret detail"), `NO (TRYLATER) "Temporary failure, try again later"`},
		{nil, `NO (TRYLATER) "Temporary failure, try again later"`}, // a panic
	} {
		synctest.Test(t, func(t *testing.T) {
			st := &managesieve.MemStore{}
			panics := tc.err == nil && strings.HasPrefix(tc.want, "NO")
			srv := newServer(st, func(s *managesieve.Server) {
				s.Check = func(ctx context.Context, user string, script []byte) error {
					if user != "alice" || string(script) != "whatever" {
						t.Errorf("Check(%q, %q)", user, script)
					}
					if panics {
						panic("check bug")
					}
					return tc.err
				}
			})
			p := dial(t, srv)
			p.login("alice")
			want := strings.ReplaceAll(tc.want, "\n", "\nS: ")
			p.run(`
				C: PUTSCRIPT "s" "whatever"
				S: ` + want)
			stored := len(scripts(t, st, "alice")) == 1
			if stored != strings.HasPrefix(tc.want, "OK") {
				t.Errorf("%s: stored %v", tc.want, stored)
			}
		})
	}
}

// faultStore wraps a Store to inject failures.
type faultStore struct {
	managesieve.Store
	err   error
	panic bool
}

func (s *faultStore) List(ctx context.Context, user string) ([]managesieve.ScriptInfo, error) {
	if s.panic {
		panic("store bug")
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.List(ctx, user)
}

func (s *faultStore) Put(ctx context.Context, user, name string, script []byte) error {
	if s.err != nil {
		return s.err
	}
	return s.Store.Put(ctx, user, name, script)
}

// TestStoreErrors: errors with wire meaning are sent with their response
// code; others become a generic TRYLATER; a panic ends the session.
func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		fs   *faultStore
		want string
	}{
		{&faultStore{err: errors.New("secret internal detail")}, `NO (TRYLATER) "Temporary failure, try again later"`},
		{&faultStore{err: &managesieve.Error{Code: managesieve.CodeTryLater, Message: "Migrating"}}, `NO (TRYLATER) "Migrating"`},
		{&faultStore{err: managesieve.ErrQuotaExceeded}, `NO (QUOTA) "Storage quota exceeded"`},
		{&faultStore{panic: true}, `BYE (TRYLATER) "Internal error, closing connection"`},
	} {
		synctest.Test(t, func(t *testing.T) {
			tc.fs.Store = &managesieve.MemStore{}
			p := dial(t, newServer(tc.fs))
			p.login("alice")
			p.run(`
				C: LISTSCRIPTS
				S: ` + tc.want)
			if closed := p.closed(); closed != tc.fs.panic {
				t.Errorf("%s: closed = %v", tc.want, closed)
			}
		})
	}
}
