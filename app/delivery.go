package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/sakari"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox/hub"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
	"github.com/smsq/smsq/worker"
)

// WithCallbackSecret gives the embedded demo a callback secret when none is
// configured: a random one for this run, so the built-in sandbox can push
// delivery reports to the worker and nobody else can. Outside the embedded
// mode cfg is returned as it is (no secret: callbacks refused). Call it
// before the logger is built, so the secret is masked like the others.
func WithCallbackSecret(cfg config.Config) config.Config {
	if cfg.Redis.Embedded() && cfg.Delivery.CallbackSecret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		cfg.Delivery.CallbackSecret = base64.RawURLEncoding.EncodeToString(b)
	}
	return cfg
}

// DeliveryOptions tune NewDelivery beyond the configuration file.
type DeliveryOptions struct {
	// Schedule is the poll back-off. Zero: delivery.DefaultSchedule()
	// (30s, 2m, 10m, 1h, then every 4h).
	Schedule delivery.Schedule
	// Campaigns is the campaign store: reports for campaign recipients
	// settle there, and the recipients of providers with a status
	// endpoint are polled a block at a time (campaign.Poller). Default
	// nil: such reports are kept until delivery.expiry, unapplied.
	Campaigns *campaign.Store
	// Metrics counts delivery reports and expiries. Default nil.
	Metrics delivery.Metrics
}

// Delivery is a worker's delivery-report machinery: delivery:poll tasks,
// the after-submit hook and the provider callback receivers.
type Delivery struct {
	Service *delivery.Service
	// Campaigns polls campaign recipients; nil without a campaign store.
	Campaigns *campaign.Poller
	secret    string
	log       zerolog.Logger
}

// NewDelivery builds the delivery machinery from cfg for the worker's
// senders (those with a status endpoint are polled) and guard.
func NewDelivery(cfg config.Config, conn *Conn, senders map[string]providers.Sender, guard *throttle.Guard,
	led *ledger.Ledger, log zerolog.Logger, o DeliveryOptions) (*Delivery, error) {
	if err := delivery.ValidateSecret(cfg.Delivery.CallbackSecret); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	pollers := map[string]providers.StatusPoller{}
	for name, s := range senders {
		if p, ok := s.(providers.StatusPoller); ok {
			pollers[name] = p
		}
	}
	log = log.With().Str("component", "delivery").Logger()
	queue := asynq.NewClientFromRedisClient(conn.Redis)
	do := delivery.Options{
		Ledger:   led,
		Redis:    conn.Redis,
		Queue:    queue,
		Tasks:    asynq.NewInspectorFromRedisClient(conn.Redis),
		Pollers:  pollers,
		Guard:    guard,
		Metrics:  o.Metrics,
		Schedule: o.Schedule,
		Expiry:   cfg.Delivery.Expiry,
		Prefix:   LedgerOptions(cfg).Prefix,
		Log:      log,
	}
	if o.Campaigns != nil {
		do.Campaigns = o.Campaigns
	}
	svc, err := delivery.New(do)
	if err != nil {
		return nil, err
	}
	d := &Delivery{Service: svc, secret: cfg.Delivery.CallbackSecret, log: log}
	if o.Campaigns != nil {
		d.Campaigns, err = campaign.NewPoller(campaign.PollerOptions{
			Store:    o.Campaigns,
			Queue:    queue,
			Pollers:  pollers,
			Guard:    guard,
			Early:    svc,
			Metrics:  o.Metrics,
			Schedule: o.Schedule,
			Expiry:   cfg.Delivery.Expiry,
			Log:      log,
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// TaskHandlers are the delivery task handlers, for
// worker.ServerOptions.Extra: message polls, and campaign block polls
// when there is a campaign store.
func (d *Delivery) TaskHandlers() map[string]asynq.Handler {
	hs := map[string]asynq.Handler{tasks.TypePoll: asynq.HandlerFunc(d.Service.HandlePoll)}
	if d.Campaigns != nil {
		hs[campaign.TypePoll] = d.Campaigns
	}
	return hs
}

// Wire registers everything with a worker about to run: the poll handlers
// in extra, the after-submit hook on h, the callback receivers on mux.
// The campaign block handler in extra, if any (CampaignHandlers), gets
// the block poll starter and h's provider-call metrics, so campaign
// recipients are followed and counted like single messages.
func (d *Delivery) Wire(h *worker.Handlers, extra map[string]asynq.Handler, mux *http.ServeMux) {
	if bh, ok := extra[tasks.TypeBlock].(*campaign.Handler); ok {
		if d.Campaigns != nil {
			bh.SetPolls(d.Campaigns)
		}
		if h.Metrics != nil {
			bh.SetMetrics(h.Metrics)
		}
	}
	for typ, th := range d.TaskHandlers() {
		extra[typ] = th
	}
	h.AfterSubmit = append(h.AfterSubmit, d.Service.AfterSubmit)
	mux.Handle(delivery.CallbackPrefix, d.Service.Callbacks(delivery.CallbackOptions{Secret: d.secret}))
	if d.secret == "" {
		d.log.Info().Msg("delivery.callback_secret is empty: provider callbacks are refused; delivery is tracked by polling")
	}
}

// CallbackURL is the URL provider must call to reach the worker serving
// HTTP on addr (worker.http_addr); a wildcard host becomes the loopback.
// It holds the callback secret: give it to the provider, do not log it.
func (d *Delivery) CallbackURL(addr, provider string) string {
	return "http://" + reachable(addr) + delivery.CallbackPath(d.secret, provider)
}

// reachable turns a listen address into one a local client can dial.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// PointSandbox makes the embedded sandbox report deliveries to the worker
// serving HTTP on addr: the Keccel fake pushes to the Keccel callback, and
// the Sakari fake gets a message-status webhook subscription. sandboxURL is
// the sandbox root (embedded.Services.SandboxURL). With no HTTP endpoint
// (addr "" or "-") or no callback secret it does nothing: delivery is then
// tracked by polling alone.
func (d *Delivery) PointSandbox(ctx context.Context, sb *hub.Hub, sandboxURL, addr string) error {
	if addr == "" || addr == "-" || d.secret == "" {
		return nil
	}
	sb.Keccel.SetCallbackURL(d.CallbackURL(addr, "keccel"))
	// Through the Sakari API, as an operator would, but always against the
	// sandbox: never subscribe a real account to a loopback URL.
	c, err := sakari.New(sakari.Options{BaseURL: hub.BaseURL(sandboxURL, sakari.Name), ClientID: sbsakari.DefaultClientID,
		ClientSecret: sbsakari.DefaultClientSecret, AccountID: sbsakari.DefaultAccountID}, providers.Deps{})
	if err != nil {
		return fmt.Errorf("sandbox sakari client: %w", err)
	}
	if _, err := c.Subscribe(ctx, d.CallbackURL(addr, sakari.Name), []string{sakari.EventMessageStatus}); err != nil {
		return fmt.Errorf("sandbox sakari webhook: %w", err)
	}
	d.log.Info().Msg("embedded sandbox pushes delivery reports to this worker (keccel callback, sakari webhook)")
	return nil
}

// SakariClient returns the configured Sakari adapter, for webhook
// management.
func SakariClient(cfg config.Config, conn *Conn) (*sakari.Client, error) {
	if !cfg.Providers.Sakari.Enabled {
		return nil, errors.New("sakari is not enabled (providers.sakari.enabled)")
	}
	c, err := sakari.New(cfg.Providers.Sakari.Options, providers.Deps{Tokens: &token.RedisStore{Client: conn.Redis}})
	if err != nil {
		return nil, fmt.Errorf("providers.sakari: %w", err)
	}
	return c, nil
}
