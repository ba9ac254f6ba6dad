package throttle

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/smsq/smsq/providers"
)

// errNotRun releases a breaker admission whose call never ran (the call
// was snoozed or its context ended while waiting for its slot).
var errNotRun = errors.New("throttle: call not run")

// breaker is one provider's circuit breaker in this process. gobreaker
// does the counting, tripping and half-open admission; this wrapper keeps
// the times that gobreaker reads from the wall clock (open timeout,
// counting window) on the Guard's clock, so tests can drive them:
//
//   - gobreaker's own Timeout is 1ns, so once this wrapper lets a call
//     through after openUntil, gobreaker is already willing to half-open;
//   - gobreaker's own Interval is off; the wrapper starts a fresh
//     gobreaker when its counting window ends.
//
// Every call into gobreaker happens under mu, so OnStateChange (which
// gobreaker calls synchronously) runs under mu too.
type breaker struct {
	name string
	cfg  ProviderConfig
	now  func() time.Time

	mu        sync.Mutex
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	gen       uint64 // which cb OnStateChange belongs to
	state     gobreaker.State
	openUntil time.Time
	windowEnd time.Time
	pending   []transition // to log and publish once mu is released
}

type transition struct {
	from, to gobreaker.State
	at       time.Time
}

func newBreaker(name string, cfg ProviderConfig, now func() time.Time) *breaker {
	b := &breaker{name: name, cfg: cfg, now: now, state: gobreaker.StateClosed}
	b.mu.Lock()
	b.renew(now())
	b.mu.Unlock()
	return b
}

// renew starts a fresh gobreaker in the closed state (a new counting
// window). Callers hold mu.
func (b *breaker) renew(now time.Time) {
	b.gen++
	gen := b.gen
	minReq := uint32(b.cfg.MinRequests)
	ratio := b.cfg.FailureRatio
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        b.name,
		MaxRequests: uint32(b.cfg.HalfOpenRequests),
		Timeout:     time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// Judge finished calls only: Requests also counts calls in flight.
			done := c.TotalSuccesses + c.TotalFailures
			return done >= minReq && done > 0 && float64(c.TotalFailures)/float64(done) >= ratio
		},
		IsSuccessful: breakerSuccess,
		IsExcluded:   breakerExcluded,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if gen != b.gen {
				return // a retired gobreaker finishing an old call
			}
			b.onTransition(from, to)
		},
	})
	b.windowEnd = now.Add(b.cfg.Interval)
}

// onTransition runs under mu.
func (b *breaker) onTransition(from, to gobreaker.State) {
	now := b.now()
	if to == gobreaker.StateHalfOpen && now.Before(b.openUntil) {
		// gobreaker half-opens on the wall clock, e.g. while finishing a
		// call that was in flight when it tripped. On our clock the
		// breaker is still open; allow reports the move when it is due.
		return
	}
	b.state = to
	switch to {
	case gobreaker.StateOpen:
		b.openUntil = now.Add(b.cfg.OpenTimeout)
	case gobreaker.StateClosed:
		b.windowEnd = now.Add(b.cfg.Interval)
	}
	b.pending = append(b.pending, transition{from: from, to: to, at: now})
}

// breakerSuccess: only failures of the provider itself count against the
// breaker. A permanent error (bad number, bad request, refused
// credentials) is a working provider giving a correct answer.
func breakerSuccess(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return providers.ClassOf(err) != providers.ClassRetryable
}

// breakerExcluded: results that say nothing about the provider's health —
// a 429 (handled by the pause), our own cancellation or shutdown, a call
// that never ran.
func breakerExcluded(err error) bool {
	return errors.Is(err, errNotRun) || errors.Is(err, providers.ErrRateLimited) ||
		errors.Is(err, context.Canceled)
}

// allow admits a call or says until when the provider is off limits.
// done must be called exactly once with the call's result (errNotRun if
// it did not run).
func (b *breaker) allow() (done func(error), until time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Before(b.openUntil) {
		return nil, b.openUntil, ErrBreakerOpen
	}
	switch b.state {
	case gobreaker.StateClosed:
		if !now.Before(b.windowEnd) {
			b.renew(now)
		}
	case gobreaker.StateOpen:
		// Due to half-open. Asking gobreaker moves it (and reports the
		// move through OnStateChange) unless it already moved silently.
		if st := b.cb.State(); b.state == gobreaker.StateOpen && st == gobreaker.StateHalfOpen {
			b.onTransition(gobreaker.StateOpen, gobreaker.StateHalfOpen)
		}
	}
	d, err := b.cb.Allow()
	if err != nil {
		// ErrTooManyRequests: half-open with every probe place taken.
		// The probes finish soon; look again in a second.
		until := now.Add(time.Second)
		if b.state == gobreaker.StateOpen {
			until = b.openUntil
		}
		return nil, until, ErrBreakerOpen
	}
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			b.mu.Lock()
			d(err)
			b.mu.Unlock()
		})
	}, time.Time{}, nil
}

// takeTransitions returns and forgets the transitions not yet reported.
func (b *breaker) takeTransitions() []transition {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.pending
	b.pending = nil
	return t
}

// State is the breaker's state on the Guard's clock: open until
// openUntil, then half-open (gobreaker itself moves on the next call).
func (b *breaker) State() gobreaker.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == gobreaker.StateOpen && !b.now().Before(b.openUntil) {
		return gobreaker.StateHalfOpen
	}
	return b.state
}

// openedUntil reports whether the breaker is open now (on the Guard's
// clock), and until when.
func (b *breaker) openedUntil() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.now().Before(b.openUntil) {
		return b.openUntil, true
	}
	return time.Time{}, false
}
