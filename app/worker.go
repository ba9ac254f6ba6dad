package app

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/embedded"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/logging"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/worker"
)

// WorkerOptions are the worker process's command-line choices.
type WorkerOptions struct {
	// Demo sends one message through each sandbox provider after start and
	// logs what happens to it (embedded mode only).
	Demo bool
	// ReadOnlyUI makes /monitoring view-only.
	ReadOnlyUI bool
	// Listener, when set, serves the worker's HTTP endpoints instead of
	// worker.http_addr (tests use a port-0 listener).
	Listener net.Listener
}

// Logger builds the process logger from cfg.
func Logger(cfg config.Config, out io.Writer) zerolog.Logger {
	return logging.New(out, logging.Options{Format: cfg.Log.Format, Level: cfg.Log.Level, Secrets: Secrets(cfg)})
}

// RunWorker runs a worker process until ctx is done. With no Redis
// configured it first starts the embedded Redis and provider sandbox.
func RunWorker(ctx context.Context, cfg config.Config, out io.Writer, wo WorkerOptions) error {
	embeddedMode := cfg.Redis.Embedded()
	// The callback secret is set before the logger so that it is masked.
	cfg = WithCallbackSecret(Effective(cfg))
	log := Logger(cfg, out)
	var svc *embedded.Services
	if embeddedMode {
		var err error
		svc, err = embedded.Start(cfg.Embedded.RedisAddr, cfg.Embedded.SandboxAddr)
		if err != nil {
			return err
		}
		defer svc.Close()
		log.Info().Str("redis", cfg.Embedded.RedisAddr).Str("sandbox", svc.SandboxURL).
			Msg("embedded mode: in-process Redis and provider sandbox (demo only; set redis.url for real use)")
	} else if wo.Demo {
		return fmt.Errorf("-demo needs the embedded mode: unset redis settings")
	}
	conn, err := Connect(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := Ping(ctx, cfg, conn); err != nil {
		return err
	}
	senders, err := Senders(cfg, conn.Redis, log)
	if err != nil {
		return err
	}
	guard, err := Guard(cfg, conn.Redis, log)
	if err != nil {
		return err
	}
	if embeddedMode {
		// The demo runs the campaign scheduler in the worker process.
		defer startScheduler(ctx, conn, log)()
	}
	led := ledger.New(conn.Redis, LedgerOptions(cfg))
	h := &worker.Handlers{Ledger: led, Senders: senders, Guard: guard, Suppress: suppress.New(conn.Redis, ""),
		MaxAttempts: cfg.Send.MaxAttempts, CostBy: CostBy(cfg), Log: log}

	campaigns := campaign.NewStore(conn.Redis, campaign.StoreOptions{})
	met, err := WorkerMetrics(cfg, conn, guard, campaigns, log)
	if err != nil {
		return err
	}
	h.Metrics = met
	ui, err := MonitoringUI(cfg, conn, wo.ReadOnlyUI, log)
	if err != nil {
		return err
	}
	defer ui.Close()

	mux := http.NewServeMux()
	mux.Handle("/monitoring/", ui)
	mux.Handle("GET /metrics", met.Handler())
	if cfg.Worker.Pprof {
		mountPprof(mux)
		if !loopbackOnly(cfg.Worker.HTTPAddr) {
			log.Warn().Str("addr", cfg.Worker.HTTPAddr).Msg("the profiler at /debug/pprof/ is reachable beyond this machine; its profiles show memory contents")
		}
	}
	if embeddedMode {
		log.Info().Str("url", "http://"+cfg.Worker.HTTPAddr+"/monitoring/").Msg("queue monitoring UI")
	}
	dl, err := NewDelivery(cfg, conn, senders, guard, led, log, DeliveryOptions{Campaigns: campaigns, Metrics: met})
	if err != nil {
		return err
	}
	extra := CampaignHandlers(cfg, conn, senders, guard, log)
	maps.Copy(extra, EventHandlers(cfg, log))
	dl.Wire(h, extra, mux) // delivery polls, the after-submit hook, /callbacks/
	stopEvents := StartEvents(ctx, cfg, conn, log)
	defer stopEvents()
	if embeddedMode {
		addr := cfg.Worker.HTTPAddr
		if wo.Listener != nil {
			addr = wo.Listener.Addr().String()
		}
		if err := dl.PointSandbox(ctx, svc.Sandbox, svc.SandboxURL, addr); err != nil {
			log.Warn().Err(err).Msg("embedded sandbox will not push delivery reports; polls still track them")
		}
	}
	if wo.Demo {
		go runDemo(ctx, cfg, conn, log)
	}
	log.Info().Str("providers", ProviderList(cfg.Providers.Names())).Msg("providers enabled")
	return worker.Run(ctx, worker.ServerOptions{
		Conn: conn.Asynq, Redis: conn.Redis, Handlers: h, Concurrency: cfg.Worker.Concurrency,
		ShutdownTimeout: cfg.Worker.ShutdownTimeout, RetryBase: cfg.Send.RetryBase, RetryMax: cfg.Send.RetryMax,
		HTTPAddr: cfg.Worker.HTTPAddr, Listener: wo.Listener, Mux: mux, Log: log,
		Extra: extra,
	})
}
