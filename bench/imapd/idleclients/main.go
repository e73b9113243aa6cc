// Command idleclients opens many IMAP connections that log in, select a
// mailbox and IDLE, then reports the server's RSS growth: the memory cost
// of an idle IDLE session.
//
//	go run ./bench/imapd/idleclients -n 5000 -pid $(pgrep -f bench/imapd) 127.0.0.1 3143 bench bench
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 5000, "connections")
	pid := flag.Int("pid", 0, "server process to measure (RSS from /proc)")
	par := flag.Int("p", 50, "connections set up at once")
	box := flag.String("mailbox", "INBOX", "mailbox to select")
	hold := flag.Duration("hold", 3*time.Second, "how long to hold the connections before measuring")
	flag.Parse()
	if flag.NArg() != 4 {
		log.Fatal("usage: idleclients [flags] HOST PORT USER PASS")
	}
	addr := net.JoinHostPort(flag.Arg(0), flag.Arg(1))
	user, pass := flag.Arg(2), flag.Arg(3)

	before := rss(*pid)
	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, *par)
	var mu sync.Mutex
	var failed int
	var firstErr error
	t0 := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := idle(addr, user, pass, *box)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if failed > 0 {
		log.Printf("%d connections failed, first: %v", failed, firstErr)
	}
	ok := *n - failed
	time.Sleep(*hold)
	after := rss(*pid)
	fmt.Printf("connections_in_idle=%d setup=%v rss_before_kb=%d rss_after_kb=%d growth_per_conn_kb=%.1f\n",
		ok, time.Since(t0).Round(time.Millisecond), before, after, float64(after-before)/float64(max(ok, 1)))
	for _, c := range conns {
		if c != nil {
			c.Write([]byte("DONE\r\nb LOGOUT\r\n"))
			c.Close()
		}
	}
}

// idle logs in, selects box and starts IDLE, returning once the server
// has answered "+".
func idle(addr, user, pass, box string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		c.Close()
		return nil, err
	}
	for _, cmd := range []string{"a LOGIN " + user + " " + pass, "b SELECT " + box} {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			c.Close()
			return nil, err
		}
		tag := cmd[:1] + " "
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.Close()
				return nil, err
			}
			if strings.HasPrefix(line, tag) {
				if !strings.HasPrefix(line, tag+"OK") {
					c.Close()
					return nil, fmt.Errorf("%s: %s", cmd[:1], line)
				}
				break
			}
		}
	}
	c.Write([]byte("c IDLE\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.HasPrefix(line, "+") {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// rss returns a process's resident set size in KiB, 0 if unknown.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
