//go:build race

package serve

// raceEnabled reports whether the race detector is built in.
const raceEnabled = true
