package throttle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/throttle"
)

func breakerConfig() throttle.ProviderConfig {
	return throttle.ProviderConfig{MinRequests: 4, FailureRatio: 0.5, OpenTimeout: 30 * time.Second, Interval: time.Minute}
}

func TestBreakerIgnoresPermanentErrorsAnd429s(t *testing.T) {
	t.Parallel()
	b := setup(t, breakerConfig())
	ctx := context.Background()

	for range 5 {
		se := requireSnooze(t, b.guard.Do(ctx, call("m"), fail(err429(time.Second))))
		b.clock.Set(se.Until)
	}
	for range 6 {
		require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(errRecipient)), errRecipient)
	}
	for range 5 {
		require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(errRetryable)), errRetryable)
	}
	require.Equal(t, "closed", b.status(t).LocalBreaker, "5 failures of 11 counted calls")

	require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(context.DeadlineExceeded)), context.DeadlineExceeded)
	require.Equal(t, "open", b.status(t).LocalBreaker, "6 of 12: a timeout counts")
}

func TestBreakerOpensSnoozesAndHalfOpens(t *testing.T) {
	t.Parallel()
	b := setup(t, breakerConfig())
	ctx := context.Background()

	require.NoError(t, b.guard.Do(ctx, call("m"), ok))
	for range 2 {
		require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(errRetryable)), errRetryable)
	}
	require.Equal(t, "closed", b.status(t).LocalBreaker, "3 calls: below MinRequests")
	require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(errRetryable)), errRetryable)
	openedAt := b.clock.Now()

	s := b.status(t)
	require.Equal(t, "open", s.LocalBreaker)
	require.Equal(t, throttle.BreakerStatus{State: "open", From: "closed", Worker: "worker-1", At: openedAt}, s.Breaker)

	// While open: snoozed until it may half-open; the provider is not called.
	ran := 0
	probe := func(context.Context) error { ran++; return nil }
	b.clock.Advance(29 * time.Second)
	err := b.guard.Do(ctx, call("m"), probe)
	se := requireSnooze(t, err)
	require.ErrorIs(t, err, throttle.ErrBreakerOpen)
	require.Equal(t, openedAt.Add(30*time.Second), se.Until)
	require.False(t, throttle.IsFailure(err))
	require.Zero(t, ran)

	// At OpenTimeout one probe goes through; a second call meanwhile waits.
	b.clock.Set(se.Until)
	inProbe, release := make(chan struct{}), make(chan struct{})
	probeDone := make(chan error, 1)
	go func() {
		probeDone <- b.guard.Do(ctx, call("probe"), func(context.Context) error {
			close(inProbe)
			<-release
			return nil
		})
	}()
	<-inProbe
	require.Equal(t, "half-open", b.status(t).LocalBreaker)
	err = b.guard.Do(ctx, call("m"), probe)
	require.ErrorIs(t, err, throttle.ErrBreakerOpen)
	require.Zero(t, ran)
	close(release)
	require.NoError(t, <-probeDone)

	s = b.status(t)
	require.Equal(t, "closed", s.LocalBreaker, "the probe succeeded")
	require.Equal(t, "closed", s.Breaker.State)
	require.Equal(t, "half-open", s.Breaker.From)
	require.NoError(t, b.guard.Do(ctx, call("m"), probe))
	require.Equal(t, 1, ran)

	// Every transition is logged with provider, from and to.
	logs := b.log.String()
	for _, move := range []string{`"from":"closed","to":"open"`, `"from":"open","to":"half-open"`, `"from":"half-open","to":"closed"`} {
		require.Contains(t, logs, move)
	}
	require.Equal(t, 3, strings.Count(logs, `"provider":"sakari"`+`,"from"`))
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	t.Parallel()
	b := setup(t, breakerConfig())
	ctx := context.Background()
	for range 4 {
		require.Error(t, b.guard.Do(ctx, call("m"), fail(errRetryable)))
	}
	require.Equal(t, "open", b.status(t).LocalBreaker)

	b.clock.Advance(30 * time.Second)
	require.ErrorIs(t, b.guard.Do(ctx, call("m"), fail(errRetryable)), errRetryable)
	reopened := b.clock.Now()
	require.Equal(t, "open", b.status(t).LocalBreaker)
	se := requireSnooze(t, b.guard.Do(ctx, call("m"), ok))
	require.Equal(t, reopened.Add(30*time.Second), se.Until)
}

func TestBreakerCountingWindowFollowsTheClock(t *testing.T) {
	t.Parallel()
	b := setup(t, breakerConfig())
	ctx := context.Background()
	for range 3 {
		require.Error(t, b.guard.Do(ctx, call("m"), fail(errRetryable)))
	}
	b.clock.Advance(time.Minute) // Interval: counts start over
	for range 3 {
		require.Error(t, b.guard.Do(ctx, call("m"), fail(errRetryable)))
	}
	require.Equal(t, "closed", b.status(t).LocalBreaker)
	require.Error(t, b.guard.Do(ctx, call("m"), fail(errRetryable)))
	require.Equal(t, "open", b.status(t).LocalBreaker)
}

func TestBreakerIsPerProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, breakerConfig())
	other := b.newGuard(t, "worker-2", breakerConfig())
	ctx := context.Background()
	for range 4 {
		require.Error(t, b.guard.Do(ctx, call("m"), fail(errRetryable)))
	}
	_, isSnooze := throttle.IsSnooze(b.guard.Do(ctx, call("m"), ok))
	require.True(t, isSnooze)
	require.NoError(t, other.Do(ctx, call("m"), ok), "worker-2 judges for itself")

	s, err := other.Status(ctx, "sakari")
	require.NoError(t, err)
	require.Equal(t, "closed", s.LocalBreaker)
	require.Equal(t, "open", s.Breaker.State, "but sees what worker-1 published")
	require.Equal(t, "worker-1", s.Breaker.Worker)
}

func TestBreakerCountsAPanicAsAFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{MinRequests: 1})
	require.Panics(t, func() {
		_ = b.guard.Do(context.Background(), call("m"), func(context.Context) error { panic("adapter bug") })
	})
	require.Equal(t, "open", b.status(t).LocalBreaker)
}
