package delivery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

func TestAfterSubmitSchedulesTheFirstPoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	ctx := context.Background()

	rec := f.submitted(t, "m1", "keccel", "1000001")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	info := f.pollTask(t, "poll:m1:0")
	require.NotNil(t, info)
	require.Equal(t, tasks.TypePoll, info.Type)
	require.Equal(t, asynq.TaskStateScheduled, info.State)
	require.Equal(t, f.clock.Now().Add(30*time.Second).Unix(), info.NextProcessAt.Unix(), "first poll 30 s after submission")
	require.Empty(t, f.pendingPoll("m1"), "the first poll's id is known without a key (a push still cancels it: TestPushCancelsThePendingPoll)")

	// A second run of the hook (a worker retry) does not add a second poll.
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))

	// Nothing to poll: a provider without a status endpoint, or no id.
	kandy := f.submitted(t, "m2", "kandy", "kd-1")
	require.NoError(t, f.svc.AfterSubmit(ctx, kandy))
	require.Nil(t, f.pollTask(t, "poll:m2:0"))
	noID := f.submitted(t, "m3", "keccel", "")
	require.NoError(t, f.svc.AfterSubmit(ctx, noID))
	require.Nil(t, f.pollTask(t, "poll:m3:0"))
}

func TestFirstPollNeverLaterThanTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Expiry = 10 * time.Second })
	rec := f.submitted(t, "m1", "keccel", "1000001")
	require.NoError(t, f.svc.AfterSubmit(context.Background(), rec))
	info := f.pollTask(t, "poll:m1:0")
	require.NotNil(t, info)
	require.Equal(t, f.clock.Now().Add(10*time.Second).Unix(), info.NextProcessAt.Unix())
}

func TestHandlePoll(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	type want struct {
		err      error // matched with errors.Is; nil: success
		snoozed  bool
		state    ledger.State
		lastErr  string
		note     string
		next     time.Duration // delay of the next poll from the clock; 0: none
		source   ledger.Source // of the last transition; "": not checked
		polled   bool
		pollKept bool // the pending-poll key names a later poll (the first one needs no key)
	}
	cases := []struct {
		name  string
		setup func(f *fixture, id string)
		// advance moves the clock before the poll runs.
		advance time.Duration
		want    want
	}{
		{
			name:  "delivered is recorded from the poll",
			setup: func(f *fixture, _ string) { f.poller.answer("p1", providers.DeliveryDelivered, "DELIVERED", "") },
			want:  want{state: ledger.Delivered, source: ledger.SourcePoll, note: "DELIVERED", polled: true},
		},
		{
			name:  "failed keeps the provider's reason",
			setup: func(f *fixture, _ string) { f.poller.answer("p1", providers.DeliveryFailed, "undelivered", "MSG-019") },
			want:  want{state: ledger.Failed, source: ledger.SourcePoll, note: "undelivered", lastErr: "MSG-019", polled: true},
		},
		{
			name:  "failed without a reason names the status",
			setup: func(f *fixture, _ string) { f.poller.answer("p1", providers.DeliveryFailed, "FAILED", "") },
			want:  want{state: ledger.Failed, source: ledger.SourcePoll, note: "FAILED", lastErr: "provider reported FAILED", polled: true},
		},
		{
			name:  "pending schedules the next step",
			setup: func(f *fixture, _ string) { f.poller.answer("p1", providers.DeliveryPending, "PENDING", "") },
			want:  want{state: ledger.Submitted, source: ledger.SourceWorker, next: 2 * time.Minute, polled: true, pollKept: true},
		},
		{
			name:  "unknown id is asked again later",
			setup: func(f *fixture, _ string) { f.poller.answer("p1", providers.DeliveryUnknown, "ERROR", "") },
			want:  want{state: ledger.Submitted, next: 2 * time.Minute, polled: true, pollKept: true},
		},
		{
			name:    "pending at the deadline expires",
			setup:   func(f *fixture, _ string) {},
			advance: 72 * time.Hour,
			want:    want{state: ledger.Expired, source: ledger.SourcePoll, polled: true},
		},
		{
			name:    "next poll is not later than the deadline",
			setup:   func(f *fixture, _ string) {},
			advance: 72*time.Hour - time.Minute,
			want:    want{state: ledger.Submitted, next: time.Minute, polled: true, pollKept: true},
		},
		{
			name: "retryable error is retried by asynq",
			setup: func(f *fixture, _ string) {
				f.poller.fail(&providers.Error{Class: providers.ClassRetryable, Provider: "keccel", HTTPStatus: 503})
			},
			want: want{err: providers.ErrRetryable, state: ledger.Submitted, polled: true},
		},
		{
			name: "permanent error keeps to the schedule",
			setup: func(f *fixture, _ string) {
				f.poller.fail(&providers.Error{Class: providers.ClassAuth, Provider: "keccel", HTTPStatus: 401})
			},
			want: want{state: ledger.Submitted, next: 2 * time.Minute, polled: true, pollKept: true},
		},
		{
			name: "error at the deadline expires",
			setup: func(f *fixture, _ string) {
				f.poller.fail(&providers.Error{Class: providers.ClassRetryable, Provider: "keccel"})
			},
			advance: 73 * time.Hour,
			want:    want{state: ledger.Expired, source: ledger.SourcePoll, polled: true},
		},
		{
			name: "paused provider snoozes without polling",
			setup: func(f *fixture, _ string) {
				require.NoError(t, f.guard.Pause(context.Background(), "keccel", "maintenance"))
			},
			want: want{err: throttle.ErrPaused, snoozed: true, state: ledger.Submitted},
		},
		{
			name: "already final: nothing to do",
			setup: func(f *fixture, id string) {
				_, err := f.led.Transition(context.Background(), id, ledger.Delivered, ledger.Update{Source: ledger.SourceCallback})
				require.NoError(t, err)
			},
			want: want{state: ledger.Delivered, source: ledger.SourceCallback},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, srv, nil)
			ctx := context.Background()
			// Message ids are unique per case: the asynq queue is shared.
			id := f.prefix + "m"
			rec := f.submitted(t, id, "keccel", "p1")
			require.NoError(t, f.svc.AfterSubmit(ctx, rec))
			tc.setup(f, id)
			f.clock.Advance(tc.advance)

			err := f.poll(t, "poll:"+id+":0")
			if tc.want.err != nil {
				require.ErrorIs(t, err, tc.want.err)
			} else {
				require.NoError(t, err)
			}
			_, snoozed := throttle.IsSnooze(err)
			require.Equal(t, tc.want.snoozed, snoozed)
			require.Equal(t, tc.want.polled, f.poller.calls.Load() > 0, "provider called")

			got := f.state(t, id)
			require.Equal(t, tc.want.state, got.State)
			require.Equal(t, tc.want.lastErr, got.LastError)
			last := lastTransition(got)
			if tc.want.source != "" {
				require.Equal(t, tc.want.source, last.Source)
			}
			if tc.want.note != "" {
				require.Equal(t, tc.want.note, last.Note)
			}
			next := f.pollTask(t, "poll:"+id+":1")
			if tc.want.next == 0 {
				require.Nil(t, next, "no further poll")
			} else {
				require.NotNil(t, next)
				require.Equal(t, f.clock.Now().Add(tc.want.next).Unix(), next.NextProcessAt.Unix())
			}
			require.Equal(t, tc.want.pollKept, f.pendingPoll(id) != "", "pending-poll key")
		})
	}
}

func TestExpiryNoteSaysWhy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Expiry = time.Hour })
	rec := f.submitted(t, "m1", "keccel", "p1")
	require.NoError(t, f.svc.AfterSubmit(context.Background(), rec))
	f.clock.Advance(time.Hour)
	require.NoError(t, f.poll(t, "poll:m1:0"))
	got := f.state(t, "m1")
	require.Equal(t, ledger.Expired, got.State)
	require.Equal(t, ledger.SourcePoll, lastTransition(got).Source)
	require.Contains(t, lastTransition(got).Note, "no final delivery report within 1h0m0s")
}

func TestPollChainFollowsTheScheduleToTheEnd(t *testing.T) {
	t.Parallel()
	sched := delivery.Schedule{Steps: []time.Duration{time.Second, 2 * time.Second}, Every: 3 * time.Second}
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Schedule = sched; o.Expiry = 10 * time.Second })
	ctx := context.Background()
	rec := f.submitted(t, "m1", "sakari", "s1")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	submitted := f.clock.Now()
	// Polls at +1, +3, +6, +9, then the deadline +10: expired.
	wantAt := []time.Duration{time.Second, 3 * time.Second, 6 * time.Second, 9 * time.Second, 10 * time.Second}
	for n, at := range wantAt {
		info := f.pollTask(t, tasks.PollTaskID("m1", n))
		require.NotNil(t, info, "poll %d", n)
		require.Equal(t, submitted.Add(at).Unix(), info.NextProcessAt.Unix(), "poll %d", n)
		f.clock.Advance(submitted.Add(at).Sub(f.clock.Now()))
		require.NoError(t, f.svc.HandlePoll(ctx, asynq.NewTask(info.Type, info.Payload)))
		// The finished poll's task would be removed by asynq on success.
		require.NoError(t, f.insp.DeleteTask(tasks.QueueDelivery, info.ID))
	}
	require.Equal(t, ledger.Expired, f.state(t, "m1").State)
	require.Nil(t, f.pollTask(t, tasks.PollTaskID("m1", len(wantAt))))
	require.Equal(t, int32(len(wantAt)), f.poller.calls.Load())
	require.Empty(t, f.pendingPoll("m1"))
}

func TestUndecodablePollIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	err := f.svc.HandlePoll(context.Background(), asynq.NewTask(tasks.TypePoll, []byte("{not json")))
	require.True(t, errors.Is(err, asynq.SkipRetry))
}

func TestPollForAMessageGoneFromTheLedgerIsDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	task, err := tasks.NewPollTask(tasks.PollPayload{ID: "gone", Provider: "keccel", ProviderID: "p"}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.svc.HandlePoll(context.Background(), task))
	require.Zero(t, f.poller.calls.Load())
}
