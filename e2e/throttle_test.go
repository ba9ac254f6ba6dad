package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/hub"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// setupThrottle is setupHub with extra settings (throttle, retries).
func setupThrottle(t *testing.T, extra ...string) (*bundle, *hub.Hub, *throttle.Guard) {
	t.Helper()
	b, h := setupHub(t)
	b.environ = append(b.environ, extra...)
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	// A guard of our own reads the state every worker shares.
	g, err := app.Guard(cfg, b.redis.Client(), zerolog.Nop())
	require.NoError(t, err)
	return b, h, g
}

// failedRuns is asynq's count of task runs that counted as failures (and
// so moved a task towards its retry limit). Snoozes are not among them.
func failedRuns(t *testing.T, b *bundle) int {
	t.Helper()
	ins := asynq.NewInspector(b.redis.AsynqOpt())
	defer ins.Close()
	qi, err := ins.GetQueueInfo(tasks.QueueTransactional)
	require.NoError(t, err)
	return qi.FailedTotal
}

// sendTimes groups the keccel send requests the fake received by
// destination, in arrival order.
func sendTimes(t *testing.T, f sandbox.Fake) map[string][]time.Time {
	t.Helper()
	out := map[string][]time.Time{}
	for _, r := range f.Recorder().Requests() {
		if r.Path != "/sms/v2/message.asp" {
			continue
		}
		var body struct{ To string }
		require.NoError(t, json.Unmarshal(r.Body, &body))
		out[body.To] = append(out[body.To], r.At)
	}
	return out
}

func TestProviderRateLimitIsHonouredByEveryWorkerAndCostsNothing(t *testing.T) {
	t.Parallel()
	const retryAfter = 2 * time.Second
	b, h, g := setupThrottle(t)
	b.startWorker(t)
	b.startWorker(t) // a second worker: the pause must hold for it too
	ctx := context.Background()
	l := ledger.New(b.redis.Client(), ledger.Options{})
	h.Keccel.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "2"})

	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243812340001", "-m", "first", "--id", "rl-1"))
	// The 429 is recorded for every worker once the first worker has it.
	var held time.Time
	require.Eventually(t, func() bool {
		st, err := g.Status(ctx, "keccel")
		held = st.HeldUntil
		return err == nil && !held.IsZero()
	}, 60*time.Second, 10*time.Millisecond)

	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243812340002", "-m", "second", "--id", "rl-2"))
	require.Eventually(t, func() bool {
		return len(sendTimes(t, h.Keccel)["243812340002"]) > 0 && len(sendTimes(t, h.Keccel)["243812340001"]) >= 3
	}, 60*time.Second, 20*time.Millisecond, "both messages keep trying")

	calls := sendTimes(t, h.Keccel)
	require.False(t, calls["243812340002"][0].Before(held),
		"a message queued during the pause waits for its end: called %s, pause until %s", calls["243812340002"][0], held)
	for to, ts := range calls {
		for i := 1; i < len(ts); i++ {
			require.GreaterOrEqual(t, ts[i].Sub(ts[i-1]), retryAfter, "%s called again before Retry-After", to)
		}
	}
	for _, id := range []string{"rl-1", "rl-2"} {
		rec, err := l.Get(ctx, id)
		require.NoError(t, err)
		require.NotEqual(t, ledger.Failed, rec.State, id)
		require.Zero(t, rec.Attempts, "%s: a call answered 429 is not charged", id)
	}
	require.Zero(t, failedRuns(t, b), "a 429 is not a failure")
	st, err := g.Status(ctx, "keccel")
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.RateLimited, int64(4))

	h.Keccel.Faults().Set(sandbox.Faults{})
	for _, id := range []string{"rl-1", "rl-2"} {
		rec := b.waitState(t, id, ledger.Submitted)
		require.Equal(t, 1, rec.Attempts, "%s: only the accepted call is charged", id)
	}
	require.Zero(t, failedRuns(t, b))
	require.Equal(t, 2, h.Keccel.Recorder().AcceptedCount())
}

func TestOpenBreakerSnoozesMessagesUntilTheProviderRecovers(t *testing.T) {
	t.Parallel()
	b, h, g := setupThrottle(t,
		"SMSQ_SEND__RETRY_BASE=200ms",
		"SMSQ_SEND__RETRY_MAX=1s",
		"SMSQ_PROVIDERS__KECCEL__THROTTLE__MIN_REQUESTS=3",
		"SMSQ_PROVIDERS__KECCEL__THROTTLE__OPEN_TIMEOUT=3s",
	)
	ctx := context.Background()
	l := ledger.New(b.redis.Client(), ledger.Options{})
	h.Keccel.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	b.startWorker(t)
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("br-%d", i)
		require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", fmt.Sprintf("+24381234%04d", i), "-m", "m", "--id", ids[i]))
	}

	var st throttle.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = g.Status(ctx, "keccel")
		return err == nil && st.Breaker.State == "open"
	}, 60*time.Second, 10*time.Millisecond, "the breaker opens")
	require.Equal(t, "closed", st.Breaker.From)
	// While open, the messages wait: snoozed, not failed.
	snoozed := st.Snoozed
	require.Eventually(t, func() bool {
		st, err := g.Status(ctx, "keccel")
		return err == nil && st.Snoozed > snoozed
	}, 60*time.Second, 10*time.Millisecond, "messages meet the open breaker and are snoozed")
	for _, id := range ids {
		rec, err := l.Get(ctx, id)
		require.NoError(t, err)
		require.NotEqual(t, ledger.Failed, rec.State, id)
	}

	h.Keccel.Faults().Set(sandbox.Faults{})
	attempts := 0
	for _, id := range ids {
		rec := b.waitState(t, id, ledger.Submitted)
		attempts += rec.Attempts
	}
	// Every attempt charged is a call the provider really answered 503,
	// plus the one accepted call per message; open-breaker snoozes cost
	// nothing, in the ledger and in asynq.
	served5xx := h.Keccel.Faults().Injected()["5xx"]
	require.Equal(t, n+served5xx, attempts)
	require.Equal(t, served5xx, failedRuns(t, b))
	require.Equal(t, n, h.Keccel.Recorder().AcceptedCount())
	st, err := g.Status(ctx, "keccel")
	require.NoError(t, err)
	require.Equal(t, "closed", st.Breaker.State, "the breaker closes after a successful probe")
}

func TestRateLimitedCallsDoNotUseUpAttempts(t *testing.T) {
	t.Parallel()
	// Three attempts: the 429s below would use them all up if charged.
	b, h, _ := setupThrottle(t, "SMSQ_SEND__MAX_ATTEMPTS=3")
	b.startWorker(t)
	faults := h.Keccel.Faults()
	faults.Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "1"})
	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243812340003", "-m", "m", "--id", "rl-budget"))
	require.Eventually(t, func() bool { return faults.Injected()["429"] >= 2 }, 60*time.Second, 10*time.Millisecond)
	// Then one real failure, which is charged.
	faults.Set(sandbox.Faults{ServerErrorRate: 1})
	require.Eventually(t, func() bool { return faults.Injected()["5xx"] >= 1 }, 60*time.Second, 10*time.Millisecond)
	faults.Set(sandbox.Faults{})

	rec := b.waitState(t, "rl-budget", ledger.Submitted)
	require.Equal(t, 1+faults.Injected()["5xx"], rec.Attempts, "the 503s and the accepted call; no 429")
	require.Equal(t, faults.Injected()["5xx"], failedRuns(t, b))
}
