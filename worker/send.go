// Package worker holds the task handlers and the worker process around
// them: the asynq server, its HTTP endpoints and graceful shutdown.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// Guard decides when a provider call may run (rate limit, pauses, breaker).
// *throttle.Guard implements it.
type Guard interface {
	Do(ctx context.Context, c throttle.Call, fn func(context.Context) error) error
}

// Handlers runs smsq's tasks. Every field but Log and Now is required.
type Handlers struct {
	Ledger  *ledger.Ledger
	Senders map[string]providers.Sender
	Guard   Guard
	// Suppress is the opt-out list; it must live on the ledger's Redis
	// (the two are read in one pipeline).
	Suppress *suppress.List
	// MaxAttempts is how many provider calls a message may take. A call
	// the provider answers 429 does not count: it is not a failure.
	MaxAttempts int
	// CostBy maps a provider to what its rate limit counts: "request"
	// (default), "message" or "segment".
	CostBy map[string]string
	// AfterSubmit hooks run once a message is recorded as submitted
	// (delivery polls, reconciling early delivery reports). A hook's error
	// is logged; the message stays submitted.
	AfterSubmit []SubmitHook
	// Metrics is told about every provider call. Nil: none.
	Metrics Metrics
	Log     zerolog.Logger
	Now     func() time.Time
}

// Metrics records provider calls; *metrics.Metrics implements it.
type Metrics interface {
	// ProviderCall reports one call that carried messages messages: its
	// duration and its error (nil when the provider accepted them).
	ProviderCall(provider string, messages int, took time.Duration, err error)
}

// SubmitHook is told about a message just recorded as submitted.
type SubmitHook func(ctx context.Context, rec ledger.Record) error

func (h *Handlers) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// cost is how many units of the provider's rate limit one call uses.
func (h *Handlers) cost(provider string, messages, segments int) int {
	switch h.CostBy[provider] {
	case "message":
		return messages
	case "segment":
		if segments < messages {
			segments = messages
		}
		return segments
	}
	return 1
}

// HandleSend sends one message and records its fate.
func (h *Handlers) HandleSend(ctx context.Context, t *asynq.Task) error {
	var p tasks.SendPayload
	if err := tasks.Decode(t, &p); err != nil {
		h.Log.Error().Err(err).Str("task_type", t.Type()).Msg("dropping undecodable send task")
		return err
	}
	log := h.Log.With().Str("message_id", p.ID).Str("provider", p.Provider).Str("to", mask.Phone(p.To)).Logger()
	// The record and the opt-out check share one round trip: the first of
	// the three this handler makes per message (then "sending" and
	// "submitted").
	checkOptOut := p.Provider != "kaizala" // group messages have no number
	pipe := h.Ledger.Pipeline()
	getRec := h.Ledger.GetIn(ctx, pipe, p.ID)
	var suppressed func() (bool, error)
	if checkOptOut {
		suppressed = h.Suppress.ContainsIn(ctx, pipe, p.To)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	rec, err := getRec()
	if errors.Is(err, ledger.ErrNotFound) {
		// The producer died between enqueue and record: rebuild it.
		seg := 0
		if p.Provider != "kaizala" {
			seg = sms.Segments(p.Text).Segments
		}
		rec, _, err = h.Ledger.Create(ctx, ledger.Record{ID: p.ID, Provider: p.Provider, To: p.To, From: p.From,
			Text: p.Text, Segments: seg, CallbackURL: p.CallbackURL, Producer: p.Producer}, ledger.SourceWorker)
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	switch rec.State {
	case ledger.Queued, ledger.Unknown:
	case ledger.Sending:
		// A previous run stopped while calling the provider (crash, kill):
		// it may or may not have been accepted. Mark it, then send again.
		// That call is charged here: it was never recorded.
		note := "worker stopped during the provider call; sending again, the provider may receive it twice"
		if _, err := h.Ledger.Transition(ctx, p.ID, ledger.Unknown, ledger.Update{Source: ledger.SourceWorker, Note: note, Attempt: true}); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		log.Warn().Msg(note)
	default:
		log.Debug().Str("state", string(rec.State)).Msg("already handled; nothing to do")
		return nil
	}

	if checkOptOut {
		sup, err := suppressed()
		if err != nil {
			return fmt.Errorf("suppression list: %w", err)
		}
		if sup {
			_, err := h.Ledger.Transition(ctx, p.ID, ledger.Suppressed, ledger.Update{Source: ledger.SourceWorker, Note: "destination opted out"})
			log.Info().Msg("suppressed: destination opted out")
			return err
		}
	}

	sender, ok := h.Senders[p.Provider]
	if !ok {
		msg := fmt.Sprintf("provider %q is not configured on this worker", p.Provider)
		_, err := h.Ledger.Transition(ctx, p.ID, ledger.Failed, ledger.Update{Source: ledger.SourceWorker, Error: msg, Note: msg})
		log.Error().Msg(msg)
		return errors.Join(fmt.Errorf("%s: %w", msg, asynq.SkipRetry), err)
	}

	lane := throttle.Transactional
	if p.Bulk {
		lane = throttle.Bulk
	}
	var res providers.Result
	called := false
	err = h.Guard.Do(ctx, throttle.Call{Provider: p.Provider, Key: p.ID, Cost: h.cost(p.Provider, 1, rec.Segments), Lane: lane},
		func(ctx context.Context) error {
			// The attempt is charged once the answer is known (record): a
			// call the provider answers 429 costs the message nothing.
			if _, err := h.Ledger.Transition(ctx, p.ID, ledger.Sending, ledger.Update{Source: ledger.SourceWorker}); err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
			called = true
			var err error
			start := h.now()
			res, err = sender.Send(ctx, providers.Message{ID: p.ID, To: p.To, From: p.From, Text: p.Text,
				Subscribers: p.Subscribers, AllSubscribers: p.AllSubscribers})
			if h.Metrics != nil {
				h.Metrics.ProviderCall(p.Provider, 1, h.now().Sub(start), err)
			}
			return err
		})
	return h.record(ctx, log, p.ID, called, res, err)
}

// record turns the outcome of one provider call into a ledger transition
// and the error asynq should see. A call that happened (called) is charged
// as one attempt with that transition, unless the provider answered 429:
// a rate limit is not a failure and must not use up send.max_attempts.
func (h *Handlers) record(ctx context.Context, log zerolog.Logger, id string, called bool, res providers.Result, err error) error {
	if err == nil {
		rec, terr := h.recordSubmitted(ctx, id, ledger.Update{Source: ledger.SourceWorker, ProviderID: res.ProviderID, Note: res.Status, Attempt: called})
		if terr != nil {
			return fmt.Errorf("ledger: %w", terr)
		}
		log.Info().Str("provider_message_id", res.ProviderID).Int("attempts", rec.Attempts).Msg("submitted")
		for _, hook := range h.AfterSubmit {
			if herr := hook(ctx, rec); herr != nil {
				log.Warn().Err(herr).Msg("after-submit hook failed")
			}
		}
		return nil
	}
	if errors.Is(err, context.Canceled) {
		// Shutdown: the task goes back to the queue. A message caught in
		// the provider call stays "sending" and is marked unknown on rerun.
		return err
	}
	back := func(note string, charge bool) error {
		if !called {
			return nil
		}
		_, terr := h.Ledger.Transition(ctx, id, ledger.Queued, ledger.Update{Source: ledger.SourceWorker, Error: note, Note: note, Attempt: charge})
		return terr
	}
	if wait, ok := throttle.IsSnooze(err); ok {
		// Not a failure: rate limit, pause or open breaker. Nothing is
		// charged: not by asynq (IsFailure is false), not in the ledger
		// (after a call, the snooze is the provider's 429).
		log.Debug().Dur("wait", wait).Err(err).Msg("snoozed")
		return errors.Join(err, back(err.Error(), false))
	}
	class := providers.ClassOf(err)
	switch {
	case class == providers.ClassRecipient || class == providers.ClassRequest:
		_, terr := h.Ledger.Transition(ctx, id, ledger.Rejected, ledger.Update{Source: ledger.SourceWorker, Error: err.Error(), Note: class.String(), Attempt: called})
		log.Warn().Err(err).Msg("rejected by provider")
		return errors.Join(fmt.Errorf("%w: %w", err, asynq.SkipRetry), terr)
	case class == providers.ClassAuth:
		_, terr := h.Ledger.Transition(ctx, id, ledger.Failed, ledger.Update{Source: ledger.SourceWorker, Error: err.Error(), Note: "credentials refused", Attempt: called})
		log.Error().Err(err).Msg("provider refused the credentials; check the provider configuration")
		return errors.Join(fmt.Errorf("%w: %w", err, asynq.SkipRetry), terr)
	}
	rec, gerr := h.Ledger.Get(ctx, id)
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	attempts := rec.Attempts
	if called {
		attempts++ // this call, charged by the transition below
	}
	if called && attempts >= h.MaxAttempts {
		_, terr := h.Ledger.Transition(ctx, id, ledger.Failed, ledger.Update{Source: ledger.SourceWorker, Error: err.Error(),
			Note: fmt.Sprintf("gave up after %d attempts", attempts), Attempt: true})
		log.Error().Err(err).Int("attempts", attempts).Msg("failed: out of attempts")
		return errors.Join(fmt.Errorf("%w: %w", err, asynq.SkipRetry), terr)
	}
	log.Warn().Err(err).Int("attempts", attempts).Msg("send failed; will retry")
	return errors.Join(err, back(err.Error(), true))
}

// recordSubmitted records an accepted message. The provider already has
// it, so a Redis hiccup here must not leave it looking unsent (the rerun
// would send it again): the write is retried for up to half a minute,
// even past cancellation of the task.
func (h *Handlers) recordSubmitted(ctx context.Context, id string, u ledger.Update) (ledger.Record, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		rec, err := h.Ledger.Transition(wctx, id, ledger.Submitted, u)
		var te *ledger.TransitionError
		if err == nil || errors.As(err, &te) || errors.Is(err, ledger.ErrNotFound) {
			return rec, err
		}
		select {
		case <-wctx.Done():
			return rec, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
