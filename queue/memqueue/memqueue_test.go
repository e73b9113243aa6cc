package memqueue_test

import (
	"testing"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T, opts *queue.Options) queue.Queue {
			return memqueue.New(opts)
		},
	})
}
