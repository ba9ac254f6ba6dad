package app

import (
	"context"
	"fmt"
	"io"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// CampaignHandlers returns the campaign:block handler for the worker's
// task mux (worker.ServerOptions.Extra). It enqueues each next block as
// soon as a block completes; the scheduler remains the safety net.
func CampaignHandlers(cfg config.Config, conn *Conn, senders map[string]providers.Sender, guard *throttle.Guard, log zerolog.Logger) map[string]asynq.Handler {
	h, err := campaign.NewHandler(campaign.HandlerOptions{
		Store:       campaign.NewStore(conn.Redis, campaign.StoreOptions{}),
		Senders:     senders,
		Guard:       guard,
		Enqueuer:    asynq.NewClientFromRedisClient(conn.Redis),
		MaxAttempts: cfg.Send.MaxAttempts,
		CostBy:      CostBy(cfg),
		Log:         log.With().Str("component", "campaign").Logger(),
	})
	if err != nil {
		// Only missing collaborators fail, which the callers always pass;
		// should it happen, blocks fail visibly instead of being dropped.
		return map[string]asynq.Handler{tasks.TypeBlock: asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
			return fmt.Errorf("campaign handler: %w", err)
		})}
	}
	return map[string]asynq.Handler{tasks.TypeBlock: h}
}

// RunScheduler runs a campaign scheduler process until ctx is done. Any
// number may run: a Redis lease elects the one that enqueues blocks.
func RunScheduler(ctx context.Context, cfg config.Config, out io.Writer) error {
	cfg = Effective(cfg)
	log := Logger(cfg, out)
	conn, err := Connect(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := Ping(ctx, cfg, conn); err != nil {
		return err
	}
	log.Info().Msg("campaign scheduler started")
	err = runScheduler(ctx, conn, log)
	log.Info().Msg("campaign scheduler stopped")
	return err
}

// startScheduler runs the scheduler loop in the background, for the
// worker in embedded mode; stop ends it and waits, so it never outlives
// conn.
func startScheduler(ctx context.Context, conn *Conn, log zerolog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = runScheduler(ctx, conn, log)
	}()
	return func() { cancel(); <-done }
}

// runScheduler runs the scheduler loop on an open connection until ctx
// is done.
func runScheduler(ctx context.Context, conn *Conn, log zerolog.Logger) error {
	store := campaign.NewStore(conn.Redis, campaign.StoreOptions{})
	s := campaign.NewScheduler(store, asynq.NewClientFromRedisClient(conn.Redis),
		campaign.SchedulerOptions{Log: log.With().Str("component", "scheduler").Logger()})
	return s.Run(ctx)
}

// CampaignBlockSize is the block size of an unpaced campaign on provider:
// its batch size, so one block is one provider call (1000 for providers
// without a batch endpoint).
func CampaignBlockSize(cfg config.Config, conn *Conn, provider string) int {
	senders, err := Senders(Effective(cfg), conn.Redis, zerolog.Nop())
	if err != nil {
		return 0
	}
	if bs, ok := senders[provider].(providers.BatchSender); ok {
		return bs.MaxBatch()
	}
	return 0
}
