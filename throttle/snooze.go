package throttle

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Sentinels carried by SnoozeError.Err (match with errors.Is). A snooze
// caused by a 429 matches providers.ErrRateLimited instead: it carries the
// provider's own error on the worker that got the 429, the sentinel on the
// others.
var (
	// ErrThrottled: the provider's rate is booked up; the task has a slot
	// later (or, for bulk, capacity frees up later).
	ErrThrottled = errors.New("provider rate booked up")
	// ErrPaused: an operator paused the provider.
	ErrPaused = errors.New("provider paused by operator")
	// ErrBreakerOpen: this worker's circuit breaker for the provider is
	// open, or half-open with its probes already running.
	ErrBreakerOpen = errors.New("provider circuit breaker open")
	// ErrUnknownProvider: the Call names a provider the Guard has no
	// settings for.
	ErrUnknownProvider = errors.New("unknown provider")
)

// SnoozeError says "not now, try again at Until". It is not a failure: the
// task should be re-scheduled without spending a retry (see IsFailure and
// RetryDelayFunc).
type SnoozeError struct {
	// Until is when the task should run again.
	Until time.Time
	// Delay is Until minus the Guard's clock when the snooze was decided.
	Delay time.Duration
	// Reason explains the snooze for logs.
	Reason string
	// Err is the cause: one of the sentinels above or the provider's 429.
	Err error
}

func (e *SnoozeError) Error() string {
	s := "throttle: snoozed " + e.Delay.Round(time.Millisecond).String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *SnoozeError) Unwrap() error { return e.Err }

// IsSnooze reports whether err is (or wraps) a SnoozeError, and how long to
// wait.
func IsSnooze(err error) (time.Duration, bool) {
	var se *SnoozeError
	if !errors.As(err, &se) {
		return 0, false
	}
	return max(se.Delay, 0), true
}

// IsFailure is asynq's Config.IsFailure: snoozes and cancellations (worker
// shutdown) are not failures, so they neither count in asynq's failure
// statistics nor move a task towards archiving.
func IsFailure(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := IsSnooze(err); ok {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// RetryDelayFunc returns asynq's Config.RetryDelayFunc: a snooze waits
// exactly its delay (at least 1s, asynq's resolution); any other error
// waits a random time up to base·2^n, capped at ceiling ("full jitter"), and
// at least 1s. Zero base means 2s, zero ceiling 10m.
//
// asynq pitfall: the Retried >= MaxRetry check runs BEFORE IsFailure, so a
// snoozed task still needs retry headroom or it is archived. Enqueue with
// a large MaxRetry (e.g. asynq.MaxRetry(1<<20)) and keep the real retry
// budget in the caller: the ledger counts send attempts and gives up with
// asynq.SkipRetry.
func RetryDelayFunc(base, ceiling time.Duration) asynq.RetryDelayFunc {
	if base <= 0 {
		base = 2 * time.Second
	}
	if ceiling <= 0 {
		ceiling = 10 * time.Minute
	}
	return func(n int, err error, _ *asynq.Task) time.Duration {
		if d, ok := IsSnooze(err); ok {
			return atLeast(d, time.Second)
		}
		return atLeast(fullJitter(base, ceiling, n), time.Second)
	}
}

// expo is base·2^n capped at ceiling, without overflow.
func expo(base, ceiling time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

func fullJitter(base, ceiling time.Duration, n int) time.Duration {
	ceil := expo(base, ceiling, n)
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func atLeast(d, floor time.Duration) time.Duration {
	if d < floor {
		return floor
	}
	return d
}
