package throttle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/throttle"
)

func TestPauseAndResumeAreRedisWide(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s"})
	other := b.newGuard(t, "worker-2", throttle.ProviderConfig{Rate: "10/s"})
	ctx := context.Background()

	require.NoError(t, b.guard.Pause(ctx, "sakari", "maintenance window"))
	s := b.status(t)
	require.True(t, s.Paused)
	require.Equal(t, "maintenance window", s.PauseReason)

	ran := false
	send := func(context.Context) error { ran = true; return nil }
	err := other.Do(ctx, call("m"), send)
	se := requireSnooze(t, err)
	require.ErrorIs(t, err, throttle.ErrPaused)
	require.Contains(t, se.Reason, "maintenance window")
	require.Equal(t, 15*time.Second, se.Delay, "a fixed recheck, not a busy loop")
	require.False(t, ran)
	require.Zero(t, b.status(t).Booked, "a paused call books nothing")

	require.NoError(t, other.Resume(ctx, "sakari"))
	require.False(t, b.status(t).Paused)
	require.NoError(t, b.guard.Do(ctx, call("m"), send))
	require.True(t, ran)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s", Burst: 2, CostBy: "segment"})
	b.clock.frozen = true
	ctx := context.Background()

	s := b.status(t)
	require.Equal(t, throttle.Rate{Count: 10, Per: time.Second, Burst: 2}, s.Rate)
	require.Equal(t, "segment", s.CostBy)
	require.True(t, s.BookedUntil.IsZero())
	require.Equal(t, t0, s.NextSlot)
	require.Equal(t, "closed", s.LocalBreaker)
	require.Empty(t, s.Breaker.State, "no transition published yet")

	for i := range 4 {
		require.NoError(t, b.guard.Do(ctx, call(fmt.Sprint(i)), ok)) // slots 0, 0, 100ms, 200ms
	}
	s = b.status(t)
	require.Equal(t, t0.Add(400*time.Millisecond), s.BookedUntil)
	require.Equal(t, t0.Add(300*time.Millisecond), s.NextSlot, "the burst lets the next call start one interval early")
	require.EqualValues(t, 4, s.Granted)
	require.EqualValues(t, 4, s.Booked)
	require.Zero(t, s.Snoozed)
	require.False(t, s.Paused)
	require.True(t, s.HeldUntil.IsZero())

	b.clock.Set(t0.Add(time.Second))
	require.True(t, b.status(t).BookedUntil.IsZero(), "booked time in the past is no booking")
}
