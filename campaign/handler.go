package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// Guard decides when a provider call may run (rate limit, pauses,
// breaker). *throttle.Guard implements it.
type Guard interface {
	Do(ctx context.Context, c throttle.Call, fn func(context.Context) error) error
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Store holds the campaigns. Required.
	Store *Store `koanf:"-"`
	// Senders are the provider adapters by name. Required.
	Senders map[string]providers.Sender `koanf:"-"`
	// Guard admits every provider call (Lane throttle.Bulk). Required.
	Guard Guard `koanf:"-"`
	// Enqueuer lets the handler enqueue the next block as soon as one
	// completes. Default nil: the Scheduler does it on its next tick.
	Enqueuer Enqueuer `koanf:"-"`
	// Polls starts the delivery polls of each block sent through a
	// provider with a status endpoint (providers.StatusPoller), and only
	// then are the provider ids recorded for delivery reports (they are
	// dropped when the block's round of polls ends). Default nil: no ids,
	// no polls; recipients stay submitted. SetPolls sets it later.
	Polls PollStarter `koanf:"-"`
	// Metrics is told about every provider call, as for single sends.
	// Default nil: none. SetMetrics sets it later.
	Metrics Metrics `koanf:"-"`
	// MaxAttempts is how many failed provider calls the recipients at the
	// head of a block may take before they are failed (send.max_attempts).
	// Default 8.
	MaxAttempts int `koanf:"max_attempts"`
	// CostBy maps a provider to what its rate limit counts: "request"
	// (default), "message" or "segment".
	CostBy map[string]string `koanf:"cost_by"`
	// Parallel is how many single sends run at once for a provider without
	// a batch endpoint. Default 8.
	Parallel int `koanf:"parallel"`
	// MaxWait is the longest the handler sleeps in-process for a block
	// start or a window to open; longer waits re-schedule the task
	// (a throttle snooze). Default 3s.
	MaxWait time.Duration `koanf:"max_wait"`
	// LockTTL is how long the per-campaign run lock outlives a worker that
	// died holding it. Default 30s.
	LockTTL time.Duration `koanf:"lock_ttl"`
	// DeadlineMargin: a run whose task deadline is nearer than this stops
	// between batches and continues in a fresh run rather than be cut off
	// mid-call. Default 1m.
	DeadlineMargin time.Duration `koanf:"deadline_margin"`
	// Now is the clock for pacing decisions. Default time.Now.
	Now func() time.Time `koanf:"-"`
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error `koanf:"-"`
	// Log receives progress and problems. Default: disabled.
	Log zerolog.Logger `koanf:"-"`
}

// Metrics records provider calls; *metrics.Metrics implements it (and
// worker.Metrics is the same interface).
type Metrics interface {
	// ProviderCall reports one call that carried messages messages: its
	// duration and its error (nil when the provider accepted them).
	ProviderCall(provider string, messages int, took time.Duration, err error)
}

// Handler runs campaign:block tasks.
type Handler struct {
	o     HandlerOptions
	store *Store
	d     *dispatcher
}

var _ asynq.Handler = (*Handler)(nil)

// NewHandler checks o and returns a Handler.
func NewHandler(o HandlerOptions) (*Handler, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("campaign: handler: store required")
	case o.Guard == nil:
		return nil, errors.New("campaign: handler: guard required")
	case o.Senders == nil:
		return nil, errors.New("campaign: handler: senders required")
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 3 * time.Second
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 30 * time.Second
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	return &Handler{o: o, store: o.Store, d: &dispatcher{store: o.Store, enq: o.Enqueuer, cache: &compileCache{}}}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetPolls sets HandlerOptions.Polls, for a worker that builds its
// delivery machinery after its task handlers. Call it before the handler
// runs.
func (h *Handler) SetPolls(p PollStarter) { h.o.Polls = p }

// SetMetrics sets HandlerOptions.Metrics; call it before the handler runs.
func (h *Handler) SetMetrics(m Metrics) { h.o.Metrics = m }

// reports reports whether c's recipients get provider ids recorded and
// delivery polls: its provider has a status endpoint and polls are on.
func (h *Handler) reports(c *Campaign) bool {
	_, ok := h.o.Senders[c.Provider].(providers.StatusPoller)
	return ok && h.o.Polls != nil
}

// startPolls starts block k's delivery polls if it needs them. A failure
// is returned only when the run has no error of its own: either way the
// block task runs again and so does this.
func (h *Handler) startPolls(ctx context.Context, log zerolog.Logger, c *Campaign, k int, recorded bool, runErr error) error {
	if !h.reports(c) {
		return runErr
	}
	pctx, cancel := afterCtx(ctx)
	defer cancel()
	if err := h.o.Polls.Start(pctx, c, k, recorded); err != nil {
		log.Warn().Err(err).Msg("delivery polls of the block not started; will try again")
		if runErr == nil {
			return err
		}
	}
	return runErr
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error { return h.HandleBlock(ctx, t) }

// errStopped ends a run without error: the campaign was paused or
// cancelled, so the rest waits for a resume (the scheduler re-enqueues).
var errStopped = errors.New("campaign stopped")

// errTimeBudget is the cause of a snooze that continues a long block in
// a fresh task run before the current one's deadline.
var errTimeBudget = errors.New("task time budget nearly used")

// HandleBlock sends the pending recipients of one block and records each
// one's fate. It is idempotent: only pending and unknown recipients are
// sent, and recipients a crashed run left "sending" become unknown and are
// sent again. It returns nil when the block is complete or the campaign is
// not active, a throttle snooze when it must wait (block start, window,
// rate limit), and an error for asynq to retry with back-off.
func (h *Handler) HandleBlock(ctx context.Context, t *asynq.Task) error {
	var p tasks.BlockPayload
	if err := tasks.Decode(t, &p); err != nil {
		h.o.Log.Error().Err(err).Str("task_type", t.Type()).Msg("dropping undecodable campaign block task")
		return err
	}
	log := h.o.Log.With().Str("campaign_id", p.Campaign).Int("block", p.Block).Logger()
	c, err := h.store.Get(ctx, p.Campaign)
	if errors.Is(err, ErrNotFound) {
		log.Error().Msg("block of an unknown campaign: dropped")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if !c.State.active() {
		log.Info().Str("state", string(c.State)).Msg("campaign not active: block left for later")
		// What was submitted before the stop is still followed up (a
		// block beyond the last has no recipients: nothing starts).
		return h.startPolls(ctx, log, c, p.Block, false, nil)
	}
	if p.Block >= c.Blocks {
		return fmt.Errorf("campaign %s has %d blocks, not %d: %w", c.ID, c.Blocks, p.Block+1, asynq.SkipRetry)
	}
	x, err := h.d.cache.get(c)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	// asynq stores ProcessAt in whole seconds: the task may come early.
	if p.Block == c.NextBlock-1 {
		if err := h.waitUntil(ctx, c.LastBlockStart, ErrNotYet, "block start not reached"); err != nil {
			return err
		}
	}

	token := randomToken()
	lk := h.store.keys(c.ID).lock
	held, err := leaseScript.Run(ctx, h.store.rdb, []string{lk}, token, h.o.LockTTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("campaign lock: %w", err)
	}
	if held != 1 {
		return h.snooze(h.o.Now().Add(2*time.Second), "another worker is sending this campaign", ErrBusy)
	}
	stopRenew := h.renewLock(ctx, lk, token)
	var unlockOnce sync.Once
	unlock := func() {
		unlockOnce.Do(func() {
			stopRenew()
			rctx, cancel := afterCtx(ctx)
			defer cancel()
			_ = releaseScript.Run(rctx, h.store.rdb, []string{lk}, token).Err()
		})
	}
	defer unlock()

	var recorded bool
	done, err := h.runBlock(ctx, log, c, x, p.Block, &recorded)
	if errors.Is(err, errStopped) {
		err = nil
	}
	err = h.startPolls(ctx, log, c, p.Block, recorded, err)
	// The lock goes before the next block is enqueued: a worker that took
	// that task at once would otherwise find the campaign still locked
	// and snooze it for seconds.
	unlock()
	if done && h.o.Enqueuer != nil {
		h.enqueueNext(ctx, log, c.ID)
	}
	return err
}

// enqueueNext enqueues the block after a completed one now rather than on
// the scheduler's next tick.
func (h *Handler) enqueueNext(ctx context.Context, log zerolog.Logger, id string) {
	c, err := h.store.Get(ctx, id)
	if err != nil {
		log.Warn().Err(err).Msg("could not enqueue the next block; the scheduler will")
		return
	}
	if _, err := h.d.advance(ctx, c, h.o.Now()); err != nil {
		log.Warn().Err(err).Msg("could not enqueue the next block; the scheduler will")
	}
}

// renewLock keeps the run lock alive while the block runs.
func (h *Handler) renewLock(ctx context.Context, key, token string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(h.o.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = leaseScript.Run(ctx, h.store.rdb, []string{key}, token, h.o.LockTTL.Milliseconds()).Err()
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// waitUntil sleeps until at when that is at most MaxWait away, and returns
// a snooze until at otherwise.
func (h *Handler) waitUntil(ctx context.Context, at time.Time, cause error, reason string) error {
	d := at.Sub(h.o.Now())
	if d <= 0 {
		return nil
	}
	if d > h.o.MaxWait {
		return h.snooze(at, reason, cause)
	}
	return h.o.Sleep(ctx, d)
}

func (h *Handler) snooze(until time.Time, reason string, cause error) *throttle.SnoozeError {
	return &throttle.SnoozeError{Until: until, Delay: until.Sub(h.o.Now()), Reason: reason, Err: cause}
}

func afterCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// runBlock sends block k's pending recipients batch by batch and, when
// none is left, records the block complete. more reports that the block
// is complete and the campaign is not done: its next block is due for
// enqueueing. recorded is set when provider ids were recorded.
func (h *Handler) runBlock(ctx context.Context, log zerolog.Logger, c *Campaign, x *compiled, k int, recorded *bool) (more bool, err error) {
	lo, hi := c.blockRange(k)
	st, err := h.store.states(ctx, c.ID, lo, hi)
	if err != nil {
		return false, fmt.Errorf("campaign store: %w", err)
	}
	var todo, stuck []int
	for i, b := range st {
		switch RecipientState(b) {
		case Pending, Unknown:
			todo = append(todo, lo+i)
		case Sending:
			stuck = append(stuck, lo+i)
		}
	}
	if len(stuck) > 0 {
		// A previous run stopped during a provider call (crash, kill,
		// shutdown): those recipients may or may not have been accepted.
		if _, err := h.store.mark(ctx, c.ID, Unknown, []RecipientState{Sending}, stuck); err != nil {
			return false, fmt.Errorf("campaign store: %w", err)
		}
		log.Warn().Int("recipients", len(stuck)).
			Msg("a previous run stopped during provider calls; sending those recipients again, the provider may receive them twice")
		todo = append(todo, stuck...)
		slices.Sort(todo)
	}
	if len(todo) > 0 {
		if err := h.sendAll(ctx, log, c, x, k, lo, hi, todo, recorded); err != nil {
			return false, err
		}
	}
	// Every recipient of the block must have a settled fate now.
	if st, err = h.store.states(ctx, c.ID, lo, hi); err != nil {
		return false, fmt.Errorf("campaign store: %w", err)
	}
	for _, b := range st {
		if s := RecipientState(b); s == Pending || s == Sending || s == Unknown {
			return false, fmt.Errorf("campaign %s block %d: a recipient is still %s; running again", c.ID, k, s)
		}
	}
	state, err := h.store.blockDone(ctx, c.ID, k, h.o.Now())
	if err != nil {
		return false, fmt.Errorf("campaign store: %w", err)
	}
	log.Info().Int("recipients", hi-lo).Msg("block complete")
	if state == Done {
		log.Info().Msg("campaign done")
		return false, nil
	}
	return true, nil
}

// sendAll walks the todo recipients in provider-sized batches, checking
// before each batch that the campaign is still active and the window
// open.
func (h *Handler) sendAll(ctx context.Context, log zerolog.Logger, c *Campaign, x *compiled, k, lo, hi int, todo []int, recorded *bool) error {
	sender, ok := h.o.Senders[c.Provider]
	if !ok {
		log.Error().Str("provider", c.Provider).Msg("provider not configured on this worker; retrying later")
		return fmt.Errorf("campaign %s: provider %q is not configured on this worker", c.ID, c.Provider)
	}
	recs, err := h.store.Recipients(ctx, c, lo, hi)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	bs, batched := sender.(providers.BatchSender)
	size := h.o.Parallel
	if batched {
		size = max(1, bs.MaxBatch())
	}
	run := &blockRun{h: h, log: log, c: c, x: x, k: k, sender: sender, poller: h.reports(c), recorded: recorded,
		dirtyAttempts: c.Attempts > 0}
	for start := 0; start < len(todo); start += size {
		batch := todo[start:min(start+size, len(todo))]
		if err := h.checkpoint(ctx, c, x); err != nil {
			return err
		}
		if start == 0 {
			if err := h.store.started(ctx, c.ID, k, h.o.Now()); err != nil {
				return fmt.Errorf("campaign store: %w", err)
			}
		}
		msgs := make([]providers.Message, len(batch))
		for j, i := range batch {
			r := recs[i-lo]
			msgs[j] = providers.Message{ID: fmt.Sprintf("%s:%d", c.ID, i), To: r.Number, From: c.From, Text: x.tpl.Render(r.Values)}
		}
		var outs []outcome
		var callErr error
		if batched {
			outs, callErr = run.sendBatch(ctx, bs, batch, msgs)
		} else {
			outs, callErr = run.sendEach(ctx, batch, msgs)
		}
		if err := run.settle(ctx, outs, callErr); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint runs before each batch: the campaign must still be active
// (pause and cancel take effect here), the instant allowed by its pacing,
// and the task far enough from its deadline.
func (h *Handler) checkpoint(ctx context.Context, c *Campaign, x *compiled) error {
	st, err := h.store.stateOf(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if !st.active() {
		h.o.Log.Info().Str("campaign_id", c.ID).Str("state", string(st)).Msg("campaign no longer active: stopping before the next batch")
		return errStopped
	}
	if now := h.o.Now(); !x.plan.Allowed(now) {
		next := x.plan.NextAllowed(now)
		if next.IsZero() {
			return fmt.Errorf("campaign %s: no allowed instant within 60 days", c.ID)
		}
		if err := h.waitUntil(ctx, next, ErrOutsideWindow, "sending window closed"); err != nil {
			return err
		}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.o.DeadlineMargin {
		return h.snooze(h.o.Now().Add(time.Second), "continuing the block in a new run", errTimeBudget)
	}
	return nil
}

// outcome is what happened to one recipient moved to "sending".
type outcome struct {
	idx int
	res providers.Result
	err error
}

// blockRun is the state of one run of one block.
type blockRun struct {
	h             *Handler
	log           zerolog.Logger
	c             *Campaign
	x             *compiled
	k             int
	sender        providers.Sender
	poller        bool  // provider ids are recorded for delivery reports
	recorded      *bool // set once some are
	dirtyAttempts bool  // the meta attempts counter may be non-zero
}

// called tells Metrics about one provider call.
func (r *blockRun) called(messages int, start time.Time, err error) {
	if r.h.o.Metrics != nil {
		r.h.o.Metrics.ProviderCall(r.c.Provider, messages, r.h.o.Now().Sub(start), err)
	}
}

// windowClosed is what a call returns when the window closed while it
// waited for its rate-limit slot. It is a request-class provider error so
// the circuit breaker does not count it against the provider.
func (r *blockRun) windowClosed() error {
	return &providers.Error{Class: providers.ClassRequest, Provider: r.c.Provider, Op: "campaign", Message: "sending window closed", Err: ErrOutsideWindow}
}

var sendable = []RecipientState{Pending, Unknown}

// sendBatch submits one batch in one guarded provider call. The batch's
// recipients are marked sending inside the call, after admission.
func (r *blockRun) sendBatch(ctx context.Context, bs providers.BatchSender, batch []int, msgs []providers.Message) ([]outcome, error) {
	var called []int
	var results []providers.BatchResult
	call := throttle.Call{Provider: r.c.Provider, Key: fmt.Sprintf("%s:%d:%d", r.c.ID, r.k, batch[0]),
		Cost: r.h.cost(r.c.Provider, msgs), Lane: throttle.Bulk}
	err := r.h.o.Guard.Do(ctx, call, func(ctx context.Context) error {
		if !r.x.plan.Allowed(r.h.o.Now()) {
			return r.windowClosed()
		}
		moved, err := r.h.store.mark(ctx, r.c.ID, Sending, sendable, batch)
		if err != nil {
			return fmt.Errorf("campaign store: %w", err)
		}
		sel := msgs
		called = batch
		if !allTrue(moved) {
			sel, called = nil, nil
			for j, m := range moved {
				if m {
					called = append(called, batch[j])
					sel = append(sel, msgs[j])
				}
			}
		}
		if len(sel) == 0 {
			return nil
		}
		start := r.h.o.Now()
		results, err = bs.SendBatch(ctx, sel)
		r.calledBatch(len(sel), start, results, err)
		return err
	})
	if len(called) == 0 {
		return nil, err
	}
	outs := make([]outcome, len(called))
	for j, idx := range called {
		outs[j].idx = idx
		switch {
		case err != nil:
			outs[j].err = err
		case j < len(results):
			outs[j].res, outs[j].err = results[j].Result, results[j].Err
		default:
			outs[j].err = providers.Malformed(r.c.Provider, "send", 0, errors.New("batch answer has fewer results than messages"))
		}
	}
	return outs, nil
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// sendEach submits a group of recipients one provider call each, in
// parallel, each call guarded on its own.
func (r *blockRun) sendEach(ctx context.Context, batch []int, msgs []providers.Message) ([]outcome, error) {
	type one struct {
		called bool
		out    outcome
		err    error
	}
	res := make([]one, len(batch))
	var wg sync.WaitGroup
	for j := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx, m := batch[j], msgs[j]
			call := throttle.Call{Provider: r.c.Provider, Key: fmt.Sprintf("%s:%d:%d", r.c.ID, r.k, idx),
				Cost: r.h.cost(r.c.Provider, msgs[j:j+1]), Lane: throttle.Bulk}
			var pr providers.Result
			err := r.h.o.Guard.Do(ctx, call, func(ctx context.Context) error {
				if !r.x.plan.Allowed(r.h.o.Now()) {
					return r.windowClosed()
				}
				moved, err := r.h.store.mark(ctx, r.c.ID, Sending, sendable, []int{idx})
				if err != nil {
					return fmt.Errorf("campaign store: %w", err)
				}
				if !moved[0] {
					return nil
				}
				res[j].called = true
				start := r.h.o.Now()
				pr, err = r.sender.Send(ctx, m)
				r.called(1, start, err)
				return err
			})
			if res[j].called {
				res[j].out = outcome{idx: idx, res: pr, err: err}
			} else {
				res[j].err = err
			}
		}()
	}
	wg.Wait()
	var outs []outcome
	var callErr error
	for _, o := range res {
		switch {
		case o.called:
			outs = append(outs, o.out)
		case o.err != nil && callErr == nil:
			callErr = o.err
		case o.err != nil:
			// Prefer the snooze that waits longest: the others are due by then.
			if w, ok := throttle.IsSnooze(o.err); ok {
				if cw, cok := throttle.IsSnooze(callErr); !cok || w > cw {
					callErr = o.err
				}
			}
		}
	}
	return outs, callErr
}

// calledBatch tells Metrics about one batch call: the recipients it got
// accepted, or, when it got none accepted, all of them with the error
// (the whole call's, or the first recipient's). Recipients refused one by
// one inside an accepted batch are in the campaign's rejected count.
func (r *blockRun) calledBatch(n int, start time.Time, results []providers.BatchResult, err error) {
	if err != nil {
		r.called(n, start, err)
		return
	}
	ok := 0
	var first error
	for _, res := range results {
		if res.Err == nil {
			ok++
		} else if first == nil {
			first = res.Err
		}
	}
	if ok == 0 && first != nil {
		r.called(n, start, first)
		return
	}
	r.called(ok, start, nil)
}

// cost is how many units of the provider's rate limit msgs use.
func (h *Handler) cost(provider string, msgs []providers.Message) int {
	switch h.o.CostBy[provider] {
	case throttle.CostByMessage:
		return len(msgs)
	case throttle.CostBySegment:
		n := 0
		for _, m := range msgs {
			n += max(1, sms.Segments(m.Text).Segments)
		}
		return n
	}
	return 1
}

// settle records the fate of the recipients of one batch and decides
// whether the run goes on (nil), stops quietly (errStopped), waits (a
// snooze) or fails for asynq to retry.
func (r *blockRun) settle(ctx context.Context, outs []outcome, callErr error) error {
	var submitted, rejected, back, retry []int
	var retryErr, authErr, cancelErr error
	var snooze *throttle.SnoozeError
	later := func(se *throttle.SnoozeError) {
		if snooze == nil || se.Until.After(snooze.Until) {
			snooze = se
		}
	}
	pids := map[string]int{}
	for _, o := range outs {
		var se *throttle.SnoozeError
		switch {
		case o.err == nil:
			submitted = append(submitted, o.idx)
			if r.poller && o.res.ProviderID != "" {
				pids[o.res.ProviderID] = o.idx
			}
		case errors.Is(o.err, context.Canceled):
			// Shutdown mid-call: left "sending", marked unknown on rerun.
			cancelErr = o.err
		case errors.As(o.err, &se):
			back = append(back, o.idx)
			later(se)
		default:
			switch providers.ClassOf(o.err) {
			case providers.ClassRecipient, providers.ClassRequest:
				rejected = append(rejected, o.idx)
			case providers.ClassRateLimited:
				back = append(back, o.idx)
				wait := max(providers.RetryAfterOf(o.err), time.Second)
				later(r.h.snooze(r.h.o.Now().Add(wait), "provider rate limited (429)", o.err))
			case providers.ClassAuth:
				back = append(back, o.idx)
				authErr = o.err
			default:
				back = append(back, o.idx)
				retry = append(retry, o.idx)
				retryErr = o.err
			}
		}
	}

	// Record even when the task's context ended with the call.
	wctx, cancel := afterCtx(ctx)
	defer cancel()
	var errs []error
	for _, m := range []struct {
		to  RecipientState
		idx []int
	}{{Submitted, submitted}, {Rejected, rejected}, {Pending, back}} {
		if _, err := r.h.store.mark(wctx, r.c.ID, m.to, []RecipientState{Sending}, m.idx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.h.store.recordProviderIDs(wctx, r.c, pids); err != nil {
		errs = append(errs, err)
	} else if len(pids) > 0 {
		*r.recorded = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if n := len(submitted) + len(rejected); n > 0 {
		r.log.Debug().Int("submitted", len(submitted)).Int("rejected", len(rejected)).Msg("batch sent")
	}

	// The call that moved no recipient: a snooze, the window, or trouble.
	var se *throttle.SnoozeError
	switch {
	case callErr == nil:
	case errors.Is(callErr, context.Canceled):
		cancelErr = callErr
	case errors.Is(callErr, ErrOutsideWindow):
		now := r.h.o.Now()
		later(r.h.snooze(r.x.plan.NextAllowed(now), "sending window closed", ErrOutsideWindow))
	case errors.As(callErr, &se):
		later(se)
	default:
		retryErr = errors.Join(retryErr, callErr)
	}

	switch {
	case cancelErr != nil:
		return cancelErr
	case authErr != nil:
		reason := "the provider refused the credentials; fix the provider configuration, then resume: " + authErr.Error()
		if err := r.h.store.pause(wctx, r.c.ID, reason); err != nil && !errors.Is(err, ErrState) {
			return fmt.Errorf("campaign store: %w", err)
		}
		r.log.Error().Err(authErr).Msg("campaign paused: the provider refused the credentials")
		return errStopped
	case len(retry) > 0:
		n, err := r.h.store.addAttempt(wctx, r.c.ID)
		if err != nil {
			return errors.Join(retryErr, fmt.Errorf("campaign store: %w", err))
		}
		r.dirtyAttempts = true
		if n < r.h.o.MaxAttempts {
			r.log.Warn().Err(retryErr).Int("attempts", n).Int("recipients", len(retry)).Msg("provider call failed; will retry")
			return retryErr
		}
		if _, err := r.h.store.mark(wctx, r.c.ID, Failed, []RecipientState{Pending}, retry); err != nil {
			return fmt.Errorf("campaign store: %w", err)
		}
		r.log.Error().Err(retryErr).Int("attempts", n).Int("recipients", len(retry)).Msg("recipients failed: out of attempts")
		if err := r.h.store.resetAttempts(wctx, r.c.ID); err != nil {
			return fmt.Errorf("campaign store: %w", err)
		}
		r.dirtyAttempts = false
		return nil
	case snooze != nil:
		return snooze
	case retryErr != nil:
		return retryErr
	}
	if r.dirtyAttempts && len(submitted)+len(rejected) > 0 {
		if err := r.h.store.resetAttempts(wctx, r.c.ID); err != nil {
			return fmt.Errorf("campaign store: %w", err)
		}
		r.dirtyAttempts = false
	}
	return nil
}
