package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
)

func setup(t *testing.T) (*ledger.Ledger, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return ledger.New(srv.Client(), ledger.Options{}), srv
}

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	rec := ledger.Record{ID: "m1", Provider: "keccel", To: "+243812345678", Text: "hello"}
	got, created, err := l.Create(ctx, rec, ledger.SourceProducer)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, ledger.Queued, got.State)

	again, created, err := l.Create(ctx, ledger.Record{ID: "m1", Provider: "sakari", To: "+34600100100", Text: "other"}, ledger.SourceProducer)
	require.NoError(t, err)
	require.False(t, created, "an existing id returns the existing message")
	require.Equal(t, "keccel", again.Provider)
	require.Equal(t, "hello", again.Text)
	require.Len(t, again.History, 1)
	require.Equal(t, ledger.SourceProducer, again.History[0].Source)
}

func TestConcurrentCreateMakesOneRecord(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := l.Create(context.Background(), ledger.Record{ID: "same", Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
			require.NoError(t, err)
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, created)
}

func TestLifecycleRecordsAttemptsProviderIDAndHistory(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "m2", Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = l.Transition(ctx, "m2", ledger.Sending, ledger.Update{Source: ledger.SourceWorker, Attempt: true})
	require.NoError(t, err)
	_, err = l.Transition(ctx, "m2", ledger.Queued, ledger.Update{Source: ledger.SourceWorker, Error: "keccel send: retryable (HTTP 503)"})
	require.NoError(t, err)
	_, err = l.Transition(ctx, "m2", ledger.Sending, ledger.Update{Source: ledger.SourceWorker, Attempt: true})
	require.NoError(t, err)
	rec, err := l.Transition(ctx, "m2", ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: "1000001"})
	require.NoError(t, err)
	require.Equal(t, ledger.Submitted, rec.State)
	require.Equal(t, 2, rec.Attempts)
	require.Equal(t, "1000001", rec.ProviderID)
	require.Equal(t, "keccel send: retryable (HTTP 503)", rec.LastError)
	var states []ledger.State
	for _, h := range rec.History {
		states = append(states, h.State)
		require.False(t, h.At.IsZero())
	}
	require.Equal(t, []ledger.State{ledger.Queued, ledger.Sending, ledger.Queued, ledger.Sending, ledger.Submitted}, states)

	id, err := l.ByProviderID(ctx, "keccel", "1000001")
	require.NoError(t, err)
	require.Equal(t, "m2", id)
	_, err = l.ByProviderID(ctx, "keccel", "999")
	require.ErrorIs(t, err, ledger.ErrNotFound)
}

func TestFinalRecordsExpireAfterRetention(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	l := ledger.New(rdb, ledger.Options{Retention: time.Hour})
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "m3", Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
	require.NoError(t, err)
	ttl := rdb.PTTL(ctx, "smsq:m:m3").Val()
	require.Less(t, ttl, time.Duration(0), "a live message never expires")
	_, err = l.Transition(ctx, "m3", ledger.Rejected, ledger.Update{Source: ledger.SourceWorker, Error: "invalid number"})
	require.NoError(t, err)
	ttl = rdb.PTTL(ctx, "smsq:m:m3").Val()
	require.Greater(t, ttl, 59*time.Minute)
	require.LessOrEqual(t, ttl, time.Hour)
}

// A provider without delivery reports leaves its messages "submitted" for
// good; they must not stay in Redis for ever. A tracked one becomes final
// (delivered, or expired at the delivery expiry) and then keeps Retention.
func TestSubmittedRecordsExpireAfterSubmittedRetention(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	l := ledger.New(rdb, ledger.Options{Retention: time.Hour, SubmittedRetention: 4 * time.Hour})
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "m4", Provider: "kandy", To: "+14155550100"}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = l.Transition(ctx, "m4", ledger.Sending, ledger.Update{Source: ledger.SourceWorker})
	require.NoError(t, err)
	require.Less(t, rdb.PTTL(ctx, "smsq:m:m4").Val(), time.Duration(0), "a message being sent never expires")

	_, err = l.Transition(ctx, "m4", ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: "k-1", Attempt: true})
	require.NoError(t, err)
	for _, key := range []string{"smsq:m:m4", "smsq:pid:kandy:k-1"} {
		ttl := rdb.PTTL(ctx, key).Val()
		require.Greater(t, ttl, 239*time.Minute, key)
		require.LessOrEqual(t, ttl, 4*time.Hour, key)
	}

	_, err = l.Transition(ctx, "m4", ledger.Delivered, ledger.Update{Source: ledger.SourcePoll})
	require.NoError(t, err)
	ttl := rdb.PTTL(ctx, "smsq:m:m4").Val()
	require.Greater(t, ttl, 59*time.Minute)
	require.LessOrEqual(t, ttl, time.Hour, "final: Retention from now")

	def := ledger.New(rdb, ledger.Options{Retention: time.Hour})
	_, _, err = def.Create(ctx, ledger.Record{ID: "m5", Provider: "kandy", To: "+14155550100"}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = def.Transition(ctx, "m5", ledger.Submitted, ledger.Update{Source: ledger.SourceWorker})
	require.NoError(t, err)
	require.Greater(t, rdb.PTTL(ctx, "smsq:m:m5").Val(), 72*time.Hour+59*time.Minute, "default: Retention + 72h")
}

func TestTransitionOfUnknownID(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	_, err := l.Transition(context.Background(), "nope", ledger.Sending, ledger.Update{Source: ledger.SourceWorker})
	require.ErrorIs(t, err, ledger.ErrNotFound)
}

// TestStateMachineEveryPair drives a real record into every state and tries
// every target state from it, checking Redis enforces exactly the table.
func TestStateMachineEveryPair(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	// A path from queued to each state, through allowed moves.
	pathTo := map[ledger.State][]ledger.State{
		ledger.Queued:     {},
		ledger.Sending:    {ledger.Sending},
		ledger.Submitted:  {ledger.Sending, ledger.Submitted},
		ledger.Delivered:  {ledger.Sending, ledger.Submitted, ledger.Delivered},
		ledger.Failed:     {ledger.Sending, ledger.Failed},
		ledger.Expired:    {ledger.Sending, ledger.Submitted, ledger.Expired},
		ledger.Rejected:   {ledger.Rejected},
		ledger.Suppressed: {ledger.Suppressed},
		ledger.Unknown:    {ledger.Sending, ledger.Unknown},
	}
	// want is written out independently of the implementation's table.
	want := map[ledger.State]map[ledger.State]bool{
		ledger.Queued:    set(ledger.Queued, ledger.Sending, ledger.Submitted, ledger.Failed, ledger.Rejected, ledger.Suppressed, ledger.Expired),
		ledger.Sending:   set(ledger.Sending, ledger.Queued, ledger.Submitted, ledger.Failed, ledger.Rejected, ledger.Unknown),
		ledger.Unknown:   set(ledger.Unknown, ledger.Sending, ledger.Queued, ledger.Submitted, ledger.Delivered, ledger.Failed, ledger.Expired, ledger.Rejected),
		ledger.Submitted: set(ledger.Submitted, ledger.Delivered, ledger.Failed, ledger.Expired),
	}
	n := 0
	for _, from := range ledger.States() {
		for _, to := range ledger.States() {
			n++
			id := fmt.Sprintf("pair-%d", n)
			_, _, err := l.Create(ctx, ledger.Record{ID: id, Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
			require.NoError(t, err)
			for _, s := range pathTo[from] {
				_, err := l.Transition(ctx, id, s, ledger.Update{Source: ledger.SourceWorker})
				require.NoError(t, err, "path to %s via %s", from, s)
			}
			rec, err := l.Transition(ctx, id, to, ledger.Update{Source: ledger.SourcePoll})
			ok := want[from][to]
			require.Equal(t, ok, ledger.CanTransition(from, to), "%s -> %s", from, to)
			if ok {
				require.NoError(t, err, "%s -> %s", from, to)
				require.Equal(t, to, rec.State)
			} else {
				var te *ledger.TransitionError
				require.True(t, errors.As(err, &te), "%s -> %s must be refused, got %v", from, to, err)
				require.Equal(t, from, rec.State, "a refused move leaves the state alone")
				if from.Final() {
					require.True(t, from.Final(), "final states never regress")
				}
			}
		}
	}
	require.Equal(t, 81, n)
}

func set(ss ...ledger.State) map[ledger.State]bool {
	m := map[ledger.State]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func TestEveryStateChangeIsAStreamEvent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	l := ledger.New(rdb, ledger.Options{})
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "e1", Provider: "keccel", To: "+243812345678", CallbackURL: "https://backend.example/hook"}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = l.Transition(ctx, "e1", ledger.Sending, ledger.Update{Source: ledger.SourceWorker})
	require.NoError(t, err)
	_, err = l.Transition(ctx, "e1", ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: "77"})
	require.NoError(t, err)
	_, err = l.Transition(ctx, "e1", ledger.Queued, ledger.Update{Source: ledger.SourcePoll})
	require.Error(t, err, "a refused move writes no event")
	msgs, err := rdb.XRange(ctx, ledger.EventsKey(""), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	var states []string
	for _, m := range msgs {
		states = append(states, m.Values["state"].(string))
		require.Equal(t, "e1", m.Values["id"])
		require.Equal(t, "https://backend.example/hook", m.Values["cb"])
	}
	require.Equal(t, []string{"queued", "sending", "submitted"}, states)
	require.Equal(t, "77", msgs[2].Values["pid"])
	require.Equal(t, "sending", msgs[2].Values["from"])
	require.Equal(t, "worker", msgs[2].Values["source"])
}

func TestTransitionAnswersTheRecordAsStored(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "m1", Provider: "sakari", To: "+14155550100", Text: "hi", Segments: 1}, ledger.SourceProducer)
	require.NoError(t, err)
	_, err = l.Transition(ctx, "m1", ledger.Sending, ledger.Update{Source: ledger.SourceWorker})
	require.NoError(t, err)

	got, err := l.Transition(ctx, "m1", ledger.Submitted, ledger.Update{Source: ledger.SourceWorker, ProviderID: "p-9", Attempt: true, Note: "queued"})
	require.NoError(t, err)
	stored, err := l.Get(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, stored, got, "the transition's answer is the record Get reads")
	require.Equal(t, ledger.Submitted, got.State)
	require.Equal(t, "p-9", got.ProviderID)
	require.Equal(t, 1, got.Attempts)
	require.Len(t, got.History, 3)
	id, err := l.ByProviderID(ctx, "sakari", "p-9")
	require.NoError(t, err)
	require.Equal(t, "m1", id, "the provider-id index is keyed by the record's own provider")

	// A refused move answers the record as it is, with the reason.
	got, err = l.Transition(ctx, "m1", ledger.Sending, ledger.Update{Source: ledger.SourceWorker})
	var te *ledger.TransitionError
	require.ErrorAs(t, err, &te)
	require.Equal(t, ledger.Submitted, te.From)
	require.Equal(t, stored, got)
}

func TestGetInSharesAPipeline(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	_, _, err := l.Create(ctx, ledger.Record{ID: "m1", Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
	require.NoError(t, err)
	pipe := l.Pipeline()
	one, none := l.GetIn(ctx, pipe, "m1"), l.GetIn(ctx, pipe, "m2")
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	rec, err := one()
	require.NoError(t, err)
	require.Equal(t, ledger.Queued, rec.State)
	require.Equal(t, "+243812345678", rec.To)
	_, err = none()
	require.ErrorIs(t, err, ledger.ErrNotFound)
}

func TestCreateRecordsTheProducer(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	got, created, err := l.Create(ctx, ledger.Record{ID: "p1", Provider: "keccel", To: "+243812345678", Producer: "shop"}, ledger.SourceProducer)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "shop", got.Producer)
	read, err := l.Get(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, "shop", read.Producer)

	// A later Create never changes the owner.
	again, created, err := l.Create(ctx, ledger.Record{ID: "p1", Provider: "keccel", To: "+243812345678", Producer: "crm"}, ledger.SourceProducer)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "shop", again.Producer)

	// Transitions keep it, and answer it.
	moved, err := l.Transition(ctx, "p1", ledger.Sending, ledger.Update{Source: ledger.SourceWorker, Attempt: true})
	require.NoError(t, err)
	require.Equal(t, "shop", moved.Producer)

	// No producer: none stored, none read back.
	anon, _, err := l.Create(ctx, ledger.Record{ID: "p2", Provider: "keccel", To: "+243812345678"}, ledger.SourceProducer)
	require.NoError(t, err)
	require.Empty(t, anon.Producer)
}

func TestCreateGivesARecordWithoutProducerTheOneThatQueuedIt(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	// A worker got to the task first and rebuilt the record from its payload.
	_, created, err := l.Create(ctx, ledger.Record{ID: "w1", Provider: "keccel", To: "+243812345678"}, ledger.SourceWorker)
	require.NoError(t, err)
	require.True(t, created)

	got, created, err := l.Create(ctx, ledger.Record{ID: "w1", Provider: "keccel", To: "+243812345678", Producer: "shop"}, ledger.SourceProducer)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "shop", got.Producer)
	require.Len(t, got.History, 1, "the record is otherwise untouched")
	require.Equal(t, ledger.SourceWorker, got.History[0].Source)
}
