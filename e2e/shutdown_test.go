package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
)

// TestGracefulShutdownFinishesInFlightSends stops a worker while a provider
// call is in flight: the call completes and is recorded before Run returns.
func TestGracefulShutdownFinishesInFlightSends(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	b.keccel.Faults().Set(sandbox.Faults{Latency: 1500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunWorker(ctx, b.cfg, &syncBuffer{}, app.WorkerOptions{}) }()

	var acc tasks.Accepted
	require.Zero(t, b.enqueue(t, &acc, "send", "-p", "keccel", "-t", "+243812345678", "-m", "slow", "--id", "inflight-1"))
	require.Eventually(t, func() bool { return b.keccel.Recorder().Calls() >= 1 }, 30*time.Second, 5*time.Millisecond)
	cancel() // SIGTERM equivalent while the provider is still answering
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("worker did not stop")
	}
	rec, err := ledger.New(b.redis.Client(), ledger.Options{}).Get(context.Background(), "inflight-1")
	require.NoError(t, err)
	require.True(t, reached(rec.State, ledger.Submitted), "the in-flight send finished before shutdown completed")
	require.Equal(t, 1, b.keccel.Recorder().AcceptedCount())
}
