// Package throttle decides when a provider call may happen. One Guard per
// worker process; every limit it enforces is shared through Redis, so the
// configured rate, operator pauses and 429 pauses hold across any number of
// workers:
//
//	err := guard.Do(ctx, throttle.Call{Provider: "sakari", Key: msgID, Cost: 3},
//		func(ctx context.Context) error { … provider call … })
//
// Do returns a *SnoozeError when the call must wait longer than it is worth
// holding a worker for: the task is re-scheduled to the time it names (see
// IsFailure and RetryDelayFunc for the asynq wiring), and a slot booked for
// it is kept under Call.Key so the re-run uses it instead of booking again.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/smsq/smsq/providers"
)

// Lane says whose traffic a call is. The zero Lane is Transactional.
type Lane int

const (
	// Transactional calls (one-time passwords, alerts) book the next free
	// slot however far it is.
	Transactional Lane = iota
	// Bulk calls (campaigns) book at most BulkHorizon ahead, leaving room
	// for transactional calls.
	Bulk
)

func (l Lane) String() string {
	if l == Bulk {
		return "bulk"
	}
	return "transactional"
}

// Call describes one provider call to admit.
type Call struct {
	Provider string
	// Key identifies the task across re-runs (the message or block id). A
	// slot booked for a snoozed task is kept under it and claimed when the
	// task runs again. Without a Key such a slot is wasted and the re-run
	// books anew: the rate still holds, throughput suffers.
	Key string
	// Cost is the call's weight in the provider's CostBy unit (requests,
	// messages or segments). Values below 1 count as 1.
	Cost int
	Lane Lane
}

// Guard admits provider calls. It is safe for concurrent use.
type Guard struct {
	rdb   redis.UniversalClient
	cfg   Config
	provs map[string]*provider
}

type provider struct {
	name  string
	cfg   ProviderConfig
	rate  Rate
	T     int64 // interval of one unit of cost, µs; 0 = unlimited
	keys  keys
	local *rate.Limiter // nil when unlimited
	br    *breaker
}

// New builds a Guard. It does not touch Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Guard, error) {
	if rdb == nil {
		return nil, errors.New("throttle: redis client required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	cfg = cfg.withDefaults()
	g := &Guard{rdb: rdb, cfg: cfg, provs: map[string]*provider{}}
	for name, pc := range cfg.Providers {
		pc = pc.withDefaults()
		r, _ := ParseRate(pc.Rate) // checked by Validate
		r.Burst = pc.Burst
		p := &provider{name: name, cfg: pc, rate: r, T: r.intervalMicros(),
			keys: newKeys(cfg.Prefix, name), br: newBreaker(name, pc, cfg.Now)}
		if !r.Unlimited() {
			p.local = rate.NewLimiter(rate.Limit(r.PerSecond()), pc.Burst)
		}
		g.provs[name] = p
	}
	return g, nil
}

func (g *Guard) provider(name string) (*provider, error) {
	p, ok := g.provs[name]
	if !ok {
		return nil, fmt.Errorf("throttle: %q: %w", name, ErrUnknownProvider)
	}
	return p, nil
}

// Do runs fn when c may run: now, after a short in-process wait (up to
// MaxSleep), or never, returning a *SnoozeError that says when to try
// again. In order:
//
//  1. this worker's circuit breaker for the provider (no Redis call);
//  2. one Redis script: operator pause, 429 pause, claim of the slot
//     booked earlier under c.Key, or a new booking (GCRA);
//  3. wait for the slot, then run fn through the breaker;
//  4. a 429 from fn pauses the provider for every worker and comes back
//     as a *SnoozeError wrapping the provider's error.
//
// The breaker goes first because it costs nothing to ask; its decision
// does not depend on the shared state. Any other error from fn is returned
// as is.
func (g *Guard) Do(ctx context.Context, c Call, fn func(context.Context) error) error {
	p, err := g.provider(c.Provider)
	if err != nil {
		return err
	}
	cost := max(c.Cost, 1)

	done, until, err := p.br.allow()
	g.report(ctx, p)
	if err != nil {
		g.count(ctx, p, "snoozed")
		return g.snooze(until, "circuit breaker open", err)
	}

	now := g.cfg.Now()
	res, err := g.acquire(ctx, p, c, cost, now)
	if err != nil {
		done(errNotRun)
		return fmt.Errorf("throttle: %s: %w", p.name, err)
	}
	wait, snooze := g.decide(p, res, cost, now)
	if snooze != nil {
		done(errNotRun)
		return snooze
	}
	if wait > 0 {
		if err := g.cfg.Sleep(ctx, wait); err != nil {
			done(errNotRun)
			return err
		}
		// Admission was decided up to MaxSleep ago. A breaker that opened
		// or a 429 pause that began meanwhile stops this call too; else
		// every call already waiting for its slot hits a provider that is
		// down or has just asked us to stop.
		if until, open := p.br.openedUntil(); open {
			done(errNotRun)
			g.count(ctx, p, "snoozed")
			return g.snooze(until, "circuit breaker open", ErrBreakerOpen)
		}
		if until, held, err := g.heldUntil(ctx, p); err == nil && held {
			done(errNotRun)
			g.count(ctx, p, "snoozed")
			return g.snooze(until, "provider rate limited (429)", providers.ErrRateLimited)
		}
	}

	err = runReported(ctx, fn, done)
	g.report(ctx, p)
	if errors.Is(err, providers.ErrRateLimited) {
		return g.rateLimited(ctx, p, err)
	}
	if err == nil && res.n429 > 0 {
		g.recover(ctx, p)
	}
	return err
}

// runReported runs fn and reports its result to the breaker, a panic
// included (as a failure, before the panic goes on): a lost report would
// hold a half-open probe place for ever.
func runReported(ctx context.Context, fn func(context.Context) error, done func(error)) error {
	defer func() {
		if r := recover(); r != nil {
			done(fmt.Errorf("throttle: provider call panicked: %v", r))
			panic(r)
		}
	}()
	err := fn(ctx)
	done(err)
	return err
}

type acquired struct {
	code   int64
	at     time.Time
	n429   int64
	reason string
}

func (g *Guard) acquire(ctx context.Context, p *provider, c Call, cost int, now time.Time) (acquired, error) {
	bulk, hasKey := "0", "0"
	if c.Lane == Bulk {
		bulk = "1"
	}
	if c.Key != "" {
		hasKey = "1"
	}
	us := func(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
	raw, err := acquireScript.Run(ctx, g.rdb,
		[]string{p.keys.tat, p.keys.pause, p.keys.hold, p.keys.n429, p.keys.stats, p.keys.bookingPrefix + c.Key},
		now.UnixMicro(), p.T, p.cfg.Burst, cost, bulk, us(p.cfg.BulkHorizon), us(p.cfg.MaxSleep), hasKey,
		us(p.cfg.ClaimWindow),
	).Slice()
	if err != nil {
		return acquired{}, err
	}
	if len(raw) < 3 {
		return acquired{}, fmt.Errorf("unexpected script reply %v", raw)
	}
	var a acquired
	a.code, _ = raw[0].(int64)
	t, _ := raw[1].(int64)
	a.at = fromMicros(t, now)
	a.n429, _ = raw[2].(int64)
	if len(raw) > 3 {
		a.reason, _ = raw[3].(string)
	}
	return a, nil
}

// decide turns the script's answer into an in-process wait or a snooze.
func (g *Guard) decide(p *provider, a acquired, cost int, now time.Time) (time.Duration, error) {
	switch a.code {
	case acqPaused:
		return 0, g.snooze(now.Add(g.cfg.PauseRecheck), "paused by operator: "+a.reason, ErrPaused)
	case acqHeld:
		return 0, g.snooze(a.at, "provider rate limited (429)", providers.ErrRateLimited)
	case acqAhead:
		return 0, g.snooze(a.at, "booked slot not due yet", ErrThrottled)
	case acqBooked:
		return 0, g.snooze(a.at, "rate limit: slot booked", ErrThrottled)
	case acqBulkFull:
		return 0, g.snooze(a.at, "rate limit: bulk horizon full", ErrThrottled)
	case acqGranted, acqClaimed:
	default:
		return 0, fmt.Errorf("throttle: %s: unexpected script reply %d", p.name, a.code)
	}
	if p.local == nil {
		return 0, nil
	}
	// The in-process limiter matters for late claims only: asynq runs
	// re-scheduled tasks on whole seconds, so several tasks whose slots
	// have passed can arrive together. Each still runs now, but spaced at
	// the provider's rate within this process. On-time calls follow their
	// Redis slot exactly and only feed the limiter.
	n := min(cost, p.cfg.Burst)
	if a.at.Before(now) {
		d := p.local.ReserveN(now, n).DelayFrom(now)
		if d < time.Millisecond {
			return 0, nil // float noise, not a real wait
		}
		return d, nil
	}
	p.local.ReserveN(a.at, n)
	return a.at.Sub(now), nil
}

// fromMicros reads a time kept in Redis, in the location of the clock's
// reading ref (so callers get times like the ones their clock gives).
func fromMicros(us int64, ref time.Time) time.Time {
	return time.UnixMicro(us).In(ref.Location())
}

func (g *Guard) snooze(until time.Time, reason string, cause error) *SnoozeError {
	return &SnoozeError{Until: until, Delay: until.Sub(g.cfg.Now()), Reason: reason, Err: cause}
}

// afterCtx is for the Redis writes that follow a provider call: they must
// happen even when the task's context ended with the call.
func afterCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// rateLimited pauses the provider for every worker after a 429 and turns
// the error into a snooze that still wraps it.
func (g *Guard) rateLimited(ctx context.Context, p *provider, perr error) error {
	now := g.cfg.Now()
	ra := providers.RetryAfterOf(perr)
	ctx, cancel := afterCtx(ctx)
	defer cancel()
	raw, err := holdScript.Run(ctx, g.rdb, []string{p.keys.hold, p.keys.n429, p.keys.stats},
		now.UnixMicro(), ra.Microseconds(), p.cfg.BackoffBase.Microseconds(), p.cfg.BackoffMax.Microseconds(),
		time.Hour.Milliseconds(), strconv.FormatFloat(rand.Float64(), 'f', 6, 64),
	).Int64Slice()
	until := now.Add(max(ra, p.cfg.BackoffBase))
	var n int64
	if err != nil || len(raw) != 2 {
		// Redis is unreachable: this worker still backs off on its own.
		g.cfg.Log.Error().Err(err).Str("provider", p.name).Msg("throttle: cannot record 429 pause")
	} else {
		until, n = fromMicros(raw[0], now), raw[1]
	}
	g.cfg.Log.Warn().Str("provider", p.name).Dur("retry_after", ra).Int64("consecutive_429", n).
		Time("until", until).Msg("provider rate limited: paused for all workers")
	return &SnoozeError{Until: until, Delay: until.Sub(now), Reason: "provider rate limited (429)", Err: perr}
}

func (g *Guard) recover(ctx context.Context, p *provider) {
	ctx, cancel := afterCtx(ctx)
	defer cancel()
	if err := recoverScript.Run(ctx, g.rdb, []string{p.keys.n429}).Err(); err != nil {
		g.cfg.Log.Debug().Err(err).Str("provider", p.name).Msg("throttle: cannot relax 429 back-off")
	}
}

// count bumps a counter outside the script (breaker snoozes).
func (g *Guard) count(ctx context.Context, p *provider, field string) {
	ctx, cancel := afterCtx(ctx)
	defer cancel()
	_ = g.rdb.HIncrBy(ctx, p.keys.stats, field, 1).Err()
}

// report logs breaker transitions and publishes the latest one to Redis,
// where Status finds it.
func (g *Guard) report(ctx context.Context, p *provider) {
	ts := p.br.takeTransitions()
	if len(ts) == 0 {
		return
	}
	for _, t := range ts {
		ev := g.cfg.Log.Warn()
		if t.to == gobreaker.StateClosed {
			ev = g.cfg.Log.Info()
		}
		ev.Str("provider", p.name).Str("from", t.from.String()).Str("to", t.to.String()).
			Str("worker", g.cfg.WorkerID).Msg("circuit breaker state change")
	}
	last := ts[len(ts)-1]
	ctx, cancel := afterCtx(ctx)
	defer cancel()
	err := g.rdb.HSet(ctx, p.keys.breaker, "state", last.to.String(), "from", last.from.String(),
		"worker", g.cfg.WorkerID, "at", last.at.UnixMilli()).Err()
	if err != nil {
		g.cfg.Log.Debug().Err(err).Str("provider", p.name).Msg("throttle: cannot publish breaker state")
	}
}

// heldUntil reads the 429 pause in force, if any (one GET).
func (g *Guard) heldUntil(ctx context.Context, p *provider) (time.Time, bool, error) {
	v, err := g.rdb.Get(ctx, p.keys.hold).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	now := g.cfg.Now()
	if v <= now.UnixMicro() {
		return time.Time{}, false, nil
	}
	return fromMicros(v, now), true, nil
}
