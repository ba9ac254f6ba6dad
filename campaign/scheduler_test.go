package campaign

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
)

// runNext moves the fake clock to when the first queued block task is
// due, checks that it is due at want, and runs it: it must neither fail
// nor snooze.
func (b *bundle) runNext(h *Handler, id string, want time.Time) {
	b.t.Helper()
	q := b.queued()
	require.Len(b.t, q, 1)
	require.Equal(b.t, id, q[0].ID)
	require.True(b.t, q[0].NextProcessAt.Equal(want), "task %s due at %s, want %s", id, q[0].NextProcessAt, want)
	b.clock.Set(q[0].NextProcessAt)
	require.Equal(b.t, 1, b.runDue(h))
	b.mu.Lock()
	last := b.runs[len(b.runs)-1]
	b.mu.Unlock()
	require.NoError(b.t, last.Err, "task %s", id)
}

func TestBlockTaskIsDueASecondAheadAndSendsAtTheExactStart(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{start: time.Date(2031, 3, 3, 8, 59, 30, 0, time.UTC)})
	b.create(Definition{ID: "ahead", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
		SMSPerBlock: 10, MinutesPerBlock: 1}}, csvOf(20), CreateOptions{})
	_, err := b.scheduler().Tick(context.Background())
	require.NoError(t, err)
	h := b.handler(nil)

	// Due at 08:59:59: the queue sees whole seconds and moves due tasks
	// only now and then, so a task due at 09:00:00 would start late. The
	// handler waits out the last second itself.
	t0 := time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC)
	b.runNext(h, "ahead:0", t0.Add(-time.Second))
	// The handler enqueued block 1 the same way.
	b.runNext(h, "ahead:1", t0.Add(time.Minute-time.Second))

	at := b.acceptedAt()
	require.Len(t, at, 20)
	for i := range 20 {
		want := t0.Add(time.Duration(i/10) * time.Minute)
		require.True(t, at[number(i)].Equal(want), "recipient %d sent at %s, want %s", i, at[number(i)], want)
	}
}

func TestBlockWithASubSecondStartIsDueInTheSecondBefore(t *testing.T) {
	t.Parallel()
	// start_date has passed: block 0 starts when the scheduler sees the
	// campaign, at 09:00:30.700, and block 1 a minute later.
	now := time.Date(2031, 3, 3, 9, 0, 30, 700_000_000, time.UTC)
	b := setup(t, setupOptions{start: now})
	b.create(Definition{ID: "offset", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
		SMSPerBlock: 10, MinutesPerBlock: 1}}, csvOf(20), CreateOptions{})
	_, err := b.scheduler().Tick(context.Background())
	require.NoError(t, err)
	h := b.handler(nil)

	b.runNext(h, "offset:0", now.Add(-time.Second).Truncate(time.Second))
	// 09:01:29.700 is kept as 09:01:29: up to two seconds ahead, which
	// the handler still waits out rather than snoozing.
	b.runNext(h, "offset:1", now.Add(time.Minute-time.Second).Truncate(time.Second))

	at := b.acceptedAt()
	require.Len(t, at, 20)
	for i := range 20 {
		want := now.Add(time.Duration(i/10) * time.Minute)
		require.True(t, at[number(i)].Equal(want), "recipient %d sent at %s, want %s", i, at[number(i)], want)
	}
}
