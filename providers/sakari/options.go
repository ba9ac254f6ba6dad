package sakari

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultBaseURL is Sakari's production API host.
	DefaultBaseURL = "https://api.sakari.io"
	// DefaultMaxBatch is how many contacts one send call carries by default.
	// Sakari documents no cap; 100 keeps one call's answer small and matches
	// the only (unverified) figure seen in third-party material.
	DefaultMaxBatch = 100
	// MaxBatchLimit is the largest MaxBatch Validate accepts.
	MaxBatchLimit = 10000
	// DefaultTimeout bounds one HTTP call.
	DefaultTimeout = 30 * time.Second
)

// Options configure a Client.
type Options struct {
	// BaseURL is the API host, with or without a trailing slash (a trailing
	// "/v1", as the older spec wrote the server, is also accepted). Default:
	// https://api.sakari.io.
	BaseURL string `koanf:"base_url"`
	// ClientID is the API client id from hub.sakari.io settings. Required.
	ClientID string `koanf:"client_id"`
	// ClientSecret goes with ClientID. Required; never logged.
	ClientSecret string `koanf:"client_secret"`
	// AccountID is the account messages are sent from. Required.
	AccountID string `koanf:"account_id"`
	// MaxBatch is the most contacts one send call carries, 1..10000.
	// Default (0): 100.
	MaxBatch int `koanf:"max_batch"`
	// Timeout bounds each HTTP call. Default (0): 30s.
	Timeout time.Duration `koanf:"timeout"`
}

// Validate reports every bad field, naming each as "sakari.field".
func (o Options) Validate() error {
	var errs []error
	bad := func(field, reason string) { errs = append(errs, errors.New("sakari."+field+": "+reason)) }
	if o.BaseURL != "" {
		// The value itself is not echoed: a URL may carry credentials.
		u, err := url.Parse(o.BaseURL)
		switch {
		case err != nil:
			bad("base_url", "not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("base_url", "scheme must be http or https")
		case u.Host == "":
			bad("base_url", "host missing")
		case u.RawQuery != "" || u.Fragment != "":
			bad("base_url", "must not have a query or fragment")
		}
	}
	if strings.TrimSpace(o.ClientID) == "" {
		bad("client_id", "required")
	}
	if strings.TrimSpace(o.ClientSecret) == "" {
		bad("client_secret", "required")
	}
	switch {
	case strings.TrimSpace(o.AccountID) == "":
		bad("account_id", "required")
	case strings.ContainsAny(o.AccountID, "/?#% "):
		bad("account_id", "must be a bare id")
	}
	if o.MaxBatch < 0 || o.MaxBatch > MaxBatchLimit {
		bad("max_batch", "must be between 1 and 10000 (0 for the default 100)")
	}
	if o.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// apiRoot turns the configured base URL into the host root every path is
// appended to: no trailing slash, and no "/v1" (the token endpoint lives
// outside it).
func apiRoot(base string) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1")
	return strings.TrimRight(base, "/")
}
