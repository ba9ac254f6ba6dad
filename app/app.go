// Package app wires configuration into running parts: Redis connections,
// provider adapters, the throttle guard and the embedded demo services.
// The cmd/* mains and the CLI call it; it holds no logic of its own beyond
// putting the pieces together.
package app

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/conectaline"
	"github.com/smsq/smsq/providers/kaizala"
	"github.com/smsq/smsq/providers/kandy"
	"github.com/smsq/smsq/providers/keccel"
	"github.com/smsq/smsq/providers/sakari"
	"github.com/smsq/smsq/providers/token"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
	sbkaizala "github.com/smsq/smsq/sandbox/kaizala"
	sbkandy "github.com/smsq/smsq/sandbox/kandy"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// Effective returns cfg as the processes use it: with no Redis configured
// (the embedded demo) every provider that is not enabled is pointed at the
// built-in sandbox with the sandbox's credentials.
func Effective(cfg config.Config) config.Config {
	if !cfg.Redis.Embedded() {
		return cfg
	}
	root := "http://" + cfg.Embedded.SandboxAddr
	p := &cfg.Providers
	if !p.Keccel.Enabled {
		p.Keccel.Enabled = true
		p.Keccel.Options = keccel.Options{BaseURL: hub.BaseURL(root, "keccel"), Token: sbkeccel.DefaultToken, From: sbkeccel.DefaultFrom}
	}
	if !p.Kaizala.Enabled {
		p.Kaizala.Enabled = true
		p.Kaizala.Options = kaizala.Options{BaseURL: hub.BaseURL(root, "kaizala"), ApplicationID: sbkaizala.DefaultApplicationID,
			ApplicationSecret: sbkaizala.DefaultApplicationSecret, RefreshToken: sbkaizala.DefaultRefreshToken}
	}
	if !p.Kandy.Enabled {
		p.Kandy.Enabled = true
		p.Kandy.Options = kandy.Options{BaseURL: hub.BaseURL(root, "kandy"), DomainAPIKey: sbkandy.DefaultDomainAPIKey,
			DomainAPISecret: sbkandy.DefaultDomainAPISecret, UserID: sbkandy.DefaultUserID, Source: "+15550100100"}
	}
	if !p.Sakari.Enabled {
		p.Sakari.Enabled = true
		p.Sakari.Options = sakari.Options{BaseURL: hub.BaseURL(root, "sakari"), ClientID: sbsakari.DefaultClientID,
			ClientSecret: sbsakari.DefaultClientSecret, AccountID: sbsakari.DefaultAccountID}
	}
	if !p.Conectaline.Enabled {
		p.Conectaline.Enabled = true
		p.Conectaline.Options = conectaline.Options{BaseURL: hub.BaseURL(root, "conectaline"), Email: sbconectaline.DefaultEmail,
			Password: sbconectaline.DefaultPassword, ConfigurationName: sbconectaline.DefaultConfigurationName}
	}
	return cfg
}

// Conn is a queue connection and a client for the same Redis.
type Conn struct {
	Asynq asynq.RedisConnOpt
	Redis redis.UniversalClient
}

// Close closes the Redis client.
func (c *Conn) Close() error { return c.Redis.Close() }

// Connect opens the configured Redis (the embedded address when none is
// configured). It does not start anything.
func Connect(cfg config.Config) (*Conn, error) {
	r := cfg.Redis
	switch {
	case r.URL != "":
		opt, err := asynq.ParseRedisURI(r.URL)
		if err != nil {
			return nil, &config.FieldError{Field: "redis.url", Reason: err.Error()}
		}
		return &Conn{Asynq: opt, Redis: opt.MakeRedisClient().(redis.UniversalClient)}, nil
	case r.Sentinel.MasterName != "":
		opt := asynq.RedisFailoverClientOpt{MasterName: r.Sentinel.MasterName, SentinelAddrs: r.Sentinel.Addrs,
			SentinelPassword: r.Sentinel.Password, Password: r.Password, DB: r.DB}
		return &Conn{Asynq: opt, Redis: opt.MakeRedisClient().(redis.UniversalClient)}, nil
	case len(r.Cluster.Addrs) > 0:
		opt := asynq.RedisClusterClientOpt{Addrs: r.Cluster.Addrs, Password: r.Password}
		return &Conn{Asynq: opt, Redis: opt.MakeRedisClient().(redis.UniversalClient)}, nil
	}
	addr := r.Addr
	if addr == "" {
		addr = cfg.Embedded.RedisAddr
	}
	opt := asynq.RedisClientOpt{Addr: addr, Password: r.Password, DB: r.DB}
	return &Conn{Asynq: opt, Redis: opt.MakeRedisClient().(redis.UniversalClient)}, nil
}

// Rules are the acceptance rules producers apply.
func Rules(cfg config.Config) tasks.Rules {
	return tasks.Rules{Providers: cfg.Providers.Names(), MaxSegments: cfg.Send.MaxSegments, DefaultRegion: cfg.Send.DefaultRegion,
		AllowPrivateCallbacks: cfg.API.AllowPrivateCallbacks}
}

// LedgerOptions are the ledger settings from cfg.
func LedgerOptions(cfg config.Config) ledger.Options {
	// A submitted message stays until its delivery expiry makes it final,
	// then for the retention; one that is never tracked, as long.
	return ledger.Options{Retention: cfg.Send.Retention, SubmittedRetention: cfg.Send.Retention + cfg.Delivery.Expiry}
}

// Secrets returns every credential in cfg, for the log mask.
func Secrets(cfg config.Config) *mask.Secrets {
	s := &mask.Secrets{}
	p := cfg.Providers
	s.Add(cfg.Redis.Password, cfg.Redis.Sentinel.Password, cfg.Delivery.CallbackSecret,
		p.Keccel.Token, p.Kaizala.ApplicationSecret, p.Kaizala.RefreshToken,
		p.Kandy.DomainAPIKey, p.Kandy.DomainAPISecret, p.Sakari.ClientSecret,
		p.Conectaline.APIToken, p.Conectaline.Password)
	s.Add(cfg.API.SigningSecret, cfg.Monitoring.Password, cfg.Monitoring.Token)
	for _, k := range cfg.API.Keys {
		s.Add(k.Key)
	}
	if u, err := url.Parse(cfg.Redis.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			s.Add(pw)
		}
	}
	return s
}

// Senders builds an adapter for every enabled provider. Tokens are shared
// between processes through rdb.
func Senders(cfg config.Config, rdb redis.UniversalClient, log zerolog.Logger) (map[string]providers.Sender, error) {
	deps := func(name string) providers.Deps {
		return providers.Deps{Tokens: &token.RedisStore{Client: rdb}, Log: log.With().Str("provider", name).Logger()}
	}
	out := map[string]providers.Sender{}
	p := cfg.Providers
	add := func(name string, s providers.Sender, err error) error {
		if err != nil {
			return fmt.Errorf("providers.%s: %w", name, err)
		}
		out[name] = s
		return nil
	}
	var errs []error
	if p.Keccel.Enabled {
		c, err := keccel.New(p.Keccel.Options, deps("keccel"))
		errs = append(errs, add("keccel", c, err))
	}
	if p.Kaizala.Enabled {
		c, err := kaizala.New(p.Kaizala.Options, deps("kaizala"))
		errs = append(errs, add("kaizala", c, err))
	}
	if p.Kandy.Enabled {
		c, err := kandy.New(p.Kandy.Options, deps("kandy"))
		errs = append(errs, add("kandy", c, err))
	}
	if p.Sakari.Enabled {
		c, err := sakari.New(p.Sakari.Options, deps("sakari"))
		errs = append(errs, add("sakari", c, err))
	}
	if p.Conectaline.Enabled {
		c, err := conectaline.New(p.Conectaline.Options, deps("conectaline"))
		errs = append(errs, add("conectaline", c, err))
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Guard builds the throttle guard for the enabled providers.
func Guard(cfg config.Config, rdb redis.UniversalClient, log zerolog.Logger) (*throttle.Guard, error) {
	return throttle.New(rdb, throttle.Config{Providers: cfg.Providers.Throttles(), Log: log.With().Str("component", "throttle").Logger()})
}

// CostBy maps each enabled provider to its throttle cost unit.
func CostBy(cfg config.Config) map[string]string {
	out := map[string]string{}
	for name, t := range cfg.Providers.Throttles() {
		out[name] = t.CostBy
	}
	return out
}

// Ping checks Redis is reachable, with a hint when it is the embedded one.
func Ping(ctx context.Context, cfg config.Config, c *Conn) error {
	if err := c.Redis.Ping(ctx).Err(); err != nil {
		if cfg.Redis.Embedded() {
			return fmt.Errorf("no Redis at %s: start the worker first (go run ./cmd/worker) or configure redis.url: %w", cfg.Embedded.RedisAddr, err)
		}
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// ProviderList renders names for messages.
func ProviderList(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
