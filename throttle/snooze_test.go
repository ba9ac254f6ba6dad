package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/throttle"
)

func TestIsSnoozeAndIsFailure(t *testing.T) {
	t.Parallel()
	se := &throttle.SnoozeError{Until: t0.Add(3 * time.Second), Delay: 3 * time.Second, Reason: "rate limit", Err: throttle.ErrThrottled}
	wrapped := fmt.Errorf("send: %w", se)

	d, ok := throttle.IsSnooze(wrapped)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
	require.ErrorIs(t, wrapped, throttle.ErrThrottled)
	require.Contains(t, se.Error(), "snoozed 3s: rate limit")

	_, ok = throttle.IsSnooze(errors.New("boom"))
	require.False(t, ok)

	require.False(t, throttle.IsFailure(nil))
	require.False(t, throttle.IsFailure(wrapped))
	require.False(t, throttle.IsFailure(fmt.Errorf("stop: %w", context.Canceled)))
	require.True(t, throttle.IsFailure(errRetryable))
	require.True(t, throttle.IsFailure(context.DeadlineExceeded))
}

func TestRetryDelayFunc(t *testing.T) {
	t.Parallel()
	delay := throttle.RetryDelayFunc(2*time.Second, 30*time.Second)

	snooze := func(d time.Duration) error { return &throttle.SnoozeError{Delay: d} }
	require.Equal(t, 7*time.Second, delay(50, snooze(7*time.Second), nil), "a snooze waits exactly its delay")
	require.Equal(t, time.Second, delay(0, snooze(200*time.Millisecond), nil), "at least asynq's 1s resolution")
	require.Equal(t, time.Second, delay(0, snooze(-time.Second), nil))

	for n := 0; n <= 12; n++ {
		ceiling := min(2*time.Second<<n, 30*time.Second)
		for range 200 {
			d := delay(n, errRetryable, nil)
			require.GreaterOrEqual(t, d, time.Second)
			require.LessOrEqual(t, d, ceiling, "n=%d", n)
		}
	}
	// Huge attempt counts must not overflow.
	require.LessOrEqual(t, delay(1000, errRetryable, nil), 30*time.Second)

	def := throttle.RetryDelayFunc(0, 0)
	require.LessOrEqual(t, def(100, errRetryable, nil), 10*time.Minute)
}
