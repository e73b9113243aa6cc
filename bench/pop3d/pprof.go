//go:build pprof

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof"
)

// servePprof serves net/http/pprof on addr.
var servePprof = func(addr string) { log.Print(http.ListenAndServe(addr, nil)) }
