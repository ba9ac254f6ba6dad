package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

func TestRateSpacingIsExact(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "50/s"})
	ctx := context.Background()

	var fired []time.Time
	for i := range 10 {
		err := b.guard.Do(ctx, call(fmt.Sprint("m", i)), func(context.Context) error {
			fired = append(fired, b.clock.Now())
			return nil
		})
		require.NoError(t, err)
	}
	for i, at := range fired {
		require.Equal(t, t0.Add(time.Duration(i)*20*time.Millisecond), at, "call %d", i)
	}
	s := b.status(t)
	require.EqualValues(t, 10, s.Granted)
	require.EqualValues(t, 10, s.Booked)
	require.Zero(t, s.Snoozed)
}

func TestCostTakesThatManyUnits(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s", CostBy: "message"})
	ctx := context.Background()
	var fired []time.Time
	rec := func(context.Context) error { fired = append(fired, b.clock.Now()); return nil }

	require.NoError(t, b.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: "a", Cost: 5}, rec))
	require.NoError(t, b.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: "b", Cost: 1}, rec))
	require.NoError(t, b.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: "c"}, rec)) // cost 0 counts as 1
	require.Equal(t, []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(600 * time.Millisecond)}, fired)
}

func TestBurst(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s", Burst: 3})
	ctx := context.Background()

	var fired []time.Time
	rec := func(context.Context) error { fired = append(fired, b.clock.Now()); return nil }
	for i := range 5 {
		require.NoError(t, b.guard.Do(ctx, call(fmt.Sprint("m", i)), rec))
	}
	require.Equal(t, []time.Time{t0, t0, t0, t0.Add(100 * time.Millisecond), t0.Add(200 * time.Millisecond)}, fired)

	// After an idle second the full burst is available again.
	b.clock.Advance(time.Second)
	idle := b.clock.Now()
	fired = nil
	for i := range 4 {
		require.NoError(t, b.guard.Do(ctx, call(fmt.Sprint("n", i)), rec))
	}
	require.Equal(t, []time.Time{idle, idle, idle, idle.Add(100 * time.Millisecond)}, fired)
}

func TestTwoGuardsShareTheRate(t *testing.T) {
	t.Parallel()
	pc := throttle.ProviderConfig{Rate: "50/s", MaxSleep: 10 * time.Second}
	b := setup(t, pc)
	b.clock.frozen = true
	guards := []*throttle.Guard{b.guard, b.newGuard(t, "worker-2", pc)}

	var mu sync.Mutex
	var fired []time.Time
	var wg sync.WaitGroup
	for w := range 8 {
		g := guards[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				ctx := withSlept(context.Background())
				err := g.Do(ctx, call(fmt.Sprint("w", w, "-", i)), func(ctx context.Context) error {
					mu.Lock()
					fired = append(fired, b.clock.fireTime(ctx))
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()

	require.Len(t, fired, 40)
	slices.SortFunc(fired, func(a, b time.Time) int { return a.Compare(b) })
	require.Equal(t, t0, fired[0])
	for i := 1; i < len(fired); i++ {
		require.GreaterOrEqual(t, fired[i].Sub(fired[i-1]), 20*time.Millisecond, "calls %d and %d", i-1, i)
	}
	require.Equal(t, t0.Add(39*20*time.Millisecond), fired[39], "no slot wasted")
}

func TestSnoozedTaskClaimsItsBooking(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "1/s", MaxSleep: time.Second})
	b.clock.frozen = true
	ctx := context.Background()

	require.NoError(t, b.guard.Do(ctx, call("a"), ok)) // slot t0
	require.NoError(t, b.guard.Do(ctx, call("b"), ok)) // slot t0+1s: slept in-process

	ran := 0
	send := func(context.Context) error { ran++; return nil }
	err := b.guard.Do(ctx, call("c"), send)
	se := requireSnooze(t, err)
	require.Equal(t, t0.Add(2*time.Second), se.Until, "snoozed to its booked slot")
	require.Equal(t, 2*time.Second, se.Delay)
	require.ErrorIs(t, err, throttle.ErrThrottled)
	require.Zero(t, ran)
	require.EqualValues(t, 3, b.status(t).Booked)

	// asynq runs the task early (whole seconds): still too early, snoozed
	// again to the same slot, nothing booked.
	b.clock.Set(t0.Add(500 * time.Millisecond))
	se = requireSnooze(t, b.guard.Do(ctx, call("c"), send))
	require.Equal(t, t0.Add(2*time.Second), se.Until)

	// Within MaxSleep of the slot: it claims the slot and waits for it.
	b.clock.Set(t0.Add(1500 * time.Millisecond))
	slept := withSlept(ctx)
	var firedAt time.Time
	require.NoError(t, b.guard.Do(slept, call("c"), func(ctx context.Context) error {
		firedAt = b.clock.fireTime(ctx)
		return send(ctx)
	}))
	require.Equal(t, 1, ran)
	require.Equal(t, t0.Add(2*time.Second), firedAt)

	s := b.status(t)
	require.EqualValues(t, 3, s.Booked, "the re-run did not book again")
	require.EqualValues(t, 1, s.Claimed)
	require.EqualValues(t, 2, s.Snoozed)

	// The claimed slot is gone: the next call books after it.
	b.clock.Set(t0.Add(2 * time.Second))
	slept = withSlept(ctx)
	require.NoError(t, b.guard.Do(slept, call("d"), func(ctx context.Context) error {
		firedAt = b.clock.fireTime(ctx)
		return nil
	}))
	require.Equal(t, t0.Add(3*time.Second), firedAt)
}

func TestLateClaimsAreSpacedInProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "1/s", MaxSleep: time.Second})
	b.clock.frozen = true
	ctx := context.Background()

	require.NoError(t, b.guard.Do(ctx, call("a"), ok))
	require.NoError(t, b.guard.Do(ctx, call("b"), ok))
	for _, k := range []string{"c", "d", "e"} {
		requireSnooze(t, b.guard.Do(ctx, call(k), ok)) // slots t0+2s, +3s, +4s
	}

	// All three come back together, late (asynq's forwarder): each may
	// still use its slot, but this process spaces them at the rate.
	b.clock.Set(t0.Add(10 * time.Second))
	var waits []time.Duration
	for _, k := range []string{"c", "d", "e"} {
		slept := withSlept(ctx)
		require.NoError(t, b.guard.Do(slept, call(k), ok))
		waits = append(waits, *slept.Value(sleptKey{}).(*time.Duration))
	}
	require.Equal(t, []time.Duration{0, time.Second, 2 * time.Second}, waits)
	s := b.status(t)
	require.EqualValues(t, 3, s.Claimed)
	require.EqualValues(t, 5, s.Booked)
}

func TestStaleBookingIsBookedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "1/s", ClaimWindow: 30 * time.Second})
	b.clock.frozen = true
	ctx := context.Background()

	require.NoError(t, b.guard.Do(ctx, call("a"), ok))
	require.NoError(t, b.guard.Do(ctx, call("b"), ok))
	requireSnooze(t, b.guard.Do(ctx, call("c"), ok)) // slot t0+2s
	require.EqualValues(t, 3, b.status(t).Booked)

	// Back long after its slot: booking again keeps late crowds spaced.
	b.clock.Set(t0.Add(2*time.Second + 31*time.Second))
	require.NoError(t, b.guard.Do(ctx, call("c"), ok))
	s := b.status(t)
	require.EqualValues(t, 4, s.Booked)
	require.Zero(t, s.Claimed)
}

func TestBulkHorizonKeepsRoomForTransactional(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s", BulkHorizon: 2 * time.Second, MaxSleep: time.Second})
	b.clock.frozen = true
	ctx := context.Background()

	// A campaign floods the provider with bulk calls.
	booked := 0
	var refused *throttle.SnoozeError
	for i := range 100 {
		err := b.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: fmt.Sprint("bulk", i), Cost: 1, Lane: throttle.Bulk}, ok)
		if se, isSnooze := errors.AsType[*throttle.SnoozeError](err); isSnooze && se.Reason == "rate limit: bulk horizon full" {
			refused = se
			break
		}
		booked++
	}
	require.NotNil(t, refused, "bulk stops booking at the horizon")
	require.Equal(t, 20, booked, "2s of capacity at 10/s")
	require.ErrorIs(t, refused, throttle.ErrThrottled)
	require.Equal(t, t0.Add(100*time.Millisecond), refused.Until, "when one slot frees up")
	require.EqualValues(t, 20, b.status(t).Booked, "the refused call booked nothing")

	// A one-time password still gets a slot within the horizon.
	err := b.guard.Do(ctx, call("otp"), ok)
	se := requireSnooze(t, err)
	require.LessOrEqual(t, se.Delay, 2*time.Second)
	require.Equal(t, t0.Add(2*time.Second), se.Until)

	// Transactional calls may book past the horizon; bulk waits behind them.
	for i := range 5 {
		requireSnooze(t, b.guard.Do(ctx, call(fmt.Sprint("otp", i)), ok))
	}
	se = requireSnooze(t, b.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: "late-bulk", Lane: throttle.Bulk}, ok))
	require.Equal(t, "rate limit: bulk horizon full", se.Reason)
	require.Equal(t, t0.Add(700*time.Millisecond), se.Until)
}

func TestBulkCallLongerThanHorizonBooksWhenQueueIsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "100/s", CostBy: "message", BulkHorizon: 2 * time.Second})
	b.clock.frozen = true
	ctx := context.Background()

	big := throttle.Call{Provider: "sakari", Key: "batch1", Cost: 1000, Lane: throttle.Bulk} // 10s of capacity
	require.NoError(t, b.guard.Do(ctx, big, ok), "nothing queued: it goes now")
	big.Key = "batch2"
	se := requireSnooze(t, b.guard.Do(ctx, big, ok))
	require.Equal(t, "rate limit: bulk horizon full", se.Reason)
	require.Equal(t, t0.Add(10*time.Second), se.Until, "when the first batch's time is used up")
}

func TestRateLimitedWithRetryAfterPausesAllWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "50/s"})
	other := b.newGuard(t, "worker-2", throttle.ProviderConfig{Rate: "50/s"})
	ctx := context.Background()

	err := b.guard.Do(ctx, call("m1"), fail(err429(30*time.Second)))
	se := requireSnooze(t, err)
	require.Equal(t, t0.Add(30*time.Second), se.Until)
	require.False(t, throttle.IsFailure(err), "a 429 is not a failure")
	require.ErrorIs(t, err, providers.ErrRateLimited)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe, "the provider's error stays reachable")
	require.Equal(t, 30*time.Second, pe.RetryAfter)

	// The other worker does not call the provider until the pause ends.
	ran := false
	err = other.Do(ctx, call("m2"), func(context.Context) error { ran = true; return nil })
	se = requireSnooze(t, err)
	require.False(t, ran)
	require.Equal(t, t0.Add(30*time.Second), se.Until)
	require.ErrorIs(t, err, providers.ErrRateLimited)

	s := b.status(t)
	require.Equal(t, t0.Add(30*time.Second), s.HeldUntil)
	require.EqualValues(t, 1, s.Consecutive429)
	require.EqualValues(t, 1, s.RateLimited)
	require.Equal(t, "closed", s.LocalBreaker, "429s do not trip the breaker")

	b.clock.Set(t0.Add(30 * time.Second))
	require.NoError(t, other.Do(ctx, call("m2"), func(context.Context) error { ran = true; return nil }))
	require.True(t, ran)
}

func TestRateLimitedWithoutRetryAfterBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{BackoffBase: time.Second, BackoffMax: 8 * time.Second})
	ctx := context.Background()

	for n := 1; n <= 6; n++ {
		now := b.clock.Now()
		se := requireSnooze(t, b.guard.Do(ctx, call("m"), fail(err429(0))))
		ceiling := min(time.Second<<(n-1), 8*time.Second)
		require.GreaterOrEqual(t, se.Delay, ceiling/2, "429 #%d", n)
		require.LessOrEqual(t, se.Delay, ceiling, "429 #%d", n)
		require.Equal(t, now.Add(se.Delay), se.Until)
		require.EqualValues(t, n, b.status(t).Consecutive429)
		b.clock.Set(se.Until)
	}

	// Each success takes one step back.
	for want := 5; want >= 0; want-- {
		require.NoError(t, b.guard.Do(ctx, call("m"), ok))
		require.EqualValues(t, want, b.status(t).Consecutive429)
	}
	se := requireSnooze(t, b.guard.Do(ctx, call("m"), fail(err429(0))))
	require.LessOrEqual(t, se.Delay, time.Second, "back at the base after recovering")
}

func TestConcurrent429sEscalateOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{})
	other := b.newGuard(t, "worker-2", throttle.ProviderConfig{})
	ctx := context.Background()

	// Two calls in flight at once both get a 429: one back-off step.
	var started sync.WaitGroup
	started.Add(2)
	both := func(context.Context) error {
		started.Done()
		started.Wait()
		return err429(0)
	}
	var wg sync.WaitGroup
	for _, g := range []*throttle.Guard{b.guard, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, isSnooze := throttle.IsSnooze(g.Do(ctx, call("m"), both)); !isSnooze {
				t.Error("429 must snooze")
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, b.status(t).Consecutive429)
}

func TestCancelledWhileWaitingForSlot(t *testing.T) {
	t.Parallel()
	// MinRequests 1: were the aborted call counted as a failure, the
	// breaker would open.
	b := setup(t, throttle.ProviderConfig{Rate: "1/s", MinRequests: 1})
	require.NoError(t, b.guard.Do(context.Background(), call("a"), ok))

	// Shutdown arrives while the call waits for its slot.
	ctx, cancel := context.WithCancel(context.Background())
	b.clock.onSleep = cancel
	ran := false
	err := b.guard.Do(ctx, call("b"), func(context.Context) error { ran = true; return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, ran)
	require.False(t, throttle.IsFailure(err))
	require.Equal(t, "closed", b.status(t).LocalBreaker, "an aborted wait is no provider failure")
}

func TestUnlimitedProviderRunsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{})
	for i := range 20 {
		require.NoError(t, b.guard.Do(context.Background(), call(fmt.Sprint(i)), ok))
	}
	require.Equal(t, t0, b.clock.Now(), "never waited")
	s := b.status(t)
	require.EqualValues(t, 20, s.Granted)
	require.True(t, s.Rate.Unlimited())
}

func TestProviderErrorsPassThrough(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{Rate: "10/s"})
	err := b.guard.Do(context.Background(), call("m"), fail(errRecipient))
	require.ErrorIs(t, err, providers.ErrInvalidRecipient)
	_, isSnooze := throttle.IsSnooze(err)
	require.False(t, isSnooze)
	require.True(t, throttle.IsFailure(err))
}
