package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

// A call that waits in-process for its slot must not go out if, while it
// waited, another worker got a 429: the pause holds for it too.
func TestCallWaitingForItsSlotHonoursA429ThatArrivedMeanwhile(t *testing.T) {
	t.Parallel()
	pc := throttle.ProviderConfig{Rate: "2/s"}
	b := setup(t, pc)
	other := b.newGuard(t, "worker-2", pc)
	ctx := context.Background()
	require.NoError(t, b.guard.Do(ctx, call("m1"), ok))

	fired := false // Sleep runs on this goroutine only: no lock needed
	b.clock.onSleep = func() {
		if fired {
			return
		}
		fired = true
		err := other.Do(ctx, call("m-other"), fail(err429(10*time.Second)))
		requireSnooze(t, err)
	}
	ran := false
	err := b.guard.Do(ctx, call("m2"), func(context.Context) error { ran = true; return nil })
	se := requireSnooze(t, err)
	require.False(t, ran, "the call that was waiting did not reach the provider")
	require.ErrorIs(t, se, providers.ErrRateLimited)
	require.True(t, se.Until.After(b.clock.Now().Add(8*time.Second)))
}

// Likewise a breaker that opened while a call waited stops that call.
func TestCallWaitingForItsSlotHonoursABreakerThatOpenedMeanwhile(t *testing.T) {
	t.Parallel()
	pc := throttle.ProviderConfig{Rate: "2/s", MinRequests: 1, FailureRatio: 0.5}
	b := setup(t, pc)
	ctx := context.Background()
	require.NoError(t, b.guard.Do(ctx, call("m1"), ok))

	fired := false
	b.clock.onSleep = func() {
		if fired {
			return
		}
		fired = true
		// Same process: calls made meanwhile fail and trip the breaker.
		_ = b.guard.Do(ctx, throttle.Call{Provider: "sakari", Cost: 1}, fail(errRetryable))
		_ = b.guard.Do(ctx, throttle.Call{Provider: "sakari", Cost: 1}, fail(errRetryable))
	}
	ran := false
	err := b.guard.Do(ctx, call("m2"), func(context.Context) error { ran = true; return nil })
	requireSnooze(t, err)
	require.False(t, ran)
}
