package app

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/events"
	"github.com/smsq/smsq/tasks"
)

// EventHandlers returns the status:event handler for the worker's task
// mux (worker.ServerOptions.Extra): it POSTs signed status callbacks.
func EventHandlers(cfg config.Config, log zerolog.Logger) map[string]asynq.Handler {
	n, err := events.NewNotifier(events.NotifierOptions{Secret: cfg.API.SigningSecret, Timeout: cfg.API.CallbackTimeout,
		AllowPrivate: cfg.API.AllowPrivateCallbacks, Log: log.With().Str("component", "events").Logger()})
	if err != nil {
		// No signing secret: callbacks are off. A task queued while they
		// were on is archived with the reason, not retried for nothing.
		return map[string]asynq.Handler{tasks.TypeEvent: asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
			return fmt.Errorf("status callbacks are off (api.signing_secret is empty): %w", asynq.SkipRetry)
		})}
	}
	return map[string]asynq.Handler{tasks.TypeEvent: n}
}

// StartEvents starts relaying status events that have a callback URL
// from the ledger's stream to the events queue, until ctx is done or stop
// is called; stop waits for the relay to finish. Without
// api.signing_secret nothing is started (the stream is still written, for
// backends that read it).
func StartEvents(ctx context.Context, cfg config.Config, conn *Conn, log zerolog.Logger) (stop func()) {
	log = log.With().Str("component", "events").Logger()
	if cfg.API.SigningSecret == "" {
		log.Info().Msg("status callbacks are off: set api.signing_secret to send them")
		return func() {}
	}
	r, err := events.NewRelay(events.RelayOptions{
		Redis:    conn.Redis,
		Enqueuer: asynq.NewClientFromRedisClient(conn.Redis),
		Prefix:   LedgerOptions(cfg).Prefix,
		Task:     events.TaskOptions{Attempts: cfg.API.CallbackAttempts, Timeout: cfg.API.CallbackTimeout},
		Log:      log,
	})
	if err != nil {
		// Only missing collaborators fail, and they are passed above.
		log.Error().Err(err).Msg("status callbacks are off")
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	log.Info().Str("consumer", r.Consumer()).Msg("relaying status events to callbacks")
	return func() { cancel(); <-done }
}
