//go:build !pprof

package main

// servePprof is nil without -tags pprof.
var servePprof func(addr string)
