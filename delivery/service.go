package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
)

// Service schedules and runs delivery polls and settles delivery reports.
// It is safe for concurrent use.
type Service struct {
	o Options
}

// New returns a Service, or an error naming what o lacks.
func New(o Options) (*Service, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Service{o: o.withDefaults()}, nil
}

// Outcome is what a delivery report did.
type Outcome int

const (
	// Applied: the message moved to its final state.
	Applied Outcome = iota + 1
	// Duplicate: the message was already final; nothing changed.
	Duplicate
	// Kept: no recorded message has that provider id yet; the report is
	// kept and applied once the submission is recorded.
	Kept
	// Ignored: the report is not final (queued, sent, unknown id), or its
	// message is gone from the ledger; nothing to do.
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Kept:
		return "kept"
	case Ignored:
		return "ignored"
	}
	return "none"
}

func (s *Service) pollKey(id string) string { return s.o.Prefix + "dl:poll:" + id }

func (s *Service) keptKey(provider, pid string) string {
	return s.o.Prefix + "dl:kept:" + provider + ":" + pid
}

// keptReport is a report stored until its message is recorded.
type keptReport struct {
	State  providers.DeliveryState `json:"st"`
	Raw    string                  `json:"raw,omitempty"`
	Reason string                  `json:"why,omitempty"`
	Source ledger.Source           `json:"src"`
}

// Report settles a delivery report from provider for its message id
// rep.ProviderID. Only final reports change anything. Repeating a report
// is harmless (Duplicate). A report for an id the ledger does not know yet
// is kept (Kept) and applied by AfterSubmit when the submission is
// recorded; unless Campaigns claims it first.
//
// Every final report that is recorded (whatever the outcome) is counted
// once in Metrics; one answered with an error is not, as the provider will
// send it again.
func (s *Service) Report(ctx context.Context, provider string, rep providers.DeliveryReport, src ledger.Source) (Outcome, error) {
	if !rep.State.Final() || rep.ProviderID == "" {
		return Ignored, nil
	}
	out, err := s.report(ctx, provider, rep, src)
	if err == nil {
		s.count(provider, src, string(rep.State))
	}
	return out, err
}

func (s *Service) report(ctx context.Context, provider string, rep providers.DeliveryReport, src ledger.Source) (Outcome, error) {
	id, err := s.o.Ledger.ByProviderID(ctx, provider, rep.ProviderID)
	if err == nil {
		return s.settleAndCancel(ctx, id, provider, rep, src)
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		return 0, err
	}
	if ok, err := s.settleCampaign(ctx, provider, rep, src); err != nil {
		return 0, err
	} else if ok {
		return Applied, nil
	}
	if err := s.keep(ctx, provider, rep, src); err != nil {
		return 0, err
	}
	// The submission may have been recorded between the lookup and the
	// keep, its hook finding nothing kept. Looking again after keeping
	// means one side always sees the other; settling twice is harmless.
	id, err = s.o.Ledger.ByProviderID(ctx, provider, rep.ProviderID)
	if errors.Is(err, ledger.ErrNotFound) {
		// The same race with a campaign recording its provider ids.
		if ok, cerr := s.settleCampaign(ctx, provider, rep, src); cerr == nil && ok {
			s.unkeep(ctx, provider, rep.ProviderID)
			return Applied, nil
		}
	}
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		s.o.Log.Info().Str("provider", provider).Str("provider_message_id", rep.ProviderID).
			Str("report", string(rep.State)).Msg("delivery report for a message not recorded yet; kept")
		return Kept, nil
	case err != nil:
		return Kept, nil // kept; the hook applies it
	}
	out, err := s.settleAndCancel(ctx, id, provider, rep, src)
	if err == nil && out != Kept {
		s.unkeep(ctx, provider, rep.ProviderID)
	}
	return out, err
}

// settleCampaign hands rep to Campaigns, if any; true when it was one of
// a campaign's recipients.
func (s *Service) settleCampaign(ctx context.Context, provider string, rep providers.DeliveryReport, src ledger.Source) (bool, error) {
	if s.o.Campaigns == nil {
		return false, nil
	}
	ok, err := s.o.Campaigns.Settle(ctx, provider, rep, src)
	if err != nil {
		return false, fmt.Errorf("delivery: campaign report: %w", err)
	}
	if ok {
		s.o.Log.Debug().Str("provider", provider).Str("provider_message_id", rep.ProviderID).
			Str("report", string(rep.State)).Str("source", string(src)).Msg("delivery report settled for a campaign recipient")
	}
	return ok, nil
}

// ApplyKept settles, through Campaigns, the reports kept for provider's
// ids pids: reports that came before a campaign recorded those ids. It
// returns the ids settled; their kept reports are dropped. The campaign
// poller calls it before asking the provider, so an early push is not
// lost and costs no poll.
func (s *Service) ApplyKept(ctx context.Context, provider string, pids []string) ([]string, error) {
	if s.o.Campaigns == nil || len(pids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(pids))
	if _, err := s.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pid := range pids {
			cmds[i] = p.Get(ctx, s.keptKey(provider, pid))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("delivery: read kept reports: %w", err)
	}
	var settled []string
	for i, pid := range pids {
		b, err := cmds[i].Bytes()
		if err != nil {
			continue // none kept (redis.Nil)
		}
		var k keptReport
		if json.Unmarshal(b, &k) != nil || !k.State.Final() {
			s.unkeep(ctx, provider, pid)
			continue
		}
		if k.Source == "" {
			k.Source = ledger.SourceCallback
		}
		rep := providers.DeliveryReport{ProviderID: pid, State: k.State, Raw: k.Raw, Reason: k.Reason}
		ok, err := s.settleCampaign(ctx, provider, rep, k.Source)
		if err != nil {
			return settled, err
		}
		if ok {
			s.unkeep(ctx, provider, pid)
			settled = append(settled, pid)
		}
	}
	return settled, nil
}

// count tells Metrics about one final report or expiry.
func (s *Service) count(provider string, src ledger.Source, state string) {
	if s.o.Metrics != nil {
		s.o.Metrics.DeliveryReport(provider, string(src), state)
	}
}

func (s *Service) keep(ctx context.Context, provider string, rep providers.DeliveryReport, src ledger.Source) error {
	b, err := json.Marshal(keptReport{State: rep.State, Raw: rep.Raw, Reason: rep.Reason, Source: src})
	if err != nil {
		return err
	}
	if err := s.o.Redis.Set(ctx, s.keptKey(provider, rep.ProviderID), b, s.o.Expiry).Err(); err != nil {
		return fmt.Errorf("delivery: keep report: %w", err)
	}
	return nil
}

func (s *Service) unkeep(ctx context.Context, provider, pid string) {
	if err := s.o.Redis.Del(ctx, s.keptKey(provider, pid)).Err(); err != nil {
		s.o.Log.Warn().Err(err).Str("provider", provider).Msg("could not drop an applied kept report; it expires on its own")
	}
}

// kept returns the report kept for provider's id pid, if any.
func (s *Service) kept(ctx context.Context, provider, pid string) (providers.DeliveryReport, ledger.Source, bool, error) {
	b, err := s.o.Redis.Get(ctx, s.keptKey(provider, pid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return providers.DeliveryReport{}, "", false, nil
	}
	if err != nil {
		return providers.DeliveryReport{}, "", false, fmt.Errorf("delivery: read kept report: %w", err)
	}
	var k keptReport
	if err := json.Unmarshal(b, &k); err != nil || !k.State.Final() {
		// Not ours to fix: drop it rather than trip on it every time.
		s.unkeep(ctx, provider, pid)
		return providers.DeliveryReport{}, "", false, nil
	}
	if k.Source == "" {
		k.Source = ledger.SourceCallback
	}
	return providers.DeliveryReport{ProviderID: pid, State: k.State, Raw: k.Raw, Reason: k.Reason}, k.Source, true, nil
}

// settle moves message id to the final state rep names.
func (s *Service) settle(ctx context.Context, id, provider string, rep providers.DeliveryReport, src ledger.Source) (Outcome, error) {
	to := ledger.Delivered
	u := ledger.Update{Source: src, Note: rep.Raw}
	if rep.State == providers.DeliveryFailed {
		to = ledger.Failed
		u.Error = rep.Reason
		if u.Error == "" {
			u.Error = "provider reported " + orWord(rep.Raw, "failure")
		}
	}
	log := s.o.Log.With().Str("message_id", id).Str("provider", provider).Str("source", string(src)).Logger()
	_, err := s.o.Ledger.Transition(ctx, id, to, u)
	var te *ledger.TransitionError
	switch {
	case err == nil:
		log.Info().Str("state", string(to)).Str("provider_status", rep.Raw).Msg("delivery report settled")
		return Applied, nil
	case errors.As(err, &te) && te.From.Final():
		if te.From != to {
			// A later report contradicting an earlier final one: the first
			// final word stands (final states never regress).
			log.Info().Str("state", string(te.From)).Str("report", string(to)).Msg("message already final; later report ignored")
		}
		return Duplicate, nil
	case errors.As(err, &te):
		// The id was indexed, but the message is being sent again (after a
		// worker died mid-call): keep the report for its next submission.
		if kerr := s.keep(ctx, provider, rep, src); kerr != nil {
			return 0, kerr
		}
		return Kept, nil
	case errors.Is(err, ledger.ErrNotFound):
		// The record outlived its retention; nothing left to update.
		return Ignored, nil
	}
	return 0, err
}

// settleAndCancel settles a push report and, when that ends the message,
// cancels its pending poll.
func (s *Service) settleAndCancel(ctx context.Context, id, provider string, rep providers.DeliveryReport, src ledger.Source) (Outcome, error) {
	out, err := s.settle(ctx, id, provider, rep, src)
	if err == nil && (out == Applied || out == Duplicate) {
		s.cancelPoll(ctx, id)
	}
	return out, err
}

// cancelPoll deletes the message's pending poll task, if any. A poll that
// is already running, or that is missed here, finds the message final and
// does nothing: this only saves its provider call.
func (s *Service) cancelPoll(ctx context.Context, id string) {
	tid, err := s.o.Redis.GetDel(ctx, s.pollKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		// No key: the first poll is pending (schedulePoll does not record
		// it), or the polls are over and this delete finds nothing.
		tid, err = tasks.PollTaskID(id, 0), nil
	}
	if err != nil {
		s.o.Log.Debug().Err(err).Str("message_id", id).Msg("could not look up the pending poll")
		return
	}
	err = s.o.Tasks.DeleteTask(tasks.QueueDelivery, tid)
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		s.o.Log.Debug().Err(err).Str("message_id", id).Str("task_id", tid).Msg("pending poll not cancelled; it will find the message final")
	}
}

// AfterSubmit is the worker's after-submit hook (worker.SubmitHook): it
// applies a report kept for the message and otherwise, for a provider with
// a status endpoint, schedules the first poll.
func (s *Service) AfterSubmit(ctx context.Context, rec ledger.Record) error {
	if rec.ProviderID == "" {
		return nil
	}
	rep, src, ok, err := s.kept(ctx, rec.Provider, rec.ProviderID)
	if err != nil {
		// Carry on: the poll will find the final status anyway.
		s.o.Log.Warn().Err(err).Str("message_id", rec.ID).Msg("kept reports unreadable")
	}
	if ok {
		out, err := s.settle(ctx, rec.ID, rec.Provider, rep, src)
		if err != nil {
			return err
		}
		if out != Kept {
			s.unkeep(ctx, rec.Provider, rec.ProviderID)
			s.o.Log.Debug().Str("message_id", rec.ID).Str("outcome", out.String()).Msg("early delivery report reconciled")
			return nil
		}
	}
	if _, ok := s.o.Pollers[rec.Provider]; !ok {
		return nil
	}
	now := s.o.Now()
	deadline := submittedAt(rec).Add(s.o.Expiry)
	return s.schedulePoll(ctx, tasks.PollPayload{ID: rec.ID, Provider: rec.Provider, ProviderID: rec.ProviderID},
		earliest(now.Add(s.o.Schedule.Delay(0)), deadline), now)
}

// schedulePoll enqueues poll p at at and remembers it as the message's
// pending poll.
func (s *Service) schedulePoll(ctx context.Context, p tasks.PollPayload, at, now time.Time) error {
	t, err := tasks.NewPollTask(p, at)
	if err != nil {
		return err
	}
	_, err = s.o.Queue.EnqueueContext(ctx, t)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		// A conflict is an earlier run of the same step that enqueued it
		// before it stopped: already scheduled.
		return fmt.Errorf("delivery: schedule poll: %w", err)
	}
	if p.Attempt == 0 {
		// The first poll's id is known without a key (cancelPoll): this
		// saves a round trip per submitted message.
		return nil
	}
	// The key only has to outlive the task's due time (plus a margin for
	// snoozes); a missing key costs one useless poll, nothing more.
	ttl := max(at.Sub(now), 0) + time.Hour
	if err := s.o.Redis.Set(ctx, s.pollKey(p.ID), tasks.PollTaskID(p.ID, p.Attempt), ttl).Err(); err != nil {
		s.o.Log.Debug().Err(err).Str("message_id", p.ID).Msg("pending poll not remembered; a push will not cancel it")
	}
	return nil
}

// submittedAt is when the message was last recorded as submitted.
func submittedAt(rec ledger.Record) time.Time {
	for i := len(rec.History) - 1; i >= 0; i-- {
		if rec.History[i].State == ledger.Submitted {
			return rec.History[i].At
		}
	}
	if !rec.UpdatedAt.IsZero() {
		return rec.UpdatedAt
	}
	return rec.CreatedAt
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// logger for one poll task.
func (s *Service) taskLog(p tasks.PollPayload, taskID string) zerolog.Logger {
	return s.o.Log.With().Str("message_id", p.ID).Str("provider", p.Provider).Str("task_id", taskID).Logger()
}
