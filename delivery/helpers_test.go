package delivery_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is the injected clock; it starts at the real time (asynq compares
// due times with its own clock) and moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// poller is a provider status endpoint whose answers the test sets.
type poller struct {
	mu    sync.Mutex
	rep   map[string]providers.DeliveryReport
	err   error
	calls atomic.Int32
}

func newPoller() *poller { return &poller{rep: map[string]providers.DeliveryReport{}} }

func (p *poller) answer(pid string, st providers.DeliveryState, raw, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rep[pid] = providers.DeliveryReport{ProviderID: pid, State: st, Raw: raw, Reason: reason}
}

func (p *poller) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *poller) Status(_ context.Context, pid string) (providers.DeliveryReport, error) {
	p.calls.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return providers.DeliveryReport{}, p.err
	}
	if r, ok := p.rep[pid]; ok {
		return r, nil
	}
	return providers.DeliveryReport{ProviderID: pid, State: providers.DeliveryPending, Raw: "PENDING"}, nil
}

// campaigns claims the provider ids it was given.
type campaigns struct {
	mu      sync.Mutex
	pids    map[string]bool
	settled []providers.DeliveryReport
}

func (c *campaigns) Settle(_ context.Context, _ string, rep providers.DeliveryReport, _ ledger.Source) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pids[rep.ProviderID] {
		return false, nil
	}
	c.settled = append(c.settled, rep)
	return true, nil
}

// fixture is one Service on its own keys (prefix) of a shared Redis.
type fixture struct {
	rdb    *redis.Client
	led    *ledger.Ledger
	svc    *delivery.Service
	insp   *asynq.Inspector
	guard  *throttle.Guard
	clock  *clock
	poller *poller
	prefix string
}

var fixtures atomic.Int32

func newFixture(t *testing.T, srv *redistest.Server, tune func(*delivery.Options)) *fixture {
	t.Helper()
	rdb := srv.Client()
	f := &fixture{rdb: rdb, clock: newClock(), poller: newPoller(), insp: asynq.NewInspectorFromRedisClient(rdb),
		prefix: fmt.Sprintf("t%d:", fixtures.Add(1))}
	f.led = ledger.New(rdb, ledger.Options{Prefix: f.prefix, Now: f.clock.Now})
	g, err := throttle.New(rdb, throttle.Config{Prefix: f.prefix + "throttle:",
		Providers: map[string]throttle.ProviderConfig{"keccel": {}, "sakari": {}}})
	require.NoError(t, err)
	f.guard = g
	o := delivery.Options{Ledger: f.led, Redis: rdb, Queue: asynq.NewClientFromRedisClient(rdb), Tasks: f.insp,
		Pollers: map[string]providers.StatusPoller{"keccel": f.poller, "sakari": f.poller}, Guard: g,
		Prefix: f.prefix, Now: f.clock.Now}
	if tune != nil {
		tune(&o)
	}
	f.svc, err = delivery.New(o)
	require.NoError(t, err)
	return f
}

// submitted records a message as the send handler does, up to submitted
// with provider id pid, and returns the record the hook would get.
func (f *fixture) submitted(t *testing.T, id, provider, pid string) ledger.Record {
	t.Helper()
	ctx := context.Background()
	_, _, err := f.led.Create(ctx, ledger.Record{ID: id, Provider: provider, To: "+243812345678", Text: "hi"}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = f.led.Transition(ctx, id, ledger.Sending, ledger.Update{Source: ledger.SourceWorker, Attempt: true})
	require.NoError(t, err)
	rec, err := f.led.Transition(ctx, id, ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: pid})
	require.NoError(t, err)
	return rec
}

func (f *fixture) state(t *testing.T, id string) ledger.Record {
	t.Helper()
	rec, err := f.led.Get(context.Background(), id)
	require.NoError(t, err)
	return rec
}

// pollTask returns the poll task with id, or nil when there is none.
func (f *fixture) pollTask(t *testing.T, taskID string) *asynq.TaskInfo {
	t.Helper()
	info, err := f.insp.GetTaskInfo(tasks.QueueDelivery, taskID)
	if err != nil {
		require.ErrorIs(t, err, asynq.ErrTaskNotFound, "unexpected inspector error")
		return nil
	}
	return info
}

// pendingPoll is the task id the message's pending-poll key names.
func (f *fixture) pendingPoll(id string) string {
	return f.rdb.Get(context.Background(), f.prefix+"dl:poll:"+id).Val()
}

func (f *fixture) keptReport(provider, pid string) bool {
	return f.rdb.Exists(context.Background(), f.prefix+"dl:kept:"+provider+":"+pid).Val() == 1
}

// poll runs the handler on the poll task stored under taskID, as the
// worker would.
func (f *fixture) poll(t *testing.T, taskID string) error {
	t.Helper()
	info := f.pollTask(t, taskID)
	require.NotNil(t, info, "poll task %s is scheduled", taskID)
	return f.svc.HandlePoll(context.Background(), asynq.NewTask(info.Type, info.Payload))
}

func lastTransition(rec ledger.Record) ledger.Transition { return rec.History[len(rec.History)-1] }

func count(rec ledger.Record, s ledger.State) int {
	n := 0
	for _, h := range rec.History {
		if h.State == s {
			n++
		}
	}
	return n
}
