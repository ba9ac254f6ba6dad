package campaign

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/conectaline"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// clock is the injected clock every part of a test shares: handler,
// scheduler, guard and the provider fake. Sleep advances it, as real time
// would for a single caller.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

// bundle is what a campaign test needs: a private Redis, the Conectaline
// fake behind a real adapter, a real throttle guard, a store, a handler
// and a queue driven by the fake clock.
type bundle struct {
	t      *testing.T
	rdb    *redis.Client
	clock  *clock
	store  *Store
	fake   *sbconectaline.Server
	client *conectaline.Client
	guard  *throttle.Guard
	aq     *asynq.Client
	insp   *asynq.Inspector
	sup    *suppress.List

	mu   sync.Mutex
	runs []run // every block task run, in order
}

// run is one execution of a block task by the test queue.
type run struct {
	TaskID string
	At     time.Time
	Err    error
}

type setupOptions struct {
	start    time.Time
	maxBatch int
	rate     string
}

func setup(t *testing.T, o setupOptions) *bundle {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	if o.start.IsZero() {
		o.start = time.Date(2031, 3, 3, 8, 59, 30, 0, time.UTC)
	}
	clk := &clock{t: o.start}
	fake := sbconectaline.New(sbconectaline.Options{Now: clk.Now})
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	client, err := conectaline.New(conectaline.Options{BaseURL: hs.URL + "/v1", APIToken: sbconectaline.DefaultAPIToken,
		ConfigurationName: sbconectaline.DefaultConfigurationName, MaxBatch: o.maxBatch}, providers.Deps{Now: clk.Now})
	require.NoError(t, err)
	guard, err := throttle.New(rdb, throttle.Config{
		Providers: map[string]throttle.ProviderConfig{"conectaline": {Rate: o.rate}},
		Now:       clk.Now, Sleep: clk.Sleep,
	})
	require.NoError(t, err)
	aq := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	return &bundle{t: t, rdb: rdb, clock: clk, store: NewStore(rdb, StoreOptions{Now: clk.Now}), fake: fake,
		client: client, guard: guard, aq: aq, insp: insp, sup: suppress.New(rdb, "")}
}

// handler returns a block handler sending through sender (the Conectaline
// adapter when nil).
func (b *bundle) handler(sender providers.Sender) *Handler {
	b.t.Helper()
	if sender == nil {
		sender = b.client
	}
	h, err := NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"conectaline": sender},
		Guard: b.guard, Enqueuer: b.aq, MaxAttempts: 3, Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(b.t, err)
	return h
}

func (b *bundle) scheduler() *Scheduler {
	return NewScheduler(b.store, b.aq, SchedulerOptions{Now: b.clock.Now})
}

// numbers caches sms.ExampleNumber, which validates every number it makes.
var numbers sync.Map

// number is the i-th test recipient.
func number(i int) string {
	if n, ok := numbers.Load(i); ok {
		return n.(string)
	}
	n := sms.ExampleNumber("CD", i)
	numbers.Store(i, n)
	return n
}

// csvOf builds a recipients file of n numbers with a name column.
func csvOf(n int) string {
	var sb strings.Builder
	sb.WriteString("phone,name\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s,Person %d\n", number(i), i)
	}
	return sb.String()
}

func (b *bundle) create(d Definition, csv string, o CreateOptions) Report {
	b.t.Helper()
	if d.Provider == "" {
		d.Provider = "conectaline"
	}
	if d.Message == "" {
		d.Message = "Hola {{name}}, tu pedido está listo"
	}
	rep, err := b.store.Create(context.Background(), d, strings.NewReader(csv), o)
	require.NoError(b.t, err)
	return rep
}

func (b *bundle) get(id string) *Campaign {
	b.t.Helper()
	c, err := b.store.Get(context.Background(), id)
	require.NoError(b.t, err)
	return c
}

// queued lists the block tasks waiting in the queue.
func (b *bundle) queued() []*asynq.TaskInfo { return b.queuedIn(tasks.QueueBulk) }

// queuedIn lists the tasks waiting in queue, soonest first.
func (b *bundle) queuedIn(queue string) []*asynq.TaskInfo {
	b.t.Helper()
	var out []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){b.insp.ListScheduledTasks, b.insp.ListPendingTasks} {
		ts, err := list(queue, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			require.NoError(b.t, err)
		}
		out = append(out, ts...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NextProcessAt.Before(out[j].NextProcessAt) })
	return out
}

// runDue runs, with h, every queued block task due at the fake time, the
// way an asynq worker would: a snooze or an error puts the task back at
// its retry time. It returns how many tasks ran.
func (b *bundle) runDue(h *Handler) int { return b.runDueIn(tasks.QueueBulk, h) }

// runDueIn is runDue for the tasks of queue, run by h.
func (b *bundle) runDueIn(queue string, h asynq.Handler) int {
	b.t.Helper()
	ctx := context.Background()
	n := 0
	for _, ti := range b.queuedIn(queue) {
		if ti.State == asynq.TaskStateScheduled && ti.NextProcessAt.After(b.clock.Now()) {
			continue
		}
		if err := b.insp.DeleteTask(queue, ti.ID); err != nil {
			continue // another runner took it
		}
		err := h.ProcessTask(ctx, asynq.NewTask(ti.Type, ti.Payload))
		n++
		b.mu.Lock()
		b.runs = append(b.runs, run{TaskID: ti.ID, At: b.clock.Now(), Err: err})
		b.mu.Unlock()
		if err == nil {
			continue
		}
		require.NotErrorIs(b.t, err, asynq.SkipRetry, "task %s", ti.ID)
		delay := time.Second
		if d, ok := throttle.IsSnooze(err); ok {
			delay = max(d, time.Second)
		}
		t := asynq.NewTask(ti.Type, ti.Payload, asynq.TaskID(ti.ID), asynq.Queue(queue),
			asynq.ProcessAt(b.clock.Now().Add(delay)))
		if _, err := b.aq.Enqueue(t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			require.NoError(b.t, err)
		}
	}
	return n
}

// drive ticks the schedulers and runs due tasks, moving the fake clock to
// the next task when nothing is due, until done reports true.
func (b *bundle) drive(h *Handler, scheds []*Scheduler, done func() bool) {
	b.t.Helper()
	b.driveIdle(h, scheds, done, 250*time.Millisecond)
}

// driveIdle is drive advancing the clock by idle when nothing is queued.
func (b *bundle) driveIdle(h *Handler, scheds []*Scheduler, done func() bool, idle time.Duration) {
	b.t.Helper()
	ctx := context.Background()
	for step := 0; step < 10000; step++ {
		if done() {
			return
		}
		for _, s := range scheds {
			_, err := s.Tick(ctx)
			require.NoError(b.t, err)
		}
		if b.runDue(h) > 0 {
			continue
		}
		q := b.queued()
		if len(q) > 0 && q[0].NextProcessAt.After(b.clock.Now()) {
			b.clock.Set(q[0].NextProcessAt)
		} else {
			b.clock.Advance(idle)
		}
	}
	b.t.Fatalf("drive: not done after 10000 steps")
}

// until drives for d of fake time.
func (b *bundle) until(h *Handler, scheds []*Scheduler, d time.Duration) {
	end := b.clock.Now().Add(d)
	b.driveIdle(h, scheds, func() bool { return !b.clock.Now().Before(end) }, 5*time.Second)
}

func (b *bundle) stateIs(id string, s State) func() bool {
	return func() bool { return b.get(id).State == s }
}

// acceptedAt maps each recipient number to the fake time the provider
// accepted it at, failing on any number accepted twice.
func (b *bundle) acceptedAt() map[string]time.Time {
	b.t.Helper()
	out := map[string]time.Time{}
	for _, a := range b.fake.Recorder().Accepted() {
		_, dup := out[a.To]
		require.False(b.t, dup, "a number was accepted twice")
		out[a.To] = a.At
	}
	return out
}
