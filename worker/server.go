package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/logging"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// ServerOptions configure the worker process.
type ServerOptions struct {
	// Conn is the queue's Redis. Required.
	Conn asynq.RedisConnOpt
	// Redis is a client for the same Redis (readiness checks). Required.
	Redis redis.UniversalClient
	// Handlers run the tasks. Required.
	Handlers *Handlers
	// Concurrency is how many tasks run at once. Zero: 20.
	Concurrency int
	// ShutdownTimeout bounds how long in-flight tasks may finish on stop;
	// after it they are cancelled and return to the queue. Zero: 25s.
	ShutdownTimeout time.Duration
	// RetryBase and RetryMax bound the back-off between failed attempts.
	RetryBase, RetryMax time.Duration
	// HTTPAddr serves /healthz, /readyz and Mux's routes. "" or "-": none.
	HTTPAddr string
	// Listener, when set, is used instead of HTTPAddr (tests listen on
	// port 0 and read the address from it).
	Listener net.Listener
	// Mux receives extra routes (monitoring UI, callbacks, metrics). Nil:
	// a new one.
	Mux *http.ServeMux
	// Extra registers more task handlers (campaign blocks, polls, events).
	Extra map[string]asynq.Handler
	Log   zerolog.Logger
}

// Run serves tasks until ctx is done, then shuts down gracefully: it stops
// taking tasks, lets in-flight ones finish within ShutdownTimeout, and
// returns the rest to the queue.
func Run(ctx context.Context, o ServerOptions) error {
	if o.Concurrency == 0 {
		o.Concurrency = 20
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 25 * time.Second
	}
	if o.RetryBase == 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 10 * time.Minute
	}
	log := o.Log
	srv := asynq.NewServer(o.Conn, asynq.Config{
		Concurrency:     o.Concurrency,
		Queues:          tasks.QueueWeights(),
		ShutdownTimeout: o.ShutdownTimeout,
		IsFailure:       throttle.IsFailure,
		RetryDelayFunc:  throttle.RetryDelayFunc(o.RetryBase, o.RetryMax),
		Logger:          logging.Asynq{L: log.With().Str("component", "asynq").Logger()},
		LogLevel:        asynq.WarnLevel,
		// Short check intervals keep enqueue-to-send latency low and make
		// scheduled tasks (campaign blocks, snoozes) start on time.
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if _, ok := throttle.IsSnooze(err); ok {
				return
			}
			id, _ := asynq.GetTaskID(ctx)
			log.Debug().Str("task_type", t.Type()).Str("task_id", id).Err(err).Msg("task returned an error")
		}),
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeSend, o.Handlers.HandleSend)
	for typ, h := range o.Extra {
		mux.Handle(typ, h)
	}

	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	if o.Listener != nil || (o.HTTPAddr != "" && o.HTTPAddr != "-") {
		hm := o.Mux
		if hm == nil {
			hm = http.NewServeMux()
		}
		hm.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok\n"))
		})
		hm.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			cctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := o.Redis.Ping(cctx).Err(); err != nil {
				http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ready\n"))
		})
		ln := o.Listener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", o.HTTPAddr); err != nil {
				return fmt.Errorf("worker: http listen %s: %w", o.HTTPAddr, err)
			}
		}
		httpSrv = &http.Server{Handler: hm, ReadHeaderTimeout: 10 * time.Second}
		go func() { httpErr <- httpSrv.Serve(ln) }()
		log.Info().Str("addr", ln.Addr().String()).Msg("http endpoints up: /healthz /readyz")
	}

	if err := srv.Start(mux); err != nil {
		if httpSrv != nil {
			_ = httpSrv.Close()
		}
		return fmt.Errorf("worker: start: %w", err)
	}
	log.Info().Int("concurrency", o.Concurrency).Msg("worker started")
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server stopped")
		}
	}
	log.Info().Dur("timeout", o.ShutdownTimeout).Msg("shutting down: finishing in-flight tasks")
	srv.Shutdown()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
	log.Info().Msg("worker stopped")
	return nil
}
