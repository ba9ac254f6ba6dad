package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/events"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

// relayBundle is a Redis with a ledger, a queue and an inspector on it.
type relayBundle struct {
	rdb    *redis.Client
	led    *ledger.Ledger
	client *asynq.Client
	insp   *asynq.Inspector
}

func setupRelay(t *testing.T) *relayBundle {
	t.Helper()
	srv := redistest.Start(t)
	b := &relayBundle{rdb: srv.Client(), client: asynq.NewClient(srv.AsynqOpt()), insp: asynq.NewInspector(srv.AsynqOpt())}
	t.Cleanup(func() { _ = b.client.Close(); _ = b.insp.Close() })
	b.led = ledger.New(b.rdb, ledger.Options{})
	return b
}

// send records a message and moves it to submitted: three events.
func (b *relayBundle) send(t *testing.T, id, callback string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := b.led.Create(ctx, ledger.Record{ID: id, Provider: "keccel", To: "+243812345678", CallbackURL: callback}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = b.led.Transition(ctx, id, ledger.Sending, ledger.Update{Source: ledger.SourceWorker, Attempt: true})
	require.NoError(t, err)
	_, err = b.led.Transition(ctx, id, ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: "p-" + id})
	require.NoError(t, err)
}

// queued returns the status:event payloads waiting in the events queue, by task id.
func (b *relayBundle) queued(t *testing.T) map[string]events.Payload {
	t.Helper()
	list, err := b.insp.ListPendingTasks(tasks.QueueEvents, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return map[string]events.Payload{}
	}
	require.NoError(t, err)
	out := map[string]events.Payload{}
	for _, ti := range list {
		require.Equal(t, tasks.TypeEvent, ti.Type)
		var p events.Payload
		require.NoError(t, json.Unmarshal(ti.Payload, &p))
		out[ti.ID] = p
	}
	return out
}

func (b *relayBundle) pending(t *testing.T) int64 {
	t.Helper()
	p, err := b.rdb.XPending(context.Background(), ledger.EventsKey(""), events.DefaultGroup).Result()
	require.NoError(t, err)
	return p.Count
}

func newRelay(t *testing.T, b *relayBundle, o events.RelayOptions) *events.Relay {
	t.Helper()
	o.Redis = b.rdb
	if o.Enqueuer == nil {
		o.Enqueuer = b.client
	}
	o.Log = zerolog.Nop()
	r, err := events.NewRelay(o)
	require.NoError(t, err)
	return r
}

// run runs r until the test ends.
func run(t *testing.T, r *events.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
}

func TestRelayQueuesOneTaskPerEventWithACallbackURL(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	// Written before any relay ran: the group starts at the stream's head.
	b.send(t, "with-cb", "https://producer.example/hooks/sms?token=abc")
	b.send(t, "without-cb", "")
	run(t, newRelay(t, b, events.RelayOptions{Block: 50 * time.Millisecond}))

	var got map[string]events.Payload
	require.Eventually(t, func() bool { got = b.queued(t); return len(got) == 3 }, 10*time.Second, 10*time.Millisecond)
	states := map[ledger.State]events.Event{}
	for id, p := range got {
		require.Equal(t, events.TaskID(p.Event.EventID), id)
		require.Equal(t, "https://producer.example/hooks/sms?token=abc", p.URL)
		require.Equal(t, "with-cb", p.Event.ID)
		require.Equal(t, "keccel", p.Event.Provider)
		require.False(t, p.Event.At.IsZero())
		states[p.Event.State] = p.Event
	}
	require.Equal(t, ledger.SourceProducer, states[ledger.Queued].Source)
	require.Empty(t, states[ledger.Queued].Previous)
	require.Equal(t, ledger.Queued, states[ledger.Sending].Previous)
	require.Equal(t, ledger.Sending, states[ledger.Submitted].Previous)
	require.Equal(t, "p-with-cb", states[ledger.Submitted].ProviderID)

	// Every entry, with or without a callback, is acknowledged.
	require.Eventually(t, func() bool { return b.pending(t) == 0 }, 10*time.Second, 10*time.Millisecond)

	// Later events flow too.
	_, err := b.led.Transition(context.Background(), "with-cb", ledger.Delivered, ledger.Update{Source: ledger.SourceCallback})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(b.queued(t)) == 4 }, 10*time.Second, 10*time.Millisecond)
}

// TestRelayTakesOverWhatADeadRelayRead: a relay read entries and died
// before queueing them; another relay claims them once they are stale.
func TestRelayTakesOverWhatADeadRelayRead(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ctx := context.Background()
	b.send(t, "m-1", "http://producer.example/cb")
	b.send(t, "m-2", "http://producer.example/cb")

	require.NoError(t, b.rdb.XGroupCreateMkStream(ctx, ledger.EventsKey(""), events.DefaultGroup, "0").Err())
	read, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: events.DefaultGroup, Consumer: "dead-relay",
		Streams: []string{ledger.EventsKey(""), ">"}, Count: 100}).Result()
	require.NoError(t, err)
	require.Len(t, read[0].Messages, 6)
	require.EqualValues(t, 6, b.pending(t))

	// A live relay with a long ClaimAfter leaves another relay's fresh
	// entries alone: that relay may just be slow.
	patient := newRelay(t, b, events.RelayOptions{ClaimAfter: time.Hour})
	require.NoError(t, patient.Claim(ctx))
	require.Empty(t, b.queued(t))
	require.EqualValues(t, 6, b.pending(t))

	// Once stale, they are taken over, queued and acknowledged.
	taker := newRelay(t, b, events.RelayOptions{ClaimAfter: 20 * time.Millisecond})
	require.Eventually(t, func() bool {
		require.NoError(t, taker.Claim(ctx))
		return b.pending(t) == 0
	}, 10*time.Second, 20*time.Millisecond)
	got := b.queued(t)
	require.Len(t, got, 6)
	for _, m := range read[0].Messages {
		require.Contains(t, got, events.TaskID(m.ID))
	}
}

// TestRelayReadingAnEntryTwiceQueuesOneTask: the task id is the entry id.
func TestRelayReadingAnEntryTwiceQueuesOneTask(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ctx := context.Background()
	b.send(t, "m-1", "http://producer.example/cb")
	require.NoError(t, b.rdb.XGroupCreateMkStream(ctx, ledger.EventsKey(""), events.DefaultGroup, "0").Err())
	// The first relay queued the tasks but died before acknowledging.
	msgs, err := b.rdb.XRange(ctx, ledger.EventsKey(""), "-", "+").Result()
	require.NoError(t, err)
	for _, m := range msgs {
		ev := events.Event{EventID: m.ID, ID: "m-1", State: ledger.State(m.Values["state"].(string))}
		task, err := events.NewTask(events.Payload{URL: "http://producer.example/cb", Event: ev}, events.TaskOptions{})
		require.NoError(t, err)
		_, err = b.client.Enqueue(task)
		require.NoError(t, err)
	}
	_, err = b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: events.DefaultGroup, Consumer: "dead-relay",
		Streams: []string{ledger.EventsKey(""), ">"}}).Result()
	require.NoError(t, err)

	taker := newRelay(t, b, events.RelayOptions{ClaimAfter: time.Millisecond})
	require.Eventually(t, func() bool {
		require.NoError(t, taker.Claim(ctx))
		return b.pending(t) == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.Len(t, b.queued(t), 3, "no second task per entry")
}

// failingEnqueuer fails while down is set, then passes tasks on.
type failingEnqueuer struct {
	next events.Enqueuer
	down atomic.Bool
}

func (f *failingEnqueuer) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if f.down.Load() {
		return nil, errors.New("queue unreachable")
	}
	return f.next.EnqueueContext(ctx, t, opts...)
}

// TestRelayKeepsEntriesItCouldNotQueue: an enqueue failure leaves the
// entry pending, and a later claim queues it.
func TestRelayKeepsEntriesItCouldNotQueue(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	enq := &failingEnqueuer{next: b.client}
	enq.down.Store(true)
	r := newRelay(t, b, events.RelayOptions{Enqueuer: enq, Block: 20 * time.Millisecond, ClaimAfter: 10 * time.Millisecond, ClaimEvery: 10 * time.Millisecond})
	run(t, r)
	b.send(t, "m-1", "http://producer.example/cb")
	require.Eventually(t, func() bool { return b.pending(t) >= 1 }, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, b.queued(t))

	enq.down.Store(false)
	require.Eventually(t, func() bool { return len(b.queued(t)) == 3 && b.pending(t) == 0 }, 10*time.Second, 10*time.Millisecond)
}
