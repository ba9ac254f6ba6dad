// Package config loads smsq's configuration: one YAML file, then
// environment overrides under the SMSQ_ prefix (SMSQ_REDIS__URL sets
// redis.url; "__" separates levels), then defaults, then validation whose
// errors name the offending field. deploy/smsq.example.yaml documents every
// setting.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/smsq/smsq/callbackurl"
	"github.com/smsq/smsq/providers/conectaline"
	"github.com/smsq/smsq/providers/kaizala"
	"github.com/smsq/smsq/providers/kandy"
	"github.com/smsq/smsq/providers/keccel"
	"github.com/smsq/smsq/providers/sakari"
	"github.com/smsq/smsq/throttle"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "SMSQ_"

// Config is the whole configuration. The zero value plus defaults runs the
// embedded demo: no Redis configured means an embedded one.
type Config struct {
	Redis     Redis     `koanf:"redis"`
	Log       Log       `koanf:"log"`
	Worker    Worker    `koanf:"worker"`
	Send      Send      `koanf:"send"`
	Delivery  Delivery  `koanf:"delivery"`
	Embedded  Embedded  `koanf:"embedded"`
	Providers Providers `koanf:"providers"`
	API       API       `koanf:"api"`
	// Monitoring protects the queue UI at /monitoring.
	Monitoring Monitoring `koanf:"monitoring"`
}

// Monitoring protects the queue monitoring UI (worker.http_addr +
// /monitoring), which shows tasks and can delete them. With no username
// and no token it is open to anyone who can reach worker.http_addr (by
// default loopback only).
type Monitoring struct {
	// ReadOnly makes the UI view-only: the API refuses anything but GET.
	// Default false.
	ReadOnly bool `koanf:"read_only"`
	// Username and Password require HTTP basic auth; set both or neither.
	// Default "": no basic auth.
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// Token is accepted as "Authorization: Bearer <token>", alone or beside
	// basic auth; at least 16 characters. Default "": no token.
	Token string `koanf:"token"`
}

// Protected reports whether the UI asks for credentials.
func (m Monitoring) Protected() bool { return m.Username != "" || m.Token != "" }

// Redis says where the queue and the ledger live. Exactly one of URL, Addr,
// Sentinel or Cluster may be set; none set means the embedded Redis.
type Redis struct {
	// URL: redis://[user:password@]host:port/db (or rediss:// for TLS).
	URL string `koanf:"url"`
	// Addr: host:port, with Password and DB.
	Addr     string `koanf:"addr"`
	Password string `koanf:"password"`
	DB       int    `koanf:"db"`
	// Sentinel: a master name and sentinel addresses (asynq failover).
	Sentinel Sentinel `koanf:"sentinel"`
	// Cluster: seed node addresses (asynq cluster mode).
	Cluster Cluster `koanf:"cluster"`
}

// Sentinel configures Redis Sentinel failover.
type Sentinel struct {
	MasterName string   `koanf:"master_name"`
	Addrs      []string `koanf:"addrs"`
	Password   string   `koanf:"password"`
}

// Cluster configures Redis Cluster.
type Cluster struct {
	Addrs []string `koanf:"addrs"`
}

// Embedded reports whether no Redis is configured.
func (r Redis) Embedded() bool {
	return r.URL == "" && r.Addr == "" && r.Sentinel.MasterName == "" && len(r.Cluster.Addrs) == 0
}

// Log configures logging.
type Log struct {
	// Format: "json" (default), "console" (human-readable), or "auto"
	// (console on a terminal, JSON otherwise).
	Format string `koanf:"format"`
	// Level: debug, info (default), warn, error.
	Level string `koanf:"level"`
}

// Worker configures the worker process.
type Worker struct {
	// Concurrency is how many tasks run at once. Default 20.
	Concurrency int `koanf:"concurrency"`
	// ShutdownTimeout is how long in-flight tasks may finish on SIGTERM
	// before they are returned to the queue. Default 25s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// HTTPAddr serves /healthz, /readyz, /metrics, callbacks and
	// /monitoring. Default 127.0.0.1:8080; "-" turns it off.
	HTTPAddr string `koanf:"http_addr"`
	// Pprof serves Go's profiler at /debug/pprof/ on HTTPAddr, for
	// measuring a worker under load. Default false: profiles expose
	// memory contents, so keep HTTPAddr private when turning it on.
	Pprof bool `koanf:"pprof"`
}

// Send configures message acceptance and retries.
type Send struct {
	// MaxAttempts is how many provider calls a message may take before it
	// is failed (rate limits and open breakers do not count). Default 8.
	MaxAttempts int `koanf:"max_attempts"`
	// MaxSegments is the most SMS segments one message may need. Default 10.
	MaxSegments int `koanf:"max_segments"`
	// DefaultRegion lets numbers be given in national format (ISO 3166
	// code, e.g. "CD"). Default "": numbers must be international.
	DefaultRegion string `koanf:"default_region"`
	// RetryBase and RetryMax bound the exponential back-off (with full
	// jitter) between attempts. Defaults 2s and 10m.
	RetryBase time.Duration `koanf:"retry_base"`
	RetryMax  time.Duration `koanf:"retry_max"`
	// Retention is how long final records stay in the ledger. Default 168h.
	// A record still "submitted" (a provider without delivery reports) is
	// kept for retention + delivery.expiry after its submission.
	Retention time.Duration `koanf:"retention"`
}

// Delivery configures delivery-report handling.
type Delivery struct {
	// Expiry is how long after submission a message without a final report
	// becomes "expired". Default 72h.
	Expiry time.Duration `koanf:"expiry"`
	// CallbackSecret authenticates provider callbacks: it must appear in
	// the callback URL path. Empty: callbacks are refused.
	CallbackSecret string `koanf:"callback_secret"`
}

// API configures the producer HTTP API (enqueue serve) and the signed
// status callbacks workers send to producers.
type API struct {
	// Addr is where enqueue serve listens. Default 127.0.0.1:8090.
	Addr string `koanf:"addr"`
	// Keys are the accepted API keys. Default none: every request is
	// refused with 401.
	Keys []APIKey `koanf:"keys"`
	// MaxBodyBytes caps a request body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// MaxCampaignBytes caps a POST /v1/campaigns body (it carries the
	// recipients). Default 64 MiB.
	MaxCampaignBytes int64 `koanf:"max_campaign_bytes"`
	// MaxBatch caps the messages of one POST /v1/messages. Default 1000.
	MaxBatch int `koanf:"max_batch"`
	// SigningSecret signs status callbacks (X-Smsq-Signature, HMAC-SHA256).
	// Default "": no status callbacks are sent.
	SigningSecret string `koanf:"signing_secret"`
	// CallbackTimeout bounds one status callback request. Default 10s.
	CallbackTimeout time.Duration `koanf:"callback_timeout"`
	// CallbackAttempts is how many times a status callback is tried before
	// it is archived (and logged). Default 10.
	CallbackAttempts int `koanf:"callback_attempts"`
	// AllowPrivateCallbacks lets status callbacks go to loopback, private,
	// link-local and other non-public addresses, for local development and
	// tests. Default false: such callback URLs are refused when a message
	// is accepted (and here, for api.keys[].callback_url), and workers only
	// connect to public addresses, checked after DNS resolution, without
	// HTTP(S)_PROXY. Set it for the worker and the API/CLI alike.
	AllowPrivateCallbacks bool `koanf:"allow_private_callbacks"`
}

// APIKey is one producer's credential.
type APIKey struct {
	// Name identifies the producer in logs. Required, unique.
	Name string `koanf:"name"`
	// Key is the secret the producer sends (Authorization: Bearer, or
	// X-API-Key). Required, at least 16 characters, unique.
	Key string `koanf:"key"`
	// CallbackURL receives status events of this producer's messages that
	// name no callback_url of their own. Default "": none.
	CallbackURL string `koanf:"callback_url"`
	// Admin lets this key read and control every message and campaign,
	// including those of other keys and those made by the CLI or Go
	// producers. Default false: the key sees only what it created.
	Admin bool `koanf:"admin"`
}

// Embedded configures the built-in demo services used when no Redis is
// configured.
type Embedded struct {
	// RedisAddr is where the embedded Redis listens, so that enqueue in
	// another terminal reaches it. Default 127.0.0.1:7379.
	RedisAddr string `koanf:"redis_addr"`
	// SandboxAddr is where the built-in provider sandbox listens. Default
	// 127.0.0.1:7380.
	SandboxAddr string `koanf:"sandbox_addr"`
}

// Providers holds one section per provider; a provider is used when its
// section has enabled: true.
type Providers struct {
	Kaizala     Kaizala     `koanf:"kaizala"`
	Kandy       Kandy       `koanf:"kandy"`
	Keccel      Keccel      `koanf:"keccel"`
	Sakari      Sakari      `koanf:"sakari"`
	Conectaline Conectaline `koanf:"conectaline"`
}

// Keccel is the keccel section: adapter options plus throttle settings.
type Keccel struct {
	Enabled        bool `koanf:"enabled"`
	keccel.Options `koanf:",squash"`
	Throttle       throttle.ProviderConfig `koanf:"throttle"`
}

// Kaizala is the kaizala section.
type Kaizala struct {
	Enabled         bool `koanf:"enabled"`
	kaizala.Options `koanf:",squash"`
	Throttle        throttle.ProviderConfig `koanf:"throttle"`
}

// Kandy is the kandy section.
type Kandy struct {
	Enabled       bool `koanf:"enabled"`
	kandy.Options `koanf:",squash"`
	Throttle      throttle.ProviderConfig `koanf:"throttle"`
}

// Sakari is the sakari section.
type Sakari struct {
	Enabled        bool `koanf:"enabled"`
	sakari.Options `koanf:",squash"`
	Throttle       throttle.ProviderConfig `koanf:"throttle"`
}

// Conectaline is the conectaline section.
type Conectaline struct {
	Enabled             bool `koanf:"enabled"`
	conectaline.Options `koanf:",squash"`
	Throttle            throttle.ProviderConfig `koanf:"throttle"`
}

// Names lists the providers enabled in p, sorted.
func (p Providers) Names() []string {
	var out []string
	for name, on := range map[string]bool{"kaizala": p.Kaizala.Enabled, "kandy": p.Kandy.Enabled,
		"keccel": p.Keccel.Enabled, "sakari": p.Sakari.Enabled, "conectaline": p.Conectaline.Enabled} {
		if on {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Known lists every provider smsq has an adapter for.
func Known() []string { return []string{"conectaline", "kaizala", "kandy", "keccel", "sakari"} }

// Throttles returns the throttle settings of every enabled provider.
func (p Providers) Throttles() map[string]throttle.ProviderConfig {
	all := map[string]struct {
		on bool
		t  throttle.ProviderConfig
	}{
		"kaizala": {p.Kaizala.Enabled, p.Kaizala.Throttle}, "kandy": {p.Kandy.Enabled, p.Kandy.Throttle},
		"keccel": {p.Keccel.Enabled, p.Keccel.Throttle}, "sakari": {p.Sakari.Enabled, p.Sakari.Throttle},
		"conectaline": {p.Conectaline.Enabled, p.Conectaline.Throttle},
	}
	out := map[string]throttle.ProviderConfig{}
	for name, e := range all {
		if e.on {
			out[name] = e.t
		}
	}
	return out
}

// Load reads the YAML file at path (none when empty), applies overrides
// from environ (os.Environ() form), fills defaults and validates.
func Load(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvPrefix+"CONFIG" {
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, EnvPrefix), "__", "."))
		if err := k.Set(key, val); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", name, err)
		}
	}
	var c Config
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Result:           &c,
		TagName:          "koanf",
	}
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return Config{}, fmt.Errorf("config: %w", cleanDecodeError(err))
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// cleanDecodeError keeps mapstructure's message (it names the key) but
// drops its multi-line framing.
func cleanDecodeError(err error) error {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	s = strings.Join(strings.Fields(s), " ")
	return errors.New(s)
}

// SetDefaults fills every unset field with its documented default.
func (c *Config) SetDefaults() {
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Worker.Concurrency == 0 {
		c.Worker.Concurrency = 20
	}
	if c.Worker.ShutdownTimeout == 0 {
		c.Worker.ShutdownTimeout = 25 * time.Second
	}
	if c.Worker.HTTPAddr == "" {
		c.Worker.HTTPAddr = "127.0.0.1:8080"
	}
	if c.Send.MaxAttempts == 0 {
		c.Send.MaxAttempts = 8
	}
	if c.Send.MaxSegments == 0 {
		c.Send.MaxSegments = 10
	}
	if c.Send.RetryBase == 0 {
		c.Send.RetryBase = 2 * time.Second
	}
	if c.Send.RetryMax == 0 {
		c.Send.RetryMax = 10 * time.Minute
	}
	if c.Send.Retention == 0 {
		c.Send.Retention = 7 * 24 * time.Hour
	}
	if c.Delivery.Expiry == 0 {
		c.Delivery.Expiry = 72 * time.Hour
	}
	if c.API.Addr == "" {
		c.API.Addr = "127.0.0.1:8090"
	}
	if c.API.MaxBodyBytes == 0 {
		c.API.MaxBodyBytes = 1 << 20
	}
	if c.API.MaxCampaignBytes == 0 {
		c.API.MaxCampaignBytes = 64 << 20
	}
	if c.API.MaxBatch == 0 {
		c.API.MaxBatch = 1000
	}
	if c.API.CallbackTimeout == 0 {
		c.API.CallbackTimeout = 10 * time.Second
	}
	if c.API.CallbackAttempts == 0 {
		c.API.CallbackAttempts = 10
	}
	if c.Embedded.RedisAddr == "" {
		c.Embedded.RedisAddr = "127.0.0.1:7379"
	}
	if c.Embedded.SandboxAddr == "" {
		c.Embedded.SandboxAddr = "127.0.0.1:7380"
	}
}

// FieldError names the setting that is wrong.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "config: " + e.Field + ": " + e.Reason }

// Validate checks every field; the first problem is returned.
func (c Config) Validate() error {
	r := c.Redis
	set := 0
	for _, on := range []bool{r.URL != "", r.Addr != "", r.Sentinel.MasterName != "", len(r.Cluster.Addrs) > 0} {
		if on {
			set++
		}
	}
	if set > 1 {
		return &FieldError{"redis", "set only one of url, addr, sentinel.master_name, cluster.addrs"}
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return &FieldError{"redis.url", "want redis://host:port/db or rediss://…"}
		}
	}
	if r.Sentinel.MasterName != "" && len(r.Sentinel.Addrs) == 0 {
		return &FieldError{"redis.sentinel.addrs", "required with redis.sentinel.master_name"}
	}
	if r.DB < 0 || r.DB > 15 {
		return &FieldError{"redis.db", "must be 0..15"}
	}
	switch c.Log.Format {
	case "json", "console", "auto":
	default:
		return &FieldError{"log.format", fmt.Sprintf("%q: want json, console or auto", c.Log.Format)}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &FieldError{"log.level", fmt.Sprintf("%q: want debug, info, warn or error", c.Log.Level)}
	}
	if c.Worker.Concurrency < 1 || c.Worker.Concurrency > 10000 {
		return &FieldError{"worker.concurrency", "must be 1..10000, got " + strconv.Itoa(c.Worker.Concurrency)}
	}
	if c.Worker.ShutdownTimeout < 0 {
		return &FieldError{"worker.shutdown_timeout", "must not be negative"}
	}
	if c.Send.MaxAttempts < 1 || c.Send.MaxAttempts > 100 {
		return &FieldError{"send.max_attempts", "must be 1..100"}
	}
	if c.Send.MaxSegments < 1 || c.Send.MaxSegments > 255 {
		return &FieldError{"send.max_segments", "must be 1..255"}
	}
	if c.Send.RetryBase <= 0 || c.Send.RetryMax < c.Send.RetryBase {
		return &FieldError{"send.retry_max", "must be at least send.retry_base (> 0)"}
	}
	type entry struct {
		name     string
		on       bool
		validate func() error
		throttle throttle.ProviderConfig
	}
	p := c.Providers
	for _, e := range []entry{
		{"kaizala", p.Kaizala.Enabled, p.Kaizala.Options.Validate, p.Kaizala.Throttle},
		{"kandy", p.Kandy.Enabled, p.Kandy.Options.Validate, p.Kandy.Throttle},
		{"keccel", p.Keccel.Enabled, p.Keccel.Options.Validate, p.Keccel.Throttle},
		{"sakari", p.Sakari.Enabled, p.Sakari.Options.Validate, p.Sakari.Throttle},
		{"conectaline", p.Conectaline.Enabled, p.Conectaline.Options.Validate, p.Conectaline.Throttle},
	} {
		if !e.on {
			continue
		}
		if err := e.validate(); err != nil {
			return fmt.Errorf("config: providers.%w", err)
		}
		if err := e.throttle.Validate(); err != nil {
			return fmt.Errorf("config: providers.%s.throttle: %w", e.name, err)
		}
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if err := c.Monitoring.validate(); err != nil {
		return err
	}
	if !r.Embedded() && len(p.Names()) == 0 {
		return &FieldError{"providers", "enable at least one provider (providers.<name>.enabled: true)"}
	}
	return nil
}

func (a API) validate() error {
	switch {
	case a.MaxBodyBytes < 1:
		return &FieldError{"api.max_body_bytes", "must be positive"}
	case a.MaxCampaignBytes < 1:
		return &FieldError{"api.max_campaign_bytes", "must be positive"}
	case a.MaxBatch < 1 || a.MaxBatch > 10000:
		return &FieldError{"api.max_batch", "must be 1..10000"}
	case a.CallbackTimeout < 0:
		return &FieldError{"api.callback_timeout", "must not be negative"}
	case a.CallbackAttempts < 1 || a.CallbackAttempts > 100:
		return &FieldError{"api.callback_attempts", "must be 1..100"}
	case a.SigningSecret != "" && len(a.SigningSecret) < 16:
		return &FieldError{"api.signing_secret", "use at least 16 characters"}
	}
	names, keys := map[string]bool{}, map[string]bool{}
	for i, k := range a.Keys {
		field := fmt.Sprintf("api.keys[%d]", i)
		switch {
		case strings.TrimSpace(k.Name) == "":
			return &FieldError{field + ".name", "required"}
		case names[k.Name]:
			return &FieldError{field + ".name", fmt.Sprintf("%q is used twice", k.Name)}
		case len(k.Key) < 16:
			return &FieldError{field + ".key", "required, at least 16 characters"}
		case keys[k.Key]:
			return &FieldError{field + ".key", "the same key is given twice"}
		}
		if k.CallbackURL != "" {
			if err := callbackurl.Check(k.CallbackURL, a.AllowPrivateCallbacks); err != nil {
				return &FieldError{field + ".callback_url", err.Error()}
			}
		}
		names[k.Name], keys[k.Key] = true, true
	}
	return nil
}

// minTokenLen keeps guessable tokens out: a token is a shared secret with
// no user name beside it.
const minTokenLen = 16

func (m Monitoring) validate() error {
	switch {
	case m.Username != "" && m.Password == "":
		return &FieldError{"monitoring.password", "required with monitoring.username"}
	case m.Password != "" && m.Username == "":
		return &FieldError{"monitoring.username", "required with monitoring.password"}
	case strings.Contains(m.Username, ":"):
		return &FieldError{"monitoring.username", "must not contain ':' (HTTP basic auth cannot carry it)"}
	case m.Token != "" && len(m.Token) < minTokenLen:
		return &FieldError{"monitoring.token", "must be at least " + strconv.Itoa(minTokenLen) + " characters"}
	}
	return nil
}
