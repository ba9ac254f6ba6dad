package kaizala

import (
	"errors"
	"net/url"
	"time"
)

const (
	// DefaultBaseURL is Kaizala's token service. Messages do not go here but
	// to the endpoint URL the token service hands out with each token.
	DefaultBaseURL = "https://api.kaiza.la/v1"
	// DefaultRefreshBefore is how early an access token is replaced; the
	// token lives 24 h and known clients renew about ten minutes ahead.
	DefaultRefreshBefore = 10 * time.Minute
	// DefaultTimeout is the per-call HTTP timeout Kaizala's docs suggest.
	DefaultTimeout = time.Minute
	// MaxMessageChars is the longest text one message may carry.
	MaxMessageChars = 4000

	// maxRefreshBefore keeps refresh_before well under the 24 h token life:
	// a larger value would make every call fetch a new token.
	maxRefreshBefore = 12 * time.Hour
)

// Options configure the Kaizala adapter.
type Options struct {
	// BaseURL is the token service, with or without a trailing slash.
	// Default: DefaultBaseURL.
	BaseURL string `koanf:"base_url"`
	// ApplicationID is the connector's id (portal: Extension → Connectors).
	// Required.
	ApplicationID string `koanf:"application_id"`
	// ApplicationSecret is the connector's secret. Required.
	ApplicationSecret string `koanf:"application_secret"`
	// RefreshToken is the group or user token made when the connector was
	// added to a group. Required. When Kaizala hands out a replacement, the
	// replacement is kept in the token store and used instead of this one.
	RefreshToken string `koanf:"refresh_token"`
	// RefreshBefore is how long before an access token's expiry it is
	// replaced. Default (0): 10m. At most 12h.
	RefreshBefore time.Duration `koanf:"refresh_before"`
	// Timeout bounds each HTTP call. Default (0): 60s.
	Timeout time.Duration `koanf:"timeout"`
}

func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.RefreshBefore == 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Validate reports every bad field, each named as "kaizala.field: reason".
// Zero values that have a default are valid.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("kaizala.base_url: must be an absolute http or https URL"))
	}
	for _, f := range []struct{ name, value string }{
		{"application_id", o.ApplicationID},
		{"application_secret", o.ApplicationSecret},
		{"refresh_token", o.RefreshToken},
	} {
		switch {
		case f.value == "":
			errs = append(errs, errors.New("kaizala."+f.name+": required"))
		case !headerSafe(f.value):
			// These travel as HTTP header values; say so now rather than
			// failing every call later.
			errs = append(errs, errors.New("kaizala."+f.name+": must not contain control characters"))
		}
	}
	if o.RefreshBefore < 0 || o.RefreshBefore > maxRefreshBefore {
		errs = append(errs, errors.New("kaizala.refresh_before: must be between 0 and 12h (access tokens live 24h)"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("kaizala.timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
