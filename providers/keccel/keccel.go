// Package keccel is the smsq adapter for Keccel Service Manager, an SMS
// gateway for the DR Congo. Keccel authenticates every call with a static
// API key (field "token") plus a sender name ("from"); sends are JSON POSTs
// to message.asp, delivery reports are pulled from delivery.asp or pushed
// to a callback URL registered with Keccel, and balance.asp reports credit.
package keccel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
)

const (
	// DefaultBaseURL is Keccel's production API root (v2).
	DefaultBaseURL = "https://api.keccel.com/sms/v2"
	// DefaultTimeout bounds one HTTP call when Options.Timeout is zero.
	DefaultTimeout = 30 * time.Second

	name = "keccel"
	// maxBody caps how much of an answer is read: Keccel's answers are a
	// few dozen bytes, anything larger is not one of them.
	maxBody = 1 << 20
)

// Options configure the adapter.
type Options struct {
	// BaseURL is the API root that holds message.asp, delivery.asp and
	// balance.asp, with or without a trailing slash.
	// Default: https://api.keccel.com/sms/v2.
	BaseURL string `koanf:"base_url"`
	// Token is the static API key Keccel issues. Required. It is sent in
	// the JSON body (send) or the query (delivery, balance) and never logged.
	Token string `koanf:"token"`
	// From is the sender name used when a message names none. Required:
	// Keccel wants it on every call, delivery and balance included.
	From string `koanf:"from"`
	// Timeout bounds each HTTP call. Default: 30s.
	Timeout time.Duration `koanf:"timeout"`
}

func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Validate reports every bad field, each named as "keccel.<field>". Zero
// values that have a default are valid.
func (o Options) Validate() error {
	var errs []error
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		switch {
		case err != nil:
			errs = append(errs, errors.New("keccel.base_url: not a URL"))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, errors.New("keccel.base_url: scheme must be http or https"))
		case u.Host == "":
			errs = append(errs, errors.New("keccel.base_url: host missing"))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, errors.New("keccel.base_url: must not carry a query or fragment"))
		}
	}
	if strings.TrimSpace(o.Token) == "" {
		errs = append(errs, errors.New("keccel.token: required"))
	}
	if strings.TrimSpace(o.From) == "" {
		errs = append(errs, errors.New("keccel.from: required (Keccel wants a sender name on every call)"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("keccel.timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// Client talks to Keccel. It is safe for concurrent use.
type Client struct {
	opts        Options
	sendURL     string
	deliveryURL string
	balanceURL  string
	http        *http.Client
	now         func() time.Time
	log         zerolog.Logger
}

var (
	_ providers.Sender         = (*Client)(nil)
	_ providers.StatusPoller   = (*Client)(nil)
	_ providers.BalanceChecker = (*Client)(nil)
)

// New validates o and returns a client. Keccel has no access tokens, so
// d.Tokens is not used: the static key never reaches a shared store.
func New(o Options, d providers.Deps) (*Client, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(o.BaseURL) // Validate parsed it already
	return &Client{
		opts:        o,
		sendURL:     base.JoinPath("message.asp").String(),
		deliveryURL: base.JoinPath("delivery.asp").String(),
		balanceURL:  base.JoinPath("balance.asp").String(),
		http:        d.Client(o.Timeout),
		now:         d.Clock(),
		log:         d.Log.With().Str("provider", name).Logger(),
	}, nil
}

// Name implements providers.Sender.
func (c *Client) Name() string { return name }

type sendRequest struct {
	Token   string `json:"token"`
	To      string `json:"to"`
	From    string `json:"from"`
	Message string `json:"message"`
}

// Send implements providers.Sender: one message, one call.
func (c *Client) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	to, err := wireNumber(m.To)
	if err != nil {
		return providers.Result{}, err
	}
	if strings.TrimSpace(m.Text) == "" {
		return providers.Result{}, providers.Errorf(providers.ClassRequest, name, "send", "message text is empty")
	}
	from := m.From
	if from == "" {
		from = c.opts.From
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	// Keep <, > and & literal: nothing here is embedded in HTML, and a
	// classic-ASP JSON reader is safest with plain text.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sendRequest{Token: c.opts.Token, To: to, From: from, Message: m.Text}); err != nil {
		return providers.Result{}, providers.Errorf(providers.ClassRequest, name, "send", "cannot encode request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sendURL, &body)
	if err != nil {
		return providers.Result{}, providers.Errorf(providers.ClassRequest, name, "send", "cannot build request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	status, b, err := c.do(req, "send")
	if err != nil {
		return providers.Result{}, err
	}
	res, err := decodeSend(status, b, c.opts.Token)
	if err == nil && res.ProviderID == "" {
		// Accepted but uncorrelatable: reporting a failure would make the
		// worker send the SMS twice, so accept and say why reports are lost.
		c.log.Warn().Str("op", "send").Msg("message accepted without a messageID; delivery reports cannot be matched")
	}
	return res, err
}

// Status implements providers.StatusPoller with a GET on delivery.asp.
func (c *Client) Status(ctx context.Context, providerID string) (providers.DeliveryReport, error) {
	id := strings.TrimSpace(providerID)
	if id == "" {
		return providers.DeliveryReport{}, providers.Errorf(providers.ClassRequest, name, "status", "empty provider message id")
	}
	q := url.Values{"from": {c.opts.From}, "token": {c.opts.Token}, "messageid": {id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.deliveryURL+"?"+q.Encode(), nil)
	if err != nil {
		return providers.DeliveryReport{}, providers.Errorf(providers.ClassRequest, name, "status", "cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	status, b, err := c.do(req, "status")
	if err != nil {
		return providers.DeliveryReport{}, err
	}
	return decodeDelivery(status, b, id, c.opts.Token)
}

// Balance implements providers.BalanceChecker with a GET on balance.asp.
// Amount counts SMS credits; Status is lower-cased ("active", "inactive").
func (c *Client) Balance(ctx context.Context) (providers.Balance, error) {
	q := url.Values{"from": {c.opts.From}, "token": {c.opts.Token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.balanceURL+"?"+q.Encode(), nil)
	if err != nil {
		return providers.Balance{}, providers.Errorf(providers.ClassRequest, name, "balance", "cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	status, b, err := c.do(req, "balance")
	if err != nil {
		return providers.Balance{}, err
	}
	bal, expRaw, err := decodeBalance(status, b, c.opts.Token)
	if err == nil && expRaw != "" && bal.Expires.IsZero() {
		// The amount is what callers need; an odd date must not hide it.
		c.log.Warn().Str("op", "balance").Str("expiration", cleanText(expRaw, c.opts.Token)).Msg("unreadable account expiration ignored")
	}
	return bal, err
}

// do runs req and returns the HTTP status and body of an answer that
// StatusError did not already classify (429, 5xx, 401/403).
func (c *Client) do(req *http.Request, op string) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, providers.TransportError(name, op, err)
	}
	defer func() {
		// Drain what is left so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if se := providers.StatusError(name, op, resp, c.now()); se != nil {
		if env, derr := decodeEnvelope(body); derr == nil && env.Description != "" {
			se.Message = cleanText(string(env.Description), c.opts.Token)
		}
		return resp.StatusCode, nil, se
	}
	if rerr != nil {
		return 0, nil, providers.TransportError(name, op, rerr)
	}
	return resp.StatusCode, body, nil
}
