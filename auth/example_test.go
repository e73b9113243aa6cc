package auth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"

	"github.com/postyard/postyard/auth"
)

// A server offers SASL PLAIN backed by an in-memory user list, as an SMTP
// server does for "AUTH PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2U=".
func Example() {
	var users auth.Users
	if err := users.Add("alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	s := &auth.SASL{Authenticator: &users}
	fmt.Println("AUTH", s.Available())

	ex, err := s.Start(context.Background(), "PLAIN")
	if err != nil {
		log.Fatal(err)
	}
	ir, err := base64.StdEncoding.DecodeString("AGFsaWNlAGNvcnJlY3QgaG9yc2U=")
	if err != nil {
		log.Fatal(err) // the server replies 501
	}
	_, done, err := ex.Next(ir)
	fmt.Println(done, err, ex.User())
	// Output:
	// AUTH [PLAIN LOGIN SCRAM-SHA-256]
	// true <nil> alice
}

func ExampleThrottle() {
	var th auth.Throttle
	for range 5 {
		fmt.Println(th.Failure("192.0.2.1"))
	}
	th.Success("192.0.2.1")
	fmt.Println(th.Failure("192.0.2.1"))
	// Output:
	// 1s
	// 2s
	// 4s
	// 8s
	// 10s
	// 1s
}
