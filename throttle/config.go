package throttle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Cost units (ProviderConfig.CostBy).
const (
	CostByRequest = "request"
	CostByMessage = "message"
	CostBySegment = "segment"
)

// ProviderConfig is the throttle section of one provider
// (providers.<name>.throttle). Every zero field takes its default.
type ProviderConfig struct {
	// Rate is the provider-wide limit shared by all workers: "50/s",
	// "100/min", "3000/h", "0.5/s". Default "": unlimited.
	Rate string `koanf:"rate"`
	// Burst is how many units of cost may go at once after an idle spell.
	// Default 1.
	Burst int `koanf:"burst"`
	// CostBy says what one unit of Call.Cost counts: "request", "message"
	// (one per recipient) or "segment" (one per SMS part). The caller
	// computes the cost; this names the unit of Rate. Default "request".
	CostBy string `koanf:"cost_by"`
	// MaxSleep is the longest a worker waits in-process for its slot; a
	// later slot re-schedules the task to it instead. Keep it at or above
	// 1s: asynq schedules in whole seconds and may run a task up to 1s
	// early. Default 1s.
	MaxSleep time.Duration `koanf:"max_sleep"`
	// BulkHorizon is how far ahead bulk calls may book, so a transactional
	// call is never queued behind more than this much campaign traffic
	// (plus one bulk call's own length). Default 2s.
	BulkHorizon time.Duration `koanf:"bulk_horizon"`
	// ClaimWindow is how late a re-scheduled task may come back and still
	// use the slot it booked; later than that it books again, so a crowd of
	// late tasks cannot fire at once. Default 1m.
	ClaimWindow time.Duration `koanf:"claim_window"`

	// FailureRatio opens the breaker when failures/calls in the counting
	// window reach it. Default 0.5.
	FailureRatio float64 `koanf:"failure_ratio"`
	// MinRequests is how many finished calls the window needs before the
	// ratio is judged. Default 10.
	MinRequests int `koanf:"min_requests"`
	// OpenTimeout is how long the breaker stays open before letting probe
	// calls through (half-open). Default 30s.
	OpenTimeout time.Duration `koanf:"open_timeout"`
	// HalfOpenRequests is how many probe calls may run while half-open;
	// that many successes close the breaker. Default 1.
	HalfOpenRequests int `koanf:"half_open_requests"`
	// Interval is the closed-state counting window: counts are cleared
	// this often. Default 60s.
	Interval time.Duration `koanf:"interval"`

	// BackoffBase and BackoffMax bound the adaptive pause after a 429
	// without Retry-After: base·2^(n-1) for the n-th consecutive 429,
	// jittered, capped. Defaults 1s and 5m.
	BackoffBase time.Duration `koanf:"backoff_base"`
	BackoffMax  time.Duration `koanf:"backoff_max"`
}

// withDefaults returns c with every zero field set to its default.
func (c ProviderConfig) withDefaults() ProviderConfig {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Burst == 0 {
		c.Burst = 1
	}
	if c.CostBy == "" {
		c.CostBy = CostByRequest
	}
	set(&c.MaxSleep, time.Second)
	set(&c.BulkHorizon, 2*time.Second)
	set(&c.ClaimWindow, time.Minute)
	if c.FailureRatio == 0 {
		c.FailureRatio = 0.5
	}
	if c.MinRequests == 0 {
		c.MinRequests = 10
	}
	set(&c.OpenTimeout, 30*time.Second)
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = 1
	}
	set(&c.Interval, 60*time.Second)
	set(&c.BackoffBase, time.Second)
	set(&c.BackoffMax, 5*time.Minute)
	return c
}

// Validate checks c (zero fields meaning their defaults). Each problem
// names its field ("rate: …"); all problems are joined.
func (c ProviderConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, err := ParseRate(c.Rate); err != nil {
		bad("rate", "%v", err)
	}
	if c.Burst < 0 {
		bad("burst", "must not be negative")
	}
	switch c.CostBy {
	case "", CostByRequest, CostByMessage, CostBySegment:
	default:
		bad("cost_by", "%q: want request, message or segment", c.CostBy)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"max_sleep", c.MaxSleep}, {"bulk_horizon", c.BulkHorizon}, {"claim_window", c.ClaimWindow},
		{"open_timeout", c.OpenTimeout}, {"interval", c.Interval},
		{"backoff_base", c.BackoffBase}, {"backoff_max", c.BackoffMax},
	} {
		if d.v < 0 {
			bad(d.field, "must not be negative")
		}
	}
	if c.FailureRatio < 0 || c.FailureRatio > 1 {
		bad("failure_ratio", "%v: want a ratio in (0, 1]", c.FailureRatio)
	}
	if c.MinRequests < 0 {
		bad("min_requests", "must not be negative")
	}
	if c.HalfOpenRequests < 0 {
		bad("half_open_requests", "must not be negative")
	}
	if d := c.withDefaults(); c.BackoffBase >= 0 && c.BackoffMax >= 0 && d.BackoffMax < d.BackoffBase {
		bad("backoff_max", "%s is below backoff_base %s", d.BackoffMax, d.BackoffBase)
	}
	return errors.Join(errs...)
}

// Config configures a Guard.
type Config struct {
	// Providers are the throttle settings by provider name. A Call for a
	// provider not listed here fails with ErrUnknownProvider.
	Providers map[string]ProviderConfig `koanf:"providers"`
	// Prefix starts every Redis key. Default "smsq:throttle:".
	Prefix string `koanf:"prefix"`
	// WorkerID names this process in published breaker states. Default
	// "<hostname>:<pid>".
	WorkerID string `koanf:"worker_id"`
	// PauseRecheck is how long a task waits before looking again at an
	// operator pause (which has no end time). Default 15s.
	PauseRecheck time.Duration `koanf:"pause_recheck"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `koanf:"-"`
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error `koanf:"-"`
	// Log receives breaker transitions and 429 pauses. Default: disabled.
	Log zerolog.Logger `koanf:"-"`
}

// Validate checks c, naming fields as they appear in the configuration
// file ("providers.sakari.throttle.rate: …").
func (c Config) Validate() error {
	var errs []error
	for name, pc := range c.Providers {
		if name == "" || strings.ContainsAny(name, "{}") {
			errs = append(errs, fmt.Errorf("providers.%q: name must be non-empty, without braces", name))
			continue
		}
		if err := pc.Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("providers.%s.throttle.%w", name, e))
			}
		}
	}
	if c.PauseRecheck < 0 {
		errs = append(errs, errors.New("pause_recheck: must not be negative"))
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "smsq:throttle:"
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.PauseRecheck == 0 {
		c.PauseRecheck = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
