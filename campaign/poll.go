package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// TypePoll is the task type of a block's delivery polls. Task types are a
// wire format and belong in package tasks; this one waits here until it
// moves there. It is no prefix of another type, nor another of it.
const TypePoll = "campaign:poll"

// pollMaxRetry and pollTimeout are the poll task's asynq options: like
// the other smsq tasks, snoozes and provider trouble never exhaust it;
// one run walks at most one block.
const (
	pollMaxRetry = 1000
	pollTimeout  = 10 * time.Minute
)

// PollPayload names one run of a block's round of delivery polls. The
// recipients and their provider ids live in Redis.
type PollPayload struct {
	Campaign string `json:"campaign"`
	Block    int    `json:"block"`
	// Round tells this round from earlier ones of the same block (its
	// start, unix ms): a task of a finished round does nothing.
	Round int64 `json:"round"`
	// Attempt counts the round's polls so far; it picks the back-off step.
	Attempt int `json:"attempt"`
	// From is the first recipient index the run polls: a run that had to
	// wait for the rate limiter goes on from where it stopped.
	From int `json:"from,omitempty"`
}

// PollTaskID is the deterministic id of a poll run, so that a run enqueued
// twice (a retried step) is one task.
func PollTaskID(p PollPayload) string {
	return fmt.Sprintf("cpoll:%s:%d:%d:%d:%d", p.Campaign, p.Block, p.Round, p.Attempt, p.From)
}

// NewPollTask builds the poll run p, due at at, on the delivery queue.
func NewPollTask(p PollPayload, at time.Time) (*asynq.Task, error) {
	if p.Campaign == "" || p.Block < 0 || p.Round <= 0 {
		return nil, errors.New("campaign: poll payload needs campaign, block >= 0 and round")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypePoll, b, asynq.TaskID(PollTaskID(p)), asynq.Queue(tasks.QueueDelivery),
		asynq.MaxRetry(pollMaxRetry), asynq.ProcessAt(at), asynq.Timeout(pollTimeout)), nil
}

// EarlyReports settles delivery reports that came before their provider
// ids were recorded (the provider can push faster than the handler writes
// the ids). It returns the ids it settled. *delivery.Service implements it.
type EarlyReports interface {
	ApplyKept(ctx context.Context, provider string, pids []string) ([]string, error)
}

// PollStarter starts the delivery polls of a block once some of its
// recipients are submitted; *Poller implements it. recorded says that the
// run calling it recorded new provider ids.
type PollStarter interface {
	Start(ctx context.Context, c *Campaign, block int, recorded bool) error
}

// PollerOptions configure a Poller.
type PollerOptions struct {
	// Store holds the campaigns. Required.
	Store *Store `koanf:"-"`
	// Queue schedules the poll runs. Required.
	Queue Enqueuer `koanf:"-"`
	// Pollers are the status endpoints by provider name. A round of a
	// provider missing here fails (asynq retries it), as delivery polls
	// do: every worker should have the same providers. Default nil.
	Pollers map[string]providers.StatusPoller `koanf:"-"`
	// Guard admits every status call (lane Bulk). Required when Pollers
	// is not empty.
	Guard Guard `koanf:"-"`
	// Early settles push reports that came before their ids were
	// recorded, before any poll. Default nil: the polls settle those
	// recipients.
	Early EarlyReports `koanf:"-"`
	// Metrics counts final poll answers and expiries. Default nil.
	Metrics delivery.Metrics `koanf:"-"`
	// Schedule is the back-off between a block's polls, as for single
	// messages. Default: delivery.DefaultSchedule.
	Schedule delivery.Schedule `koanf:"poll"`
	// Expiry is how long after a block's latest submission its
	// recipients without a final report become expired. Default 72h.
	Expiry time.Duration `koanf:"expiry"`
	// Parallel is how many status calls of one run are in flight at once
	// (each still admitted by Guard). Default 8.
	Parallel int `koanf:"parallel"`
	// DeadlineMargin: a run whose task deadline is nearer than this goes
	// on in a fresh run. Default 30s.
	DeadlineMargin time.Duration `koanf:"deadline_margin"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `koanf:"-"`
	// Log receives each round's progress and every problem. Default:
	// disabled.
	Log zerolog.Logger `koanf:"-"`
}

// Poller follows campaign recipients after submission, a block at a time:
// one task per block and back-off step (not one per recipient) walks the
// block's recipients still submitted and asks the provider for each one's
// status under the throttle guard, on delivery.Schedule, until every one
// has a final state or Expiry after the block's latest submission, when
// the rest become expired. Push reports settle recipients meanwhile
// (Store.Settle); the round then polls only those left.
type Poller struct {
	o PollerOptions
}

var (
	_ asynq.Handler = (*Poller)(nil)
	_ PollStarter   = (*Poller)(nil)
)

// NewPoller checks o and returns a Poller.
func NewPoller(o PollerOptions) (*Poller, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("campaign: poller: store required"))
	}
	if o.Queue == nil {
		errs = append(errs, errors.New("campaign: poller: queue required"))
	}
	if len(o.Pollers) > 0 && o.Guard == nil {
		errs = append(errs, errors.New("campaign: poller: guard required"))
	}
	if o.Expiry < 0 {
		errs = append(errs, errors.New("delivery.expiry: must be positive"))
	}
	errs = append(errs, o.Schedule.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Expiry == 0 {
		o.Expiry = delivery.DefaultExpiry
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Poller{o: o}, nil
}

// Start begins block k's round of polls unless one runs or nothing in the
// block is submitted. recorded (new provider ids were just recorded)
// moves a running round's deadline to count from now.
func (p *Poller) Start(ctx context.Context, c *Campaign, k int, recorded bool) error {
	now := p.o.Now()
	rid, started, err := p.o.Store.arm(ctx, c, k, now, recorded)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if !started {
		return nil
	}
	pl := PollPayload{Campaign: c.ID, Block: k, Round: rid}
	if err := p.enqueue(ctx, pl, earliest(now.Add(p.o.Schedule.Delay(0)), now.Add(p.o.Expiry))); err != nil {
		// Unarmed, the next call (the block's rerun) starts it again.
		if derr := p.o.Store.disarm(context.WithoutCancel(ctx), c.ID, k, rid); derr != nil {
			err = errors.Join(err, derr)
		}
		return err
	}
	return nil
}

func (p *Poller) enqueue(ctx context.Context, pl PollPayload, at time.Time) error {
	t, err := NewPollTask(pl, at)
	if err != nil {
		return err
	}
	if _, err := p.o.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		// A conflict is an earlier try of the same step: already there.
		return fmt.Errorf("campaign %s: schedule delivery poll: %w", pl.Campaign, err)
	}
	return nil
}

// ProcessTask implements asynq.Handler.
func (p *Poller) ProcessTask(ctx context.Context, t *asynq.Task) error { return p.HandlePoll(ctx, t) }

// polled is the answer to one status call.
type polled struct {
	a   awaited
	rep providers.DeliveryReport
	err error
}

// HandlePoll runs one campaign:poll task. Errors follow delivery polls: a
// throttle snooze that stops the run at its first recipient is returned
// as is (not a failure), a later one continues the run in a new task from
// where it stopped; a provider failing one call leaves that recipient for
// the next step; an undecodable payload is skipped.
func (p *Poller) HandlePoll(ctx context.Context, t *asynq.Task) error {
	var pl PollPayload
	if err := tasks.Decode(t, &pl); err != nil {
		p.o.Log.Error().Err(err).Str("task_type", t.Type()).Msg("dropping undecodable campaign poll task")
		return err
	}
	log := p.o.Log.With().Str("campaign_id", pl.Campaign).Int("block", pl.Block).Str("task_id", PollTaskID(pl)).Logger()
	c, err := p.o.Store.Get(ctx, pl.Campaign)
	if errors.Is(err, ErrNotFound) {
		log.Debug().Msg("campaign gone; poll dropped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	r, ok, err := p.o.Store.round(ctx, c.ID, pl.Block)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if !ok || r.id != pl.Round {
		log.Debug().Msg("poll round over; poll dropped")
		return nil
	}
	poller, ok := p.o.Pollers[c.Provider]
	if !ok {
		return fmt.Errorf("campaign %s: provider %q has no status endpoint on this worker", c.ID, c.Provider)
	}
	list, waiting, err := p.o.Store.blockPIDs(ctx, c, pl.Block)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	deadline := r.anchor.Add(p.o.Expiry)
	if !waiting {
		return p.finish(ctx, log, c, pl, list, deadline)
	}
	var todo []awaited
	for _, a := range list {
		if a.state == Submitted && a.idx >= pl.From {
			todo = append(todo, a)
		}
	}
	if p.o.Early != nil && len(todo) > 0 {
		pids := make([]string, len(todo))
		for i, a := range todo {
			pids[i] = a.pid
		}
		settled, err := p.o.Early.ApplyKept(ctx, c.Provider, pids)
		if err != nil {
			log.Warn().Err(err).Msg("early delivery reports not applied; polling instead")
		}
		if len(settled) > 0 {
			done := make(map[string]bool, len(settled))
			for _, pid := range settled {
				done[pid] = true
			}
			todo = slices.DeleteFunc(todo, func(a awaited) bool { return done[a.pid] })
			log.Debug().Int("recipients", len(settled)).Msg("early delivery reports reconciled")
		}
	}
	var failures int
	var lastErr error
	for start := 0; start < len(todo); start += p.o.Parallel {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < p.o.DeadlineMargin {
			return p.goOn(ctx, pl, todo[start].idx, p.o.Now().Add(time.Second), "continuing the polls in a new run", errTimeBudget)
		}
		group := todo[start:min(start+p.o.Parallel, len(todo))]
		answers := p.pollGroup(ctx, c, pl, poller, group)
		if err := p.record(ctx, c, answers); err != nil {
			return err
		}
		var snooze *throttle.SnoozeError
		from := -1
		for _, a := range answers {
			var se *throttle.SnoozeError
			switch {
			case a.err == nil:
			case errors.Is(a.err, context.Canceled):
				return a.err
			case errors.As(a.err, &se):
				if from < 0 || a.a.idx < from {
					from = a.a.idx
				}
				if snooze == nil || se.Until.After(snooze.Until) {
					snooze = se
				}
			default:
				failures++
				lastErr = a.err
			}
		}
		if snooze != nil {
			return p.goOn(ctx, pl, from, snooze.Until, snooze.Reason, snooze)
		}
	}
	if failures > 0 {
		ev := log.Warn()
		if providers.ClassOf(lastErr).Permanent() {
			// Retrying cannot help until the configuration is fixed; the
			// round keeps to its schedule so polling resumes by itself.
			ev = log.Error()
		}
		ev.Err(lastErr).Int("recipients", failures).Msg("delivery polls failed; trying those again at the next step")
	}
	return p.finish(ctx, log, c, pl, list, deadline)
}

// pollGroup asks the provider for the status of each recipient of group
// at once, each call admitted by the guard on its own.
func (p *Poller) pollGroup(ctx context.Context, c *Campaign, pl PollPayload, sp providers.StatusPoller, group []awaited) []polled {
	out := make([]polled, len(group))
	var wg sync.WaitGroup
	for i, a := range group {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].a = a
			call := throttle.Call{Provider: c.Provider, Key: fmt.Sprintf("cpoll:%s:%d:%d:%d", c.ID, pl.Round, a.idx, pl.Attempt),
				Cost: 1, Lane: throttle.Bulk}
			out[i].err = p.o.Guard.Do(ctx, call, func(ctx context.Context) error {
				var err error
				out[i].rep, err = sp.Status(ctx, a.pid)
				return err
			})
		}()
	}
	wg.Wait()
	return out
}

// record applies the final answers of a group.
func (p *Poller) record(ctx context.Context, c *Campaign, answers []polled) error {
	var delivered, failed []int
	for _, a := range answers {
		if a.err != nil || !a.rep.State.Final() {
			continue
		}
		if a.rep.State == providers.DeliveryDelivered {
			delivered = append(delivered, a.a.idx)
		} else {
			failed = append(failed, a.a.idx)
		}
		p.count(c.Provider, ledger.SourcePoll, string(a.rep.State), 1)
	}
	// Recorded even when the task's context ended with the calls.
	wctx, cancel := afterCtx(ctx)
	defer cancel()
	for _, m := range []struct {
		to  RecipientState
		idx []int
	}{{Delivered, delivered}, {Failed, failed}} {
		if _, err := p.o.Store.mark(wctx, c.ID, m.to, []RecipientState{Submitted}, m.idx); err != nil {
			return fmt.Errorf("campaign store: %w", err)
		}
	}
	return nil
}

// goOn continues the run from recipient from at at: in a new task, or,
// when nothing moved since this run started, as a snooze of this one.
func (p *Poller) goOn(ctx context.Context, pl PollPayload, from int, at time.Time, reason string, cause error) error {
	if from <= pl.From {
		now := p.o.Now()
		return &throttle.SnoozeError{Until: at, Delay: at.Sub(now), Reason: reason, Err: cause}
	}
	next := pl
	next.From = from
	return p.enqueue(ctx, next, at)
}

// finish ends the round when no recipient of the block waits any more,
// expires those left at the deadline, or schedules the next step.
func (p *Poller) finish(ctx context.Context, log zerolog.Logger, c *Campaign, pl PollPayload, list []awaited, deadline time.Time) error {
	now := p.o.Now()
	if !now.Before(deadline) {
		if err := p.expire(ctx, log, c, pl.Block); err != nil {
			return err
		}
	}
	pids := make([]string, len(list))
	for i, a := range list {
		pids[i] = a.pid
	}
	ended, err := p.o.Store.endRound(ctx, c, pl.Block, pl.Round, pids)
	switch {
	case err != nil:
		return fmt.Errorf("campaign store: %w", err)
	case ended == 1:
		log.Debug().Msg("every recipient of the block has a final state; poll round over")
		return nil
	case ended < 0:
		return nil
	}
	// The deadline may have moved on since the run started (more of the
	// block submitted after a pause): read it again.
	if r, ok, err := p.o.Store.round(ctx, c.ID, pl.Block); err == nil && ok {
		deadline = r.anchor.Add(p.o.Expiry)
	}
	next := PollPayload{Campaign: pl.Campaign, Block: pl.Block, Round: pl.Round, Attempt: pl.Attempt + 1}
	return p.enqueue(ctx, next, earliest(now.Add(p.o.Schedule.Delay(next.Attempt)), deadline))
}

// expire ends every recipient of block k still submitted.
func (p *Poller) expire(ctx context.Context, log zerolog.Logger, c *Campaign, k int) error {
	lo, hi := c.blockRange(k)
	st, err := p.o.Store.states(ctx, c.ID, lo, hi)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	var idx []int
	for i, b := range st {
		if RecipientState(b) == Submitted {
			idx = append(idx, lo+i)
		}
	}
	moved, err := p.o.Store.mark(ctx, c.ID, Expired, []RecipientState{Submitted}, idx)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	n := 0
	for _, m := range moved {
		if m {
			n++
		}
	}
	if n > 0 {
		p.count(c.Provider, ledger.SourcePoll, string(ledger.Expired), n)
		log.Info().Int("recipients", n).Dur("expiry", p.o.Expiry).Msg("delivery expired: no final report in time")
	}
	return nil
}

func (p *Poller) count(provider string, src ledger.Source, state string, n int) {
	if p.o.Metrics == nil {
		return
	}
	for range n {
		p.o.Metrics.DeliveryReport(provider, string(src), state)
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
