package campaign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/tasks"
)

// Enqueuer puts tasks on the queue. *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// compiled is a campaign's parsed pacing and template, cached: both are
// fixed at creation.
type compiled struct {
	spec pacing.Spec
	msg  string
	plan *pacing.Plan
	tpl  *Template
}

type compileCache struct {
	mu sync.Mutex
	m  map[string]*compiled
}

func (cc *compileCache) get(c *Campaign) (*compiled, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if x, ok := cc.m[c.ID]; ok && x.spec == c.Pacing && x.msg == c.Message {
		return x, nil
	}
	plan, err := pacing.Parse(c.Pacing)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: stored pacing: %w", c.ID, err)
	}
	tpl, err := ParseTemplate(c.Message)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: stored message: %w", c.ID, err)
	}
	x := &compiled{spec: c.Pacing, msg: c.Message, plan: plan, tpl: tpl}
	if cc.m == nil {
		cc.m = map[string]*compiled{}
	}
	cc.m[c.ID] = x
	return x, nil
}

func (cc *compileCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}

// dispatcher enqueues blocks. The Scheduler and the Handler share it.
type dispatcher struct {
	store *Store
	enq   Enqueuer
	cache *compileCache
}

// advance claims and enqueues the campaign's next block when no block is
// in flight: block 0 at the first allowed instant at or after both
// start_date and now, block k at the first allowed instant at or after
// both now and block k−1's start plus minutesxblock (pacing.Plan.Resume),
// so blocks missed during downtime never burst. It reports whether this
// call enqueued a block.
func (d *dispatcher) advance(ctx context.Context, c *Campaign, now time.Time) (bool, error) {
	if !c.State.active() || c.InFlight() || c.NextBlock >= c.Blocks {
		return false, nil
	}
	x, err := d.cache.get(c)
	if err != nil {
		return false, err
	}
	start := x.plan.Resume(now, c.LastBlockStart)
	if start.IsZero() {
		return false, fmt.Errorf("campaign %s: no allowed instant within 60 days of %s", c.ID, now.Format(time.RFC3339))
	}
	k := c.NextBlock
	ok, err := d.store.claim(ctx, c.ID, k, start)
	if err != nil || !ok {
		return false, err
	}
	d.store.setLive(ctx, c)
	return true, d.enqueue(ctx, c.ID, k, start)
}

// ensure re-enqueues the in-flight block if its task is gone (it returned
// while the campaign was paused, or the enqueue after the claim failed).
// The deterministic task id makes this a no-op while the task exists.
func (d *dispatcher) ensure(ctx context.Context, c *Campaign, now time.Time) error {
	if !c.State.active() || !c.InFlight() {
		return nil
	}
	at := c.LastBlockStart
	if at.Before(now) {
		at = now
	}
	return d.enqueue(ctx, c.ID, c.NextBlock-1, at)
}

// blockLead is how long before its start a block task is due in asynq.
// asynq keeps a scheduled task's time in whole seconds and the workers
// move due tasks to the queue only every delayed-task check (500ms in
// smsq's worker), so a task due exactly at the start would run up to
// about 0.6s late, most for starts on a whole second (every block of a
// start_date or a window opening). Due one second ahead, it reaches a
// handler before the start and the handler waits for the exact instant
// in-process: at most 2s plus the check, within HandlerOptions.MaxWait's
// default 3s, so the wait never turns into a snooze.
const blockLead = time.Second

func (d *dispatcher) enqueue(ctx context.Context, id string, k int, at time.Time) error {
	t, err := tasks.NewBlockTask(tasks.BlockPayload{Campaign: id, Block: k}, at.Add(-blockLead))
	if err != nil {
		return err
	}
	if _, err := d.enq.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("campaign %s: enqueue block %d: %w", id, k, err)
	}
	return nil
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Tick is how often the active scheduler looks at the campaigns.
	// Default 250ms.
	Tick time.Duration `koanf:"tick"`
	// LeaseTTL is how long the lease that elects the active scheduler
	// lasts without renewal (it is renewed every tick): how long a dead
	// scheduler blocks the others. Default 5s.
	LeaseTTL time.Duration `koanf:"lease_ttl"`
	// Recheck is how often the task of a block in flight is re-enqueued if
	// missing (after a resume, or a failed enqueue). Default 5s.
	Recheck time.Duration `koanf:"recheck"`
	// ID names this scheduler in the lease. Default "<host>:<pid>:<random>".
	ID string `koanf:"id"`
	// Now is the clock for block starts. Default time.Now.
	Now func() time.Time `koanf:"-"`
	// Log receives leadership changes and errors. Default: disabled.
	Log zerolog.Logger `koanf:"-"`
}

// Scheduler enqueues campaign blocks at their start times. Any number may
// run against one Redis: a lease elects the one that works, and the block
// claim plus deterministic task ids make duplicates impossible anyway.
type Scheduler struct {
	store *Store
	d     *dispatcher
	o     SchedulerOptions
	lease string

	mu      sync.Mutex
	leading bool
	ensured map[string]time.Time // campaign → last ensure
}

// NewScheduler returns a scheduler over store that enqueues with enq.
func NewScheduler(store *Store, enq Enqueuer, o SchedulerOptions) *Scheduler {
	if o.Tick <= 0 {
		o.Tick = 250 * time.Millisecond
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 5 * time.Second
	}
	if o.Recheck <= 0 {
		o.Recheck = 5 * time.Second
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = host + ":" + strconv.Itoa(os.Getpid()) + ":" + randomToken()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Scheduler{store: store, d: &dispatcher{store: store, enq: enq, cache: &compileCache{}}, o: o,
		lease: store.prefix + "scheduler:lease", ensured: map[string]time.Time{}}
}

func randomToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run ticks until ctx is done, then gives the lease up so another
// scheduler takes over at once.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	defer s.release()
	var lastErr string
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			if err.Error() != lastErr { // one line per distinct problem, not per tick
				s.o.Log.Error().Err(err).Msg("campaign scheduler")
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, s.store.rdb, []string{s.lease}, s.o.ID).Err()
}

// Tick takes or renews the lease and, when it holds it, does one round
// over the active campaigns. It reports whether this scheduler leads.
func (s *Scheduler) Tick(ctx context.Context) (bool, error) {
	n, err := leaseScript.Run(ctx, s.store.rdb, []string{s.lease}, s.o.ID, s.o.LeaseTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("scheduler lease: %w", err)
	}
	leading := n == 1
	s.mu.Lock()
	if leading != s.leading {
		s.o.Log.Info().Bool("leading", leading).Str("scheduler", s.o.ID).Msg("campaign scheduler leadership changed")
		s.leading = leading
		s.ensured = map[string]time.Time{}
	}
	s.mu.Unlock()
	if !leading {
		return false, nil
	}
	return true, s.round(ctx)
}

// round looks at every active campaign once.
func (s *Scheduler) round(ctx context.Context) error {
	ids, err := s.store.activeIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := s.step(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// step moves one campaign on: finish it, enqueue its next block, or make
// sure the task of its block in flight exists.
func (s *Scheduler) step(ctx context.Context, id string) error {
	c, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return s.store.deactivate(ctx, id)
	}
	if err != nil {
		return err
	}
	now := s.o.Now()
	s.mu.Lock()
	last, seen := s.ensured[id]
	s.mu.Unlock()
	switch {
	case c.State == Paused:
		// Forget it, so that a resume is noticed on the next tick.
		s.mu.Lock()
		delete(s.ensured, id)
		s.mu.Unlock()
		return nil
	case c.State.Final():
		s.d.cache.forget(id)
		return s.store.deactivate(ctx, id)
	case !c.State.active():
		return nil
	case c.BlocksDone >= c.Blocks:
		_, err := s.store.blockDone(ctx, id, -1, now)
		return err
	case c.InFlight():
		if seen && now.Sub(last) < s.o.Recheck && now.Sub(last) >= 0 {
			return nil
		}
		err = s.d.ensure(ctx, c, now)
	default:
		_, err = s.d.advance(ctx, c, now)
	}
	s.mu.Lock()
	s.ensured[id] = now
	s.mu.Unlock()
	return err
}
