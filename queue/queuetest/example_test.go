package queuetest_test

import (
	"sync"
	"testing"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/queue/queuetest"
)

// A Queue implementation runs the suite from a test of its own package:
//
//	func TestConformance(t *testing.T) { ... }
//
// An in-memory queue needs only New. The example has no output: the suite
// needs the *testing.T of a running test.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		queuetest.Run(t, queuetest.Harness{
			New: func(t *testing.T, opts *queue.Options) queue.Queue {
				return memqueue.New(opts) // the suite closes it
			},
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in a queue's tests
}

// A durable queue also gives Reopen, which closes a queue and opens its
// storage again as a restart would; the suite then checks that what
// Enqueue acknowledged survives.
func ExampleRun_durable() {
	testConformance := func(t *testing.T) {
		var dirs sync.Map // queue.Queue -> its directory
		open := func(t *testing.T, dir string, opts *queue.Options) queue.Queue {
			q, err := filequeue.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			dirs.Store(q, dir)
			return q
		}
		queuetest.Run(t, queuetest.Harness{
			New: func(t *testing.T, opts *queue.Options) queue.Queue {
				return open(t, t.TempDir(), opts)
			},
			Reopen: func(t *testing.T, q queue.Queue, opts *queue.Options) queue.Queue {
				dir, _ := dirs.Load(q)
				if err := q.Close(); err != nil {
					t.Fatal(err)
				}
				return open(t, dir.(string), opts)
			},
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in a queue's tests
}
