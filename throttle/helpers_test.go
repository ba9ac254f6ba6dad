package throttle_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is whole microseconds, like every time the Guard keeps in Redis.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is the injected clock and sleep. By default Sleep advances the
// clock, as real time would for a single caller. With frozen set, Sleep
// leaves the clock alone and adds the wait to the *time.Duration found in
// the context under sleptKey, so concurrent callers each know when they
// would have run.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	frozen bool
	slept  []time.Duration
	// onSleep, when set, runs at the start of every Sleep.
	onSleep func()
}

type sleptKey struct{}

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

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if p, ok := ctx.Value(sleptKey{}).(*time.Duration); ok {
		*p += d
	}
	if !c.frozen {
		c.t = c.t.Add(d)
	}
	return nil
}

// fireTime is when a call whose fn runs now would reach the provider.
func (c *clock) fireTime(ctx context.Context) time.Time {
	now := c.Now()
	if p, ok := ctx.Value(sleptKey{}).(*time.Duration); ok {
		return now.Add(*p)
	}
	return now
}

func withSlept(ctx context.Context) context.Context {
	return context.WithValue(ctx, sleptKey{}, new(time.Duration))
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type bundle struct {
	rdb   *redis.Client
	clock *clock
	log   *logBuf
	guard *throttle.Guard
}

// setup starts a Redis and one Guard ("worker-1") for the provider "sakari"
// configured with pc.
func setup(t *testing.T, pc throttle.ProviderConfig) *bundle {
	t.Helper()
	srv := redistest.Start(t)
	b := &bundle{rdb: srv.Client(), clock: &clock{t: t0}, log: &logBuf{}}
	b.guard = b.newGuard(t, "worker-1", pc)
	return b
}

// newGuard is another worker process on the same Redis and clock.
func (b *bundle) newGuard(t *testing.T, worker string, pc throttle.ProviderConfig) *throttle.Guard {
	t.Helper()
	g, err := throttle.New(b.rdb, throttle.Config{
		Providers: map[string]throttle.ProviderConfig{"sakari": pc},
		WorkerID:  worker,
		Now:       b.clock.Now,
		Sleep:     b.clock.Sleep,
		Log:       zerolog.New(b.log),
	})
	require.NoError(t, err)
	return g
}

func (b *bundle) status(t *testing.T) throttle.Status {
	t.Helper()
	s, err := b.guard.Status(context.Background(), "sakari")
	require.NoError(t, err)
	return s
}

func call(key string) throttle.Call {
	return throttle.Call{Provider: "sakari", Key: key, Cost: 1}
}

func ok(context.Context) error { return nil }

func fail(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

var (
	errRetryable = &providers.Error{Class: providers.ClassRetryable, Provider: "sakari", Op: "send", HTTPStatus: 503}
	errRecipient = &providers.Error{Class: providers.ClassRecipient, Provider: "sakari", Op: "send", HTTPStatus: 400}
)

func err429(retryAfter time.Duration) error {
	return &providers.Error{Class: providers.ClassRateLimited, Provider: "sakari", Op: "send",
		HTTPStatus: 429, RetryAfter: retryAfter}
}

// requireSnooze asserts err is a snooze and returns it.
func requireSnooze(t *testing.T, err error) *throttle.SnoozeError {
	t.Helper()
	var se *throttle.SnoozeError
	require.ErrorAs(t, err, &se)
	return se
}
