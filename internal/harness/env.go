package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/pacing"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
)

// BaseEnv is the SMSQ_* settings every process of a run shares: no HTTP
// listener (several workers share a machine), JSON logs at info level (a
// run reads them), and a worker shutdown timeout.
func BaseEnv(shutdownTimeout time.Duration) []string {
	return []string{
		"SMSQ_WORKER__HTTP_ADDR=-",
		"SMSQ_WORKER__SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		"SMSQ_LOG__LEVEL=info",
		"SMSQ_LOG__FORMAT=json",
	}
}

// ProviderEnv is the SMSQ_* settings that enable provider ("keccel",
// "sakari" or "conectaline") against its fake under the sandbox root,
// with the fake's default credentials, throttled to rate per second (rate
// ≤ 0: the configured default). Conectaline's throttle counts messages,
// not calls. It panics on another provider: a run names its own.
func ProviderEnv(root, provider string, rate int) []string {
	p := "SMSQ_PROVIDERS__" + strings.ToUpper(provider) + "__"
	env := []string{p + "ENABLED=true", p + "BASE_URL=" + hub.BaseURL(root, provider)}
	switch provider {
	case "keccel":
		env = append(env, p+"TOKEN="+sbkeccel.DefaultToken, p+"FROM=SMSQ")
	case "sakari":
		env = append(env, p+"CLIENT_ID="+sbsakari.DefaultClientID, p+"CLIENT_SECRET="+sbsakari.DefaultClientSecret,
			p+"ACCOUNT_ID="+sbsakari.DefaultAccountID)
	case "conectaline":
		env = append(env, p+"EMAIL="+sbconectaline.DefaultEmail, p+"PASSWORD="+sbconectaline.DefaultPassword,
			p+"CONFIGURATION_NAME="+sbconectaline.DefaultConfigurationName, p+"THROTTLE__COST_BY=message")
	default:
		panic(fmt.Sprintf("harness: no sandbox settings for provider %q", provider))
	}
	if rate > 0 {
		env = append(env, fmt.Sprintf("%sTHROTTLE__RATE=%d/s", p, rate))
	}
	return env
}

// Conn is the run driver's own way into smsq, configured from the same
// SMSQ_* settings as the run's processes: the Redis connection, the
// producer API, an inspector of the queues and the campaign store.
type Conn struct {
	*app.Conn
	Config    config.Config
	Client    *tasks.Client
	Inspector *asynq.Inspector
	Store     *campaign.Store
}

// Connect loads the configuration from env (SMSQ_* variables only) and
// connects.
func Connect(env []string) (*Conn, error) {
	cfg, err := config.Load("", env)
	if err != nil {
		return nil, err
	}
	ac, err := app.Connect(cfg)
	if err != nil {
		return nil, err
	}
	return &Conn{
		Conn:      ac,
		Config:    cfg,
		Client:    tasks.NewClient(ac.Asynq, ac.Redis, app.Rules(cfg), app.LedgerOptions(cfg)),
		Inspector: asynq.NewInspector(ac.Asynq),
		Store:     campaign.NewStore(ac.Redis, campaign.StoreOptions{}),
	}, nil
}

// Close closes the inspector, the producer and the Redis connection.
func (c *Conn) Close() {
	_ = c.Inspector.Close()
	_ = c.Client.Close()
	_ = c.Conn.Close()
}

// Archived counts the tasks asynq gave up on, over every queue.
func (c *Conn) Archived() int {
	n := 0
	for q := range tasks.QueueWeights() {
		if qi, err := c.Inspector.GetQueueInfo(q); err == nil {
			n += qi.Archived
		}
	}
	return n
}

// CreateCampaign creates the campaign d with the recipients of csv as
// `enqueue campaign create` does, unpaced and starting now (UTC) unless d
// says otherwise.
func (c *Conn) CreateCampaign(ctx context.Context, d campaign.Definition, csv string) (campaign.Report, error) {
	if d.Pacing == (pacing.Spec{}) {
		d.Pacing = pacing.Spec{StartDate: time.Now().UTC().Format("2006-01-02 15:04"), TimeZone: "UTC"}
	}
	return c.Store.Create(ctx, d, strings.NewReader(csv), campaign.CreateOptions{
		ImportOptions: campaign.ImportOptions{MaxSegments: c.Config.Send.MaxSegments, Suppress: suppress.New(c.Redis, "")},
		Providers:     c.Config.Providers.Names(),
		BlockSize:     app.CampaignBlockSize(c.Config, c.Conn, d.Provider),
	})
}
