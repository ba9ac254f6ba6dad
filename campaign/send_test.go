package campaign

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/keccel"
	"github.com/smsq/smsq/sandbox"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

var madrid = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		panic(err)
	}
	return loc
}()

func TestThreeBlocksOneMinuteApart(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{start: time.Date(2031, 3, 3, 8, 59, 30, 0, madrid)})
	rep := b.create(Definition{ID: "spring", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "Europe/Madrid",
		SMSPerBlock: 1000, MinutesPerBlock: 1}}, csvOf(2500), CreateOptions{})
	require.Equal(t, 2500, rep.Sendable)
	require.Equal(t, 3, rep.Blocks)

	h := b.handler(nil)
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("spring", Done))

	// Three push calls, none over the cap, every recipient exactly once.
	require.Equal(t, 3, b.fake.Calls(sbconectaline.PathMultiple)+b.fake.Calls(sbconectaline.PathSimple))
	require.LessOrEqual(t, b.fake.MaxRecipientsPerCall(), 1000)
	at := b.acceptedAt()
	require.Len(t, at, 2500)

	// Block k went out at 09:00 + k minutes, all of it at once.
	t0 := time.Date(2031, 3, 3, 9, 0, 0, 0, madrid)
	for i := range 2500 {
		want := t0.Add(time.Duration(i/1000) * time.Minute)
		require.True(t, at[number(i)].Equal(want), "recipient %d sent at %s, want %s", i, at[number(i)], want)
	}
	c := b.get("spring")
	require.True(t, c.FirstBlockStart.Equal(t0))
	require.True(t, c.LastBlockStart.Equal(t0.Add(2*time.Minute)))
	require.Equal(t, int64(2500), c.Counts["submitted"])
	require.Equal(t, int64(0), c.Counts["pending"])
	require.Equal(t, 3, c.BlocksDone)
	require.False(t, c.Finished.IsZero())
}

// slowSender makes every provider call take d of fake time, after the
// provider accepted it.
type slowSender struct {
	providers.BatchSender
	clock *clock
	d     time.Duration
	calls atomic.Int32
	// after, when set, runs after call n (1-based) returns.
	after func(n int)
}

func (s *slowSender) SendBatch(ctx context.Context, ms []providers.Message) ([]providers.BatchResult, error) {
	res, err := s.BatchSender.SendBatch(ctx, ms)
	s.clock.Advance(s.d)
	n := int(s.calls.Add(1))
	if s.after != nil {
		s.after(n)
	}
	return res, err
}

func TestBlockCutOffAtIntervalEndResumesAtNextInterval(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{start: time.Date(2031, 3, 3, 8, 55, 0, 0, madrid), maxBatch: 100})
	spec := pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "Europe/Madrid", SMSPerBlock: 1000, MinutesPerBlock: 30,
		TimeIntervals: "09:00-09:01,10:00-11:00"}
	b.create(Definition{ID: "straddle", Pacing: spec}, csvOf(2000), CreateOptions{})
	plan, err := pacing.Parse(spec)
	require.NoError(t, err)

	// Each call of 100 recipients takes 10 s: block 0 needs 100 s, but its
	// window closes after 60.
	slow := &slowSender{BatchSender: b.client, clock: b.clock, d: 10 * time.Second}
	h := b.handler(slow)
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("straddle", Done))

	at := b.acceptedAt()
	require.Len(t, at, 2000)
	for n, when := range at {
		require.True(t, plan.Allowed(when), "%s sent at %s, outside the allowed windows", n, when)
	}
	nine, ten := time.Date(2031, 3, 3, 9, 0, 0, 0, madrid), time.Date(2031, 3, 3, 10, 0, 0, 0, madrid)
	// Block 0: six calls fit 09:00:00-09:00:50; the rest waits for 10:00.
	for i := range 1000 {
		when := at[number(i)]
		if i < 600 {
			require.True(t, when.Equal(nine.Add(time.Duration(i/100)*10*time.Second)), "recipient %d at %s", i, when)
		} else {
			require.True(t, when.Equal(ten.Add(time.Duration(i/100-6)*10*time.Second)), "recipient %d at %s", i, when)
		}
	}
	// Block 1 was due at 09:30 (not allowed, so 10:00), but waits for the
	// cut-off block 0 to finish first.
	lastOf0 := at[number(999)]
	for i := 1000; i < 2000; i++ {
		require.True(t, at[number(i)].After(lastOf0), "recipient %d of block 1 went before block 0 finished", i)
	}
	require.Equal(t, 20, int(slow.calls.Load()))
}

func TestTwoSchedulersClaimEachBlockOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.create(Definition{ID: "twice", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
		SMSPerBlock: 100, MinutesPerBlock: 5}}, csvOf(300), CreateOptions{})
	s1, s2 := b.scheduler(), b.scheduler()
	ctx := context.Background()

	// Both ignore the lease and race: the claim lets one enqueue block 0.
	var wins atomic.Int32
	done := make(chan struct{})
	for _, s := range []*Scheduler{s1, s2} {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				c, err := b.store.Get(ctx, "twice")
				require.NoError(t, err)
				ok, err := s.d.advance(ctx, c, b.clock.Now())
				require.NoError(t, err)
				if ok {
					wins.Add(1)
				}
			}
		}()
	}
	<-done
	<-done
	require.Equal(t, int32(1), wins.Load())
	q := b.queued()
	require.Len(t, q, 1)
	require.Equal(t, "twice:0", q[0].ID)

	// With the lease only one of them leads at a time.
	l1, err := s1.Tick(ctx)
	require.NoError(t, err)
	l2, err := s2.Tick(ctx)
	require.NoError(t, err)
	require.NotEqual(t, l1, l2)
}

func TestTwoSchedulersAndTwoWorkersSendEveryRecipientOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{maxBatch: 100})
	b.create(Definition{ID: "both", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
		SMSPerBlock: 250, MinutesPerBlock: 1}}, csvOf(2000), CreateOptions{})
	h1, h2 := b.handler(nil), b.handler(nil)
	s1, s2 := b.scheduler(), b.scheduler()

	// Two "processes", each a scheduler plus a worker, interleaved on the
	// same queue; the second one's scheduler ignores the lease.
	ctx := context.Background()
	for step := 0; step < 5000 && b.get("both").State != Done; step++ {
		_, err := s1.Tick(ctx)
		require.NoError(t, err)
		require.NoError(t, s2.round(ctx))
		if b.runDue(h1)+b.runDue(h2) > 0 {
			continue
		}
		if q := b.queued(); len(q) > 0 && q[0].NextProcessAt.After(b.clock.Now()) {
			b.clock.Set(q[0].NextProcessAt)
		} else {
			b.clock.Advance(250 * time.Millisecond)
		}
	}
	require.Equal(t, Done, b.get("both").State)
	per := b.fake.Recorder().PerDestination()
	require.Len(t, per, 2000)
	for n, count := range per {
		require.Equal(t, 1, count, "%s sent %d times", n, count)
	}
	require.LessOrEqual(t, b.fake.MaxRecipientsPerCall(), 100)
}

func TestPauseResumeCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("pause before the next block, then resume", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOptions{})
		b.create(Definition{ID: "p", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
			SMSPerBlock: 1000, MinutesPerBlock: 10}}, csvOf(3000), CreateOptions{})
		h, s := b.handler(nil), b.scheduler()
		b.drive(h, []*Scheduler{s}, func() bool { return b.get("p").BlocksDone == 1 })
		_, err := b.store.Pause(ctx, "p")
		require.NoError(t, err)

		b.until(h, []*Scheduler{s}, time.Hour)
		c := b.get("p")
		require.Equal(t, Paused, c.State)
		require.Equal(t, 1000, b.fake.Recorder().AcceptedCount())
		require.Equal(t, int64(1000), c.Counts["submitted"])
		require.Equal(t, int64(2000), c.Counts["pending"])

		_, err = b.store.Resume(ctx, "p")
		require.NoError(t, err)
		b.drive(h, []*Scheduler{s}, b.stateIs("p", Done))
		require.Len(t, b.acceptedAt(), 3000)
		require.Equal(t, int64(3000), b.get("p").Counts["submitted"])
	})

	t.Run("pause takes effect before the next batch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOptions{maxBatch: 100})
		b.create(Definition{ID: "mid", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
			SMSPerBlock: 1000, MinutesPerBlock: 10}}, csvOf(1000), CreateOptions{})
		slow := &slowSender{BatchSender: b.client, clock: b.clock}
		slow.after = func(n int) {
			if n == 3 {
				_, err := b.store.Pause(ctx, "mid")
				require.NoError(t, err)
			}
		}
		h, s := b.handler(slow), b.scheduler()
		b.until(h, []*Scheduler{s}, time.Hour)
		c := b.get("mid")
		require.Equal(t, Paused, c.State)
		require.Equal(t, 300, b.fake.Recorder().AcceptedCount())
		require.Equal(t, int64(300), c.Counts["submitted"])
		require.Equal(t, int64(700), c.Counts["pending"])

		_, err := b.store.Resume(ctx, "mid")
		require.NoError(t, err)
		b.drive(h, []*Scheduler{s}, b.stateIs("mid", Done))
		require.Len(t, b.acceptedAt(), 1000)
	})

	t.Run("cancel stops for good", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOptions{})
		b.create(Definition{ID: "c", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
			SMSPerBlock: 1000, MinutesPerBlock: 10}}, csvOf(2000), CreateOptions{})
		h, s := b.handler(nil), b.scheduler()
		b.drive(h, []*Scheduler{s}, func() bool { return b.get("c").BlocksDone == 1 })
		_, err := b.store.Cancel(ctx, "c")
		require.NoError(t, err)
		b.until(h, []*Scheduler{s}, time.Hour)

		c := b.get("c")
		require.Equal(t, Cancelled, c.State)
		require.Equal(t, int64(1000), c.Counts["submitted"])
		require.Equal(t, int64(1000), c.Counts["pending"])
		require.Equal(t, 1000, b.fake.Recorder().AcceptedCount())
		_, err = b.store.Resume(ctx, "c")
		require.ErrorIs(t, err, ErrState)
		active, err := b.store.activeIDs(ctx)
		require.NoError(t, err)
		require.NotContains(t, active, "c")
	})
}

// crashingSender lets the provider accept call n, then fails as a worker
// killed before it could record the answer.
type crashingSender struct {
	providers.BatchSender
	n, calls int
}

func (s *crashingSender) SendBatch(ctx context.Context, ms []providers.Message) ([]providers.BatchResult, error) {
	res, err := s.BatchSender.SendBatch(ctx, ms)
	s.calls++
	if s.calls == s.n {
		return nil, context.Canceled
	}
	return res, err
}

func TestCrashMidBlockResendsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{maxBatch: 100})
	b.create(Definition{ID: "crash", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		csvOf(300), CreateOptions{BlockSize: 300})
	ctx := context.Background()
	s := b.scheduler()
	_, err := s.Tick(ctx)
	require.NoError(t, err)
	b.clock.Set(time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC))

	crashing := b.handler(&crashingSender{BatchSender: b.client, n: 2})
	require.Equal(t, 1, b.runDue(crashing))
	require.ErrorIs(t, b.runs[0].Err, context.Canceled)
	for i, want := range map[int]RecipientState{0: Submitted, 99: Submitted, 100: Sending, 199: Sending, 200: Pending} {
		got, err := b.store.State(ctx, "crash", i)
		require.NoError(t, err)
		require.Equal(t, want, got, "recipient %d", i)
	}

	// The rerun marks the stuck recipients unknown and sends them again.
	b.drive(b.handler(nil), []*Scheduler{s}, b.stateIs("crash", Done))
	per := b.fake.Recorder().PerDestination()
	for i := range 300 {
		want := 1
		if i >= 100 && i < 200 {
			want = 2 // the provider got them before the crash, and again
		}
		require.Equal(t, want, per[number(i)], "recipient %d", i)
	}
	c := b.get("crash")
	require.Equal(t, int64(300), c.Counts["submitted"])
	require.Equal(t, int64(0), c.Counts["unknown"]+c.Counts["sending"])
	require.Equal(t, int64(100), c.Resent)
}

func TestRetryableFailuresFailRecipientsAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.create(Definition{ID: "down", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		csvOf(10), CreateOptions{})
	b.fake.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	h := b.handler(nil) // MaxAttempts 3
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("down", Done))
	c := b.get("down")
	require.Equal(t, int64(10), c.Counts["failed"])
	require.Equal(t, 0, b.fake.Recorder().AcceptedCount())
	var errs int
	for _, r := range b.runs {
		if r.Err != nil {
			errs++
		}
	}
	require.Equal(t, 2, errs, "two retried runs, the third attempt gives up")
}

func TestRealQueueTwoSchedulersAndTwoWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{maxBatch: 250})
	// Real time here: two asynq servers and two scheduler loops run at once.
	now := time.Now().UTC()
	b.create(Definition{ID: "live", Pacing: pacing.Spec{StartDate: now.Format("2006-01-02 15:04"), TimeZone: "UTC"}},
		csvOf(3000), CreateOptions{BlockSize: 500})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		h, err := NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"conectaline": b.client},
			Guard: b.guard, Enqueuer: b.aq})
		require.NoError(t, err)
		srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
			Concurrency: 4, Queues: map[string]int{tasks.QueueBulk: 1},
			IsFailure: throttle.IsFailure, RetryDelayFunc: throttle.RetryDelayFunc(100*time.Millisecond, time.Second),
			TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
			LogLevel: asynq.FatalLevel,
		})
		mux := asynq.NewServeMux()
		mux.Handle(tasks.TypeBlock, h)
		require.NoError(t, srv.Start(mux))
		defer srv.Shutdown()
		s := NewScheduler(b.store, b.aq, SchedulerOptions{Tick: 20 * time.Millisecond})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx)
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for b.get("live").State != Done && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	require.Equal(t, Done, b.get("live").State)
	per := b.fake.Recorder().PerDestination()
	require.Len(t, per, 3000)
	for n, count := range per {
		require.Equal(t, 1, count, "%s sent %d times", n, count)
	}
	require.LessOrEqual(t, b.fake.MaxRecipientsPerCall(), 250)
	require.Equal(t, 12, b.fake.Calls(sbconectaline.PathMultiple))
}

func TestSingleSendProviderRecordsProviderIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	fake := sbkeccel.New(sbkeccel.Options{Now: b.clock.Now})
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = fake.Close() })
	client, err := keccel.New(keccel.Options{BaseURL: hs.URL + sbkeccel.BasePath, Token: sbkeccel.DefaultToken,
		From: sbkeccel.DefaultFrom}, providers.Deps{Now: b.clock.Now})
	require.NoError(t, err)
	guard, err := throttle.New(b.rdb, throttle.Config{Providers: map[string]throttle.ProviderConfig{"keccel": {}},
		Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)
	polls, err := NewPoller(PollerOptions{Store: b.store, Queue: b.aq, Now: b.clock.Now})
	require.NoError(t, err)
	h, err := NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"keccel": client},
		Guard: guard, Enqueuer: b.aq, Polls: polls, Parallel: 4, Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)

	file := csvOf(20) + number(20)[:len(number(20))-6] + "666666,Unreachable\n"
	b.create(Definition{ID: "k", Provider: "keccel", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		file, CreateOptions{})
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("k", Done))

	c := b.get("k")
	require.Equal(t, int64(20), c.Counts["submitted"])
	require.Equal(t, int64(1), c.Counts["rejected"])
	require.Equal(t, 21, fake.Recorder().Calls())
	ctx := context.Background()
	for _, a := range fake.Recorder().Accepted() {
		require.NotEmpty(t, a.ID)
		id, idx, ok, err := b.store.LookupProviderID(ctx, "keccel", a.ID)
		require.NoError(t, err)
		require.True(t, ok, a.ID)
		require.Equal(t, c.ID, id)
		// The Keccel fake records numbers without the "+".
		require.Equal(t, strings.TrimPrefix(number(idx), "+"), strings.TrimPrefix(a.To, "+"))
	}
}

func TestNoBurstAfterDowntime(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{start: time.Date(2031, 3, 3, 8, 59, 0, 0, time.UTC)})
	b.create(Definition{ID: "down", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
		SMSPerBlock: 100, MinutesPerBlock: 1}}, csvOf(400), CreateOptions{})
	h, s := b.handler(nil), b.scheduler()
	b.drive(h, []*Scheduler{s}, func() bool { return b.get("down").BlocksDone == 1 })

	// Everything is down from 09:00 until 09:30: block 1 (due 09:01) and
	// block 2 (due 09:02) were missed.
	nine := time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC)
	b.clock.Set(nine.Add(30 * time.Minute))
	b.drive(h, []*Scheduler{s}, b.stateIs("down", Done))

	at := b.acceptedAt()
	for i, want := range []time.Time{nine, nine.Add(30 * time.Minute), nine.Add(31 * time.Minute), nine.Add(32 * time.Minute)} {
		for j := i * 100; j < (i+1)*100; j++ {
			require.True(t, at[number(j)].Equal(want), "block %d: recipient %d at %s, want %s", i, j, at[number(j)], want)
		}
	}
}

// lockWatcher enqueues through the test queue and notes, for every
// enqueue, whether the campaign's run lock was held at that moment.
type lockWatcher struct {
	b      *bundle
	lock   string
	mu     sync.Mutex
	locked []bool
}

func (w *lockWatcher) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	n, err := w.b.rdb.Exists(ctx, w.lock).Result()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.locked = append(w.locked, n == 1)
	w.mu.Unlock()
	return w.b.aq.EnqueueContext(ctx, t, opts...)
}

func TestNextBlockEnqueuedOnlyOnceTheLockIsReleased(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.create(Definition{ID: "chain", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}}, csvOf(3000), CreateOptions{})
	w := &lockWatcher{b: b, lock: b.store.keys("chain").lock}
	h, err := NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"conectaline": b.client},
		Guard: b.guard, Enqueuer: w, Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)

	// A worker that takes the next block's task the moment it is enqueued
	// must find the campaign free, not snooze it as busy.
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("chain", Done))
	require.Equal(t, []bool{false, false}, w.locked, "blocks 1 and 2 enqueued by the handler, each with the lock free")
	for _, r := range b.runs {
		require.NoError(t, r.Err, "task %s", r.TaskID)
	}
	require.Len(t, b.fake.Recorder().PerDestination(), 3000)
}

// A block starts a few milliseconds after its instant every time (a task
// hand-off, a script); the plan must not follow those milliseconds, or a
// campaign of thousands of blocks drifts by seconds. A block that starts
// really late (downtime) moves the plan, so the next one keeps its spacing.
func TestBlockStartLatenessWithinASecondKeepsThePlan(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{start: time.Date(2031, 3, 3, 8, 59, 30, 0, time.UTC)})
	ctx := context.Background()
	t0 := time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC)
	for _, id := range []string{"punctual", "late"} {
		b.create(Definition{ID: id, Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC",
			SMSPerBlock: 1000, MinutesPerBlock: 1}}, csvOf(2500), CreateOptions{})
	}
	b.clock.Set(t0)
	_, err := b.scheduler().Tick(ctx)
	require.NoError(t, err)
	for _, id := range []string{"punctual", "late"} {
		require.Equal(t, 1, b.get(id).NextBlock, "%s: block 0 claimed", id)
		require.True(t, b.get(id).LastBlockStart.Equal(t0))
	}

	require.NoError(t, b.store.started(ctx, "punctual", 0, t0.Add(7*time.Millisecond)))
	require.NoError(t, b.store.started(ctx, "late", 0, t0.Add(90*time.Second)))
	require.True(t, b.get("punctual").LastBlockStart.Equal(t0), "7ms late: the plan stays")
	require.True(t, b.get("late").LastBlockStart.Equal(t0.Add(90*time.Second)), "90s late: the next block keeps a minute from the real start")
	require.True(t, b.get("late").FirstBlockStart.Equal(t0.Add(90*time.Second)))
}
