package throttle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pause stops every worker from calling provider until Resume. Tasks that
// meet the pause are snoozed for Config.PauseRecheck and look again. The
// reason is shown by Status; do not put secrets in it.
func (g *Guard) Pause(ctx context.Context, provider, reason string) error {
	p, err := g.provider(provider)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "paused"
	}
	if err := g.rdb.Set(ctx, p.keys.pause, reason, 0).Err(); err != nil {
		return fmt.Errorf("throttle: pause %s: %w", provider, err)
	}
	g.cfg.Log.Info().Str("provider", provider).Str("reason", reason).Msg("provider paused by operator")
	return nil
}

// Resume lifts an operator pause. A 429 pause stays: the provider set it.
func (g *Guard) Resume(ctx context.Context, provider string) error {
	p, err := g.provider(provider)
	if err != nil {
		return err
	}
	if err := g.rdb.Del(ctx, p.keys.pause).Err(); err != nil {
		return fmt.Errorf("throttle: resume %s: %w", provider, err)
	}
	g.cfg.Log.Info().Str("provider", provider).Msg("provider resumed by operator")
	return nil
}

// Status is what every worker shares about one provider.
type Status struct {
	Provider string
	// Rate is the configured rate with its burst; zero when unlimited.
	Rate   Rate
	CostBy string
	// BookedUntil is the end of the time already booked; zero when nothing
	// is booked ahead of now.
	BookedUntil time.Time
	// NextSlot is when a unit-cost call booked now would run.
	NextSlot time.Time
	// Paused and PauseReason report an operator pause.
	Paused      bool
	PauseReason string
	// HeldUntil is the end of the 429 pause in force; zero when none.
	HeldUntil      time.Time
	Consecutive429 int64
	// Breaker is the last breaker transition published by any worker
	// (breakers are per process; each worker publishes its own moves).
	Breaker BreakerStatus
	// LocalBreaker is this process's breaker state.
	LocalBreaker string
	// Counters since the keys were created.
	Granted, Snoozed, Booked, Claimed, RateLimited int64
}

// BreakerStatus is one published breaker transition.
type BreakerStatus struct {
	State  string // "closed", "open", "half-open"; "" if never published
	From   string
	Worker string
	At     time.Time
}

// Status reads the provider's shared state in one round trip.
func (g *Guard) Status(ctx context.Context, provider string) (Status, error) {
	p, err := g.provider(provider)
	if err != nil {
		return Status{}, err
	}
	var tat, pause, hold, n429 *redis.StringCmd
	var breaker, stats *redis.MapStringStringCmd
	_, err = g.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		tat, pause, hold, n429 = pl.Get(ctx, p.keys.tat), pl.Get(ctx, p.keys.pause), pl.Get(ctx, p.keys.hold), pl.Get(ctx, p.keys.n429)
		breaker, stats = pl.HGetAll(ctx, p.keys.breaker), pl.HGetAll(ctx, p.keys.stats)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Status{}, fmt.Errorf("throttle: status %s: %w", provider, err)
	}
	now := g.cfg.Now()
	s := Status{Provider: provider, Rate: p.rate, CostBy: p.cfg.CostBy, LocalBreaker: p.br.State().String()}
	if p.rate.Unlimited() {
		s.Rate = Rate{}
	}
	micros := func(c *redis.StringCmd) time.Time {
		v, err := c.Int64()
		if err != nil || v <= now.UnixMicro() {
			return time.Time{}
		}
		return fromMicros(v, now)
	}
	s.BookedUntil = micros(tat)
	s.NextSlot = now
	if p.T > 0 && !s.BookedUntil.IsZero() {
		next := s.BookedUntil.Add(time.Duration(p.T*int64(1-p.cfg.Burst)) * time.Microsecond)
		if next.After(now) {
			s.NextSlot = next
		}
	}
	if reason, err := pause.Result(); err == nil {
		s.Paused, s.PauseReason = true, reason
	}
	s.HeldUntil = micros(hold)
	s.Consecutive429, _ = n429.Int64()
	b := breaker.Val()
	s.Breaker = BreakerStatus{State: b["state"], From: b["from"], Worker: b["worker"]}
	if ms, err := strconv.ParseInt(b["at"], 10, 64); err == nil {
		s.Breaker.At = time.UnixMilli(ms).In(now.Location())
	}
	st := stats.Val()
	for field, dst := range map[string]*int64{"granted": &s.Granted, "snoozed": &s.Snoozed,
		"booked": &s.Booked, "claimed": &s.Claimed, "rate_limited": &s.RateLimited} {
		*dst, _ = strconv.ParseInt(st[field], 10, 64)
	}
	return s, nil
}
