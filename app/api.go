package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/api"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/logging"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
)

// APIOptions are enqueue serve's command-line choices.
type APIOptions struct {
	// Addr overrides api.addr.
	Addr string
	// Listener, when set, is served instead of the address (tests listen
	// on port 0).
	Listener net.Listener
	// Ready is told the address once the API listens.
	Ready func(addr string)
}

// RunAPI serves the producer HTTP API until ctx is done, then lets
// in-flight requests finish (up to 10s).
func RunAPI(ctx context.Context, cfg config.Config, out io.Writer, o APIOptions) error {
	cfg = Effective(cfg)
	log := logging.New(out, logging.Options{Format: cfg.Log.Format, Level: cfg.Log.Level, Secrets: apiSecrets(cfg)})
	conn, err := Connect(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := Ping(ctx, cfg, conn); err != nil {
		return err
	}
	client := tasks.NewClient(conn.Asynq, conn.Redis, Rules(cfg), LedgerOptions(cfg))
	defer client.Close()

	ln := o.Listener
	if ln == nil {
		addr := o.Addr
		if addr == "" {
			addr = cfg.API.Addr
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("api: listen %s: %w", addr, err)
		}
	}
	if len(cfg.API.Keys) == 0 {
		log.Warn().Msg("no api.keys configured: every request will be refused with 401")
	}
	if cfg.API.AllowPrivateCallbacks {
		log.Warn().Msg("api.allow_private_callbacks is on: callback URLs may point at internal addresses (development only)")
	}
	srv := &http.Server{
		Handler:           APIHandler(cfg, conn, client, log),
		ReadHeaderTimeout: 10 * time.Second,
		// Campaign uploads may be large; the body limits bound them.
		ReadTimeout:  5 * time.Minute,
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Int("keys", len(cfg.API.Keys)).Msg("producer API listening")
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	log.Info().Msg("producer API stopped")
	return err
}

// APIHandler builds the API on an open connection and producer client.
func APIHandler(cfg config.Config, conn *Conn, client *tasks.Client, log zerolog.Logger) http.Handler {
	keys := make([]api.Key, len(cfg.API.Keys))
	for i, k := range cfg.API.Keys {
		keys[i] = api.Key{Name: k.Name, Key: k.Key, CallbackURL: k.CallbackURL, Admin: k.Admin}
	}
	// Block size of an unpaced campaign: the provider's batch size, so one
	// block is one provider call (as enqueue campaign create does).
	sizes := map[string]int{}
	if senders, err := Senders(cfg, conn.Redis, zerolog.Nop()); err == nil {
		for name, s := range senders {
			if bs, ok := s.(providers.BatchSender); ok {
				sizes[name] = bs.MaxBatch()
			}
		}
	}
	sup := suppress.New(conn.Redis, "")
	return api.New(api.Options{
		Producer:       client,
		Keys:           keys,
		Campaigns:      campaign.NewStore(conn.Redis, campaign.StoreOptions{}),
		CampaignOwners: api.NewOwnerStore(conn.Redis, ""),
		CampaignOptions: func(provider string) campaign.CreateOptions {
			return campaign.CreateOptions{
				ImportOptions: campaign.ImportOptions{DefaultRegion: cfg.Send.DefaultRegion, MaxSegments: cfg.Send.MaxSegments, Suppress: sup},
				Providers:     cfg.Providers.Names(),
				BlockSize:     sizes[provider],
			}
		},
		MaxBodyBytes:     cfg.API.MaxBodyBytes,
		MaxCampaignBytes: cfg.API.MaxCampaignBytes,
		MaxBatch:         cfg.API.MaxBatch,
		Log:              log.With().Str("component", "api").Logger(),
	})
}

// apiSecrets is Secrets plus the API keys and the signing secret.
func apiSecrets(cfg config.Config) *mask.Secrets {
	s := Secrets(cfg)
	s.Add(cfg.API.SigningSecret)
	for _, k := range cfg.API.Keys {
		s.Add(k.Key)
	}
	return s
}
