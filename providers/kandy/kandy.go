// Package kandy is the smsq adapter for the legacy Kandy.io REST API (v1.2).
//
// Sending an SMS with Kandy takes three calls: a user access token (UAT)
// issued for the domain's API key and secret, the id of a device registered
// to that user, and then one POST per message to devices/smss. The UAT and
// the device id are fetched together, once, and shared through a
// token.Store; a refused UAT (HTTP 401/403, or a status that says the key or
// device is unknown) is replaced once.
//
// Kandy documents no bulk endpoint, no SMS delivery report and no balance,
// so the Client implements providers.Sender only. Kandy returns no message
// id either: Result.ProviderID is always empty and smsq keeps its own id.
//
// Every Kandy call carries its key in the query string. The request URL is
// therefore never formatted into an error or a log line.
package kandy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
)

const (
	name = "kandy"

	// DefaultBaseURL is Kandy's production API root.
	DefaultBaseURL = "https://api.kandy.io/v1.2/"

	// extraDevice is where the device id travels with the token.
	extraDevice = "device_id"

	opToken   = "token"
	opDevices = "devices"
	opSend    = "send"
)

// Options configure a Client.
type Options struct {
	// BaseURL is the API root, version included, with or without a trailing
	// slash. Default: DefaultBaseURL.
	BaseURL string `koanf:"base_url"`
	// DomainAPIKey is the project's ("domain's") API key. Required.
	DomainAPIKey string `koanf:"domain_api_key"`
	// DomainAPISecret is the project's API secret. Required.
	DomainAPISecret string `koanf:"domain_api_secret"`
	// UserID is the Kandy user the messages are sent as, without "@domain"
	// (a suffix is dropped, as Kandy's own SDK does). Required.
	UserID string `koanf:"user_id"`
	// Source is the sender phone number in E.164. Default: none; a message
	// without From is then refused.
	Source string `koanf:"source"`
	// DeviceID pins the device messages are sent from. Default: empty, the
	// user's first registered device is looked up with each new token.
	DeviceID string `koanf:"device_id"`
	// TokenTTL is how long a user access token is trusted before it is
	// replaced ahead of time. Default: 0, Kandy documents no lifetime, so a
	// token is used until Kandy refuses it.
	TokenTTL time.Duration `koanf:"token_ttl"`
	// Timeout bounds each HTTP call. Default: 30s.
	Timeout time.Duration `koanf:"timeout"`
}

// Validate reports every bad field, named as "kandy.field: reason".
func (o Options) Validate() error {
	var errs []error
	bad := func(field, reason string) { errs = append(errs, fmt.Errorf("kandy.%s: %s", field, reason)) }
	if o.BaseURL != "" {
		if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("base_url", "must be an absolute http(s) URL")
		} else if u.RawQuery != "" || u.Fragment != "" {
			bad("base_url", "must not carry a query or fragment")
		}
	}
	if strings.TrimSpace(o.DomainAPIKey) == "" {
		bad("domain_api_key", "required")
	}
	if strings.TrimSpace(o.DomainAPISecret) == "" {
		bad("domain_api_secret", "required")
	}
	if strings.TrimSpace(bareUser(o.UserID)) == "" {
		bad("user_id", "required")
	}
	if o.Source != "" {
		if _, ok := wireNumber(o.Source); !ok {
			bad("source", "must be a phone number in E.164, e.g. +14155550100")
		}
	}
	if strings.ContainsAny(o.DeviceID, " \t\r\n") {
		bad("device_id", "must not contain spaces")
	}
	if o.TokenTTL < 0 {
		bad("token_ttl", "must not be negative")
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
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	o.UserID = bareUser(o.UserID)
	return o
}

// bareUser drops an "@domain" suffix from a user id.
func bareUser(id string) string {
	if i := strings.IndexByte(id, '@'); i >= 0 {
		return id[:i]
	}
	return id
}

// Client sends SMS through Kandy. It is safe for concurrent use.
type Client struct {
	opts   Options
	base   *url.URL
	http   *http.Client
	now    func() time.Time
	log    zerolog.Logger
	tokens *token.Source
	// source is Options.Source in wire format ("" when unset).
	source string
}

var _ providers.Sender = (*Client)(nil)

// New validates o and returns a Client.
func New(o Options, d providers.Deps) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	base, err := url.Parse(o.BaseURL)
	if err != nil { // unreachable after Validate, kept for safety
		return nil, errors.New("kandy.base_url: must be an absolute http(s) URL")
	}
	c := &Client{
		opts: o,
		base: base,
		http: d.Client(o.Timeout),
		now:  d.Clock(),
		log:  d.Log.With().Str("provider", name).Logger(),
	}
	c.source, _ = wireNumber(o.Source)
	c.tokens = token.NewSource(token.Config{
		// The base URL and device override are part of the key: a token (and
		// the device cached with it) belongs to one server and one setup.
		Key:           token.Key(name, base.String(), o.DomainAPIKey, o.DomainAPISecret, o.UserID, o.DeviceID),
		Fetch:         c.fetchToken,
		Store:         d.Store(),
		RefreshBefore: refreshBefore(o.TokenTTL),
		Now:           c.now,
	})
	return c, nil
}

// refreshBefore replaces a token when a tenth of its assumed lifetime (at
// most 5 minutes) is left. It is set explicitly so that the window follows
// token_ttl whatever token.Config's default is.
func refreshBefore(ttl time.Duration) time.Duration {
	return min(ttl/10, 5*time.Minute)
}

// Name implements providers.Sender.
func (c *Client) Name() string { return name }

// smsRequest is the devices/smss body.
type smsRequest struct {
	Message smsMessage `json:"message"`
}

type smsMessage struct {
	Source      string  `json:"source"`
	Destination string  `json:"destination"`
	Message     smsText `json:"message"`
}

type smsText struct {
	Text string `json:"text"`
}

// Send implements providers.Sender. Kandy returns no message id, so the
// Result carries only the provider's status message.
func (c *Client) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	to, ok := wireNumber(m.To)
	if !ok {
		return providers.Result{}, providers.Errorf(providers.ClassRecipient, name, opSend, "destination is not an E.164 phone number")
	}
	from := c.source
	if m.From != "" {
		if from, ok = wireNumber(m.From); !ok {
			return providers.Result{}, providers.Errorf(providers.ClassRequest, name, opSend, "sender must be an E.164 phone number")
		}
	}
	if from == "" {
		return providers.Result{}, providers.Errorf(providers.ClassRequest, name, opSend, "no sender number: set kandy.source or Message.From")
	}
	body, err := json.Marshal(smsRequest{Message: smsMessage{Source: from, Destination: to, Message: smsText{Text: m.Text}}})
	if err != nil {
		return providers.Result{}, &providers.Error{Class: providers.ClassRequest, Provider: name, Op: opSend, Message: "cannot encode message", Err: err}
	}
	var res providers.Result
	err = c.tokens.Use(ctx, func(tok token.Token) error {
		device := tok.Extra[extraDevice]
		if device == "" {
			// A token cached without its device (another version wrote it):
			// have it fetched again, device included.
			return &providers.Error{Class: providers.ClassRequest, Provider: name, Op: opSend,
				Message: "no device id cached with the token", Err: token.ErrRejected}
		}
		q := url.Values{"key": {tok.Value}, "device_id": {device}}
		env, err := c.call(ctx, opSend, http.MethodPost, "devices/smss", q, body, tok.Value, m.To, from)
		if err != nil {
			return err
		}
		res = providers.Result{Status: env.Message}
		return nil
	})
	return res, c.classify(opSend, err)
}

// classify makes sure every failure leaving the adapter is a
// *providers.Error, except a cancelled caller context.
func (c *Client) classify(op string, err error) error {
	var pe *providers.Error
	if err == nil || errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return providers.TransportError(name, op, err)
	}
	// What is left comes from the token store (Redis down, …).
	return &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: opToken, Message: "token cache unavailable", Err: err}
}

// fetchToken gets a user access token and, unless Options.DeviceID pins
// one, the id of the user's first device.
func (c *Client) fetchToken(ctx context.Context) (token.Token, error) {
	q := url.Values{
		"key":               {c.opts.DomainAPIKey},
		"domain_api_secret": {c.opts.DomainAPISecret},
		"user_id":           {c.opts.UserID},
	}
	env, err := c.call(ctx, opToken, http.MethodGet, "domains/users/accesstokens", q, nil)
	if err != nil {
		return token.Token{}, err
	}
	var r struct {
		UserAccessToken string `json:"user_access_token"`
	}
	if err := decodeResult(env.Result, &r); err != nil || r.UserAccessToken == "" {
		return token.Token{}, providers.Malformed(name, opToken, http.StatusOK, errors.New("no user_access_token in result"))
	}
	tok := token.Token{Value: r.UserAccessToken}
	if c.opts.TokenTTL > 0 {
		tok.Expiry = c.now().Add(c.opts.TokenTTL)
	}
	device := c.opts.DeviceID
	if device == "" {
		if device, err = c.lookupDevice(ctx, tok.Value); err != nil {
			return token.Token{}, err
		}
	}
	tok.Extra = map[string]string{extraDevice: device}
	c.log.Debug().Bool("device_looked_up", c.opts.DeviceID == "").Msg("kandy user access token issued")
	return tok, nil
}

// lookupDevice returns the first device registered to the token's user.
// Kandy's own SDKs read `id`; the documented shape says `device_id`: both
// are read, `id` first.
func (c *Client) lookupDevice(ctx context.Context, uat string) (string, error) {
	env, err := c.call(ctx, opDevices, http.MethodGet, "users/devices", url.Values{"key": {uat}}, nil, uat)
	if err != nil {
		return "", err
	}
	var r struct {
		Devices []struct {
			ID       string `json:"id"`
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	if err := decodeResult(env.Result, &r); err != nil {
		return "", providers.Malformed(name, opDevices, http.StatusOK, err)
	}
	for _, d := range r.Devices {
		if d.ID != "" {
			return d.ID, nil
		}
		if d.DeviceID != "" {
			return d.DeviceID, nil
		}
	}
	return "", providers.Errorf(providers.ClassRequest, name, opDevices,
		"the user has no registered device: register one (POST users/devices) or set kandy.device_id")
}

// Bodies larger than this are not Kandy answers; reading stops there.
const maxBody = 1 << 20

// call performs one Kandy request and returns its success envelope, or a
// classified error. extra lists values (the token, phone numbers) that must
// not appear in error messages besides the configured credentials.
func (c *Client) call(ctx context.Context, op, method, path string, q url.Values, body []byte, extra ...string) (envelope, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return envelope{}, providers.TransportError(name, op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// TransportError strips the query (and so the key) from *url.Error.
		return envelope{}, providers.TransportError(name, op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return envelope{}, providers.TransportError(name, op, err)
	}
	sc := scrubber(append([]string{c.opts.DomainAPIKey, c.opts.DomainAPISecret}, extra...))
	return interpret(op, resp.StatusCode, resp.Header, raw, c.now(), sc)
}
