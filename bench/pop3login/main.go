// Command pop3login measures POP3 logins per second like popload's login
// phase (connect, USER, PASS, QUIT; -n per client, -c clients at once),
// without holding a session of the same user open meanwhile, which a
// server with an RFC 1939 maildrop lock refuses.
//
//	go run ./bench/pop3login -c 8 -runs 3 127.0.0.1 3110 'bench%d' bench
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func login(addr, user, pass string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	cmd := func(s string) error {
		if s != "" {
			if _, err := fmt.Fprintf(c, "%s\r\n", s); err != nil {
				return err
			}
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("%s: %s", s, line)
		}
		return nil
	}
	for _, s := range []string{"", "USER " + user, "PASS " + pass, "QUIT"} {
		if err := cmd(s); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	conc := flag.Int("c", 1, "clients")
	n := flag.Int("n", 20, "logins per client")
	runs := flag.Int("runs", 3, "rounds")
	flag.Parse()
	addr := net.JoinHostPort(flag.Arg(0), flag.Arg(1))
	user, pass := flag.Arg(2), flag.Arg(3)
	var rates []float64
	for range *runs {
		var wg sync.WaitGroup
		errs := make(chan error, *conc)
		t0 := time.Now()
		for i := range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := strings.ReplaceAll(user, "%d", strconv.Itoa(i))
				for range *n {
					if err := login(addr, u, pass); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			log.Fatal(err)
		}
		rates = append(rates, float64(*conc**n)/time.Since(t0).Seconds())
	}
	all := fmt.Sprint(rates)
	sort.Float64s(rates)
	fmt.Printf("login c=%d median=%.0f logins/s all=%s\n", *conc, rates[len(rates)/2], all)
}
