package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// HandlePoll runs one delivery:poll task: it asks the provider for the
// message's status and records a final answer, or schedules the next poll,
// or expires the message at its deadline. Errors follow the send handler:
// throttle snoozes are returned as they are (not failures), retryable
// provider errors are returned for asynq to retry, an undecodable payload
// is skipped.
func (s *Service) HandlePoll(ctx context.Context, t *asynq.Task) error {
	var p tasks.PollPayload
	if err := tasks.Decode(t, &p); err != nil {
		s.o.Log.Error().Err(err).Str("task_type", t.Type()).Msg("dropping undecodable poll task")
		return err
	}
	taskID := tasks.PollTaskID(p.ID, p.Attempt)
	log := s.taskLog(p, taskID)
	rec, err := s.o.Ledger.Get(ctx, p.ID)
	if errors.Is(err, ledger.ErrNotFound) {
		log.Debug().Msg("message gone from the ledger; poll dropped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if rec.State != ledger.Submitted {
		// Final (a push or an earlier poll settled it), or being sent again
		// after a crash, in which case the next submission starts a fresh
		// round of polls.
		s.forgetPoll(ctx, p.ID, taskID)
		return nil
	}
	// The ledger is the truth: a message sent again has a new provider id.
	pid := rec.ProviderID
	if pid == "" {
		pid = p.ProviderID
	}
	provider := rec.Provider
	poller, ok := s.o.Pollers[provider]
	if !ok {
		// Every worker shares one configuration, so this is one being
		// reconfigured: keep the task (asynq retries) until it is back.
		return fmt.Errorf("delivery: provider %q has no status endpoint on this worker", provider)
	}
	now := s.o.Now()
	deadline := submittedAt(rec).Add(s.o.Expiry)

	var rep providers.DeliveryReport
	err = s.o.Guard.Do(ctx, throttle.Call{Provider: provider, Key: taskID, Cost: 1, Lane: throttle.Bulk},
		func(ctx context.Context) error {
			var err error
			rep, err = poller.Status(ctx, pid)
			return err
		})
	if err != nil {
		if _, snoozed := throttle.IsSnooze(err); snoozed || errors.Is(err, context.Canceled) {
			return err
		}
		if !now.Before(deadline) {
			// The deadline is a promise to the producer: a final state by
			// then. A provider that cannot answer at that point does not
			// push it back.
			return s.expire(ctx, p.ID, provider, taskID, fmt.Sprintf("no final delivery report within %s; last poll failed: %v", s.o.Expiry, err))
		}
		if class := providers.ClassOf(err); class.Permanent() {
			// Retrying this same call cannot help (credentials, a refused
			// id): log it loudly and keep to the schedule, so polling
			// resumes by itself once the configuration is fixed.
			log.Error().Err(err).Msg("delivery poll refused by the provider; trying again at the next scheduled poll")
			return s.next(ctx, p, pid, now, deadline)
		}
		log.Warn().Err(err).Msg("delivery poll failed; will retry")
		return err
	}
	if rep.State.Final() {
		out, err := s.settle(ctx, p.ID, provider, rep, ledger.SourcePoll)
		if err != nil {
			return err
		}
		s.count(provider, ledger.SourcePoll, string(rep.State))
		if out != Kept {
			s.forgetPoll(ctx, p.ID, taskID)
		}
		return nil
	}
	if !now.Before(deadline) {
		return s.expire(ctx, p.ID, provider, taskID, fmt.Sprintf("no final delivery report within %s (provider status %s)", s.o.Expiry, orWord(rep.Raw, string(rep.State))))
	}
	log.Debug().Str("provider_status", rep.Raw).Str("report", string(rep.State)).Msg("not final yet")
	return s.next(ctx, p, pid, now, deadline)
}

// next schedules the poll after p, never later than the deadline.
func (s *Service) next(ctx context.Context, p tasks.PollPayload, pid string, now, deadline time.Time) error {
	n := tasks.PollPayload{ID: p.ID, Provider: p.Provider, ProviderID: pid, Attempt: p.Attempt + 1}
	return s.schedulePoll(ctx, n, earliest(now.Add(s.o.Schedule.Delay(n.Attempt)), deadline), now)
}

// expire ends a message that got no final report in time.
func (s *Service) expire(ctx context.Context, id, provider, taskID, note string) error {
	_, err := s.o.Ledger.Transition(ctx, id, ledger.Expired, ledger.Update{Source: ledger.SourcePoll, Note: note})
	var te *ledger.TransitionError
	if err != nil && !(errors.As(err, &te) && te.From.Final()) && !errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("ledger: %w", err)
	}
	if err == nil {
		s.count(provider, ledger.SourcePoll, string(ledger.Expired))
		s.o.Log.Info().Str("message_id", id).Msg("delivery expired: no final report in time")
	}
	s.forgetPoll(ctx, id, taskID)
	return nil
}

// forgetPoll drops the pending-poll key if it still names taskID (the poll
// now ending).
func (s *Service) forgetPoll(ctx context.Context, id, taskID string) {
	key := s.pollKey(id)
	if cur, err := s.o.Redis.Get(ctx, key).Result(); err == nil && cur == taskID {
		_ = s.o.Redis.Del(ctx, key).Err()
	}
}
