package managesieve_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/managesieve"
)

// A ManageSieve server over an in-memory store, and a client that uploads
// a script and activates it; then what local delivery would run.
func Example() {
	store := &managesieve.MemStore{}
	srv := &managesieve.Server{
		Store: store,
		Authenticator: auth.AuthenticatorFunc(func(ctx context.Context, identity, user, pass string) (string, error) {
			if user != "alice" || pass != "secret" || identity != "" && identity != user {
				return "", auth.ErrInvalidCredentials
			}
			return user, nil
		}),
		// Only for this example on loopback: a real server sets TLSConfig
		// and keeps passwords off plaintext connections.
		AllowInsecureAuth: true,
		Logger:            slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := textproto.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	// response prints the lines up to the next OK, NO or BYE.
	response := func() {
		for {
			line, err := c.ReadLine()
			if err != nil {
				panic(err)
			}
			if !strings.HasPrefix(line, `"`) {
				fmt.Println(line)
				return
			}
		}
	}
	response() // the greeting: capabilities, then OK
	login := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret"))
	script := "require \"fileinto\";\r\nif header :contains \"list-id\" \"news\" {\r\n  fileinto \"News\";\r\n}\r\n"
	for _, cmd := range []string{
		`AUTHENTICATE "PLAIN" "` + login + `"`,
		`PUTSCRIPT "bad" "fileinto \"News\";"`,
		fmt.Sprintf("PUTSCRIPT \"news\" {%d+}\r\n%s", len(script), script),
		`SETACTIVE "news"`,
		"LOGOUT",
	} {
		c.PrintfLine("%s", cmd)
		response()
	}

	name, active, err := store.Active(context.Background(), "alice")
	fmt.Printf("active: %q, %d octets, %v\n", name, len(active), err)
	// Output:
	// OK "postyard ManageSieve ready"
	// OK "Authenticated"
	// NO "line 1, column 1: unknown command 'fileinto'"
	// OK "Putscript completed"
	// OK "Setactive completed"
	// OK "Logout completed"
	// active: "news", 84 octets, <nil>
}

// Scripts kept in files, crash-safely, with a quota; Active is what local
// delivery calls for each recipient.
func ExampleDirStore() {
	root, err := os.MkdirTemp("", "sieve")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	store := &managesieve.DirStore{Root: root, Quota: managesieve.Quota{MaxScripts: 5}}
	ctx := context.Background()
	store.Put(ctx, "alice", "vacation", []byte("require \"vacation\";\r\nvacation \"Back on Monday.\";\r\n"))
	store.SetActive(ctx, "alice", "vacation")

	name, script, err := store.Active(ctx, "alice")
	fmt.Printf("%s: %q %v\n", name, script, err)
	name, script, err = store.Active(ctx, "bob")
	fmt.Printf("bob: %q %q %v\n", name, script, err)
	// Output:
	// vacation: "require \"vacation\";\r\nvacation \"Back on Monday.\";\r\n" <nil>
	// bob: "" "" <nil>
}
