package auth_test

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/auth"
)

func failures(th *auth.Throttle, key string, n int) string {
	var ds []time.Duration
	for range n {
		ds = append(ds, th.Failure(key))
	}
	return fmt.Sprint(ds)
}

func TestThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var th auth.Throttle // defaults: 1s doubling to 10s, 15 min window
		if got, want := failures(&th, "192.0.2.1", 6), "[1s 2s 4s 8s 10s 10s]"; got != want {
			t.Errorf("delays %s, want %s", got, want)
		}
		if got := th.Failure("192.0.2.2"); got != time.Second {
			t.Errorf("other key: %v", got)
		}

		th.Success("192.0.2.1")
		if got := th.Failure("192.0.2.1"); got != time.Second {
			t.Errorf("after Success: %v", got)
		}

		// Time in the bubble is fake: these sleeps return at once.
		time.Sleep(15*time.Minute - time.Nanosecond)
		if got := th.Failure("192.0.2.1"); got != 2*time.Second {
			t.Errorf("within the window: %v", got)
		}
		time.Sleep(15 * time.Minute)
		if got := th.Failure("192.0.2.1"); got != time.Second {
			t.Errorf("after the window: %v", got)
		}
		if got := th.Failure("192.0.2.2"); got != time.Second {
			t.Errorf("other key after the window: %v", got)
		}
	})
}

func TestThrottleOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tests := []struct {
			th   *auth.Throttle
			want string
		}{
			{&auth.Throttle{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, "[100ms 200ms 400ms 800ms 1s 1s]"},
			{&auth.Throttle{BaseDelay: -1}, "[0s 0s 0s 0s 0s 0s]"},
			{&auth.Throttle{MaxDelay: -1}, "[1s 2s 4s 8s 16s 32s]"},
			{&auth.Throttle{Window: time.Minute}, "[1s 1s 1s 1s 1s 1s]"}, // a failure every 2 minutes
			{&auth.Throttle{Window: -1}, "[1s 2s 4s 8s 10s 10s]"},
		}
		for _, tt := range tests {
			var ds []time.Duration
			for range 6 {
				ds = append(ds, tt.th.Failure("k"))
				time.Sleep(2 * time.Minute)
			}
			if got := fmt.Sprint(ds); got != tt.want {
				t.Errorf("MaxKeys %v, Window %v, BaseDelay %v, MaxDelay %v: delays %s, want %s",
					tt.th.MaxKeys, tt.th.Window, tt.th.BaseDelay, tt.th.MaxDelay, got, tt.want)
			}
		}

		th := auth.Throttle{MaxDelay: -1}
		for range 100 {
			th.Failure("k")
		}
		if got := th.Failure("k"); got <= 0 {
			t.Errorf("uncapped delay overflowed: %v", got)
		}
	})
}

func TestThrottleMaxKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := auth.Throttle{MaxKeys: 2}
		failures(&th, "a", 3)
		time.Sleep(time.Second)
		failures(&th, "b", 3)
		time.Sleep(time.Second)
		failures(&th, "a", 1) // a is now the most recent
		failures(&th, "c", 1) // evicts b, the least recent
		if got := th.Failure("a"); got != 10*time.Second {
			t.Errorf("kept key: %v", got)
		}
		if got := th.Failure("b"); got != time.Second { // evicts c
			t.Errorf("evicted key: %v", got)
		}
		if got := th.Failure("c"); got != time.Second {
			t.Errorf("evicted key: %v", got)
		}
	})
}

func TestThrottleConcurrent(t *testing.T) {
	th := auth.Throttle{MaxKeys: 5}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				key := fmt.Sprint(i*j%7, "")
				th.Failure(key)
				if j%10 == 0 {
					th.Success(key)
				}
			}
		})
	}
	wg.Wait()
}
