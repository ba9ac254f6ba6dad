package conectaline

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

// Defaults and limits from the Conectaline WebSMS documentation.
const (
	// DefaultBaseURL is the production API root, version included.
	DefaultBaseURL = "https://apisms.conectaline.com/v1"
	// MultipleCap is the documented maximum of recipients in one
	// push/multiple call.
	MultipleCap = 1000
	// DefaultSimpleMax is how many numbers go in one push/simple call when
	// Options.SimpleMax is zero. The documents give no cap for push/simple;
	// the push/multiple one is reused as a prudent bound.
	DefaultSimpleMax = 1000
	// DefaultTimeout bounds each HTTP call when Options.Timeout is zero.
	DefaultTimeout = 30 * time.Second
)

// Options configure a Client. Exactly one credential mode must be set:
// APIToken (a fixed token, sent as form field api_token on every call) or
// Email and Password (a temporary token obtained from /login and sent as
// "Authorization: Bearer").
type Options struct {
	// BaseURL is the API root including the version segment, with or
	// without a trailing slash. Default: DefaultBaseURL.
	BaseURL string `koanf:"base_url"`
	// APIToken is the fixed token of an API-type user created in the panel.
	// Default: empty (then Email and Password are required).
	APIToken string `koanf:"api_token"`
	// Email is the panel login used to obtain temporary tokens. Default:
	// empty (then APIToken is required).
	Email string `koanf:"email"`
	// Password goes with Email. Default: empty.
	Password string `koanf:"password"`
	// ConfigurationName is the send configuration, created in the panel,
	// that every push names (it decides the sender). Required; no default.
	ConfigurationName string `koanf:"configuration_name"`
	// MaxBatch is the most messages one SendBatch call is handed, and the
	// most entries one push/multiple call carries. Must be 1..1000 (the
	// documented push/multiple cap). Default (0): 1000.
	MaxBatch int `koanf:"max_batch"`
	// SimpleMax is the most numbers one push/simple call carries when a
	// batch shares one text. Default (0): 1000.
	SimpleMax int `koanf:"simple_max"`
	// Timeout bounds each HTTP call. Default (0): 30s.
	Timeout time.Duration `koanf:"timeout"`
}

// loginMode reports whether the options use temporary tokens.
func (o Options) loginMode() bool { return o.APIToken == "" }

// withDefaults fills the zero fields that have defaults.
func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = MultipleCap
	}
	if o.SimpleMax == 0 {
		o.SimpleMax = DefaultSimpleMax
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Validate reports every bad field, each named as conectaline.<field>.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(field, reason string) {
		errs = append(errs, errors.New("conectaline."+field+": "+reason))
	}

	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "must be an absolute http(s) URL")
	}

	hasLogin := o.Email != "" || o.Password != ""
	switch {
	case o.APIToken != "" && hasLogin:
		bad("api_token", "conflicts with email/password: set a fixed token or a login, not both")
	case o.APIToken == "" && !hasLogin:
		bad("api_token", "required unless email and password are set")
	case o.APIToken == "" && o.Email == "":
		bad("email", "required with password")
	case o.APIToken == "" && o.Password == "":
		bad("password", "required with email")
	}
	if strings.TrimSpace(o.ConfigurationName) == "" {
		bad("configuration_name", "required (the send configuration named in the panel)")
	}
	if o.MaxBatch < 1 || o.MaxBatch > MultipleCap {
		bad("max_batch", "must be between 1 and 1000")
	}
	if o.SimpleMax < 1 {
		bad("simple_max", "must be at least 1")
	}
	if o.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}
