// Package sakari is the adapter for the Sakari SMS API (api.sakari.io, v1):
// OAuth2 client-credentials tokens (JWT), one send call for many contacts,
// message fetch for delivery status, account balance, and message-status
// webhooks.
package sakari

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

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
)

// Name is the provider's config name.
const Name = "sakari"

// maxBody bounds how much of an answer is read: a 10000-contact send answer
// with full message objects stays well under it.
const maxBody = 32 << 20

// defaultTokenLife is assumed when a token carries no readable exp claim.
const defaultTokenLife = time.Hour

// Client talks to one Sakari account. It is safe for concurrent use.
type Client struct {
	root     string // host root, no trailing slash
	account  string // path-escaped account id
	maxBatch int
	http     *http.Client
	tokens   *token.Source
	now      func() time.Time
	log      zerolog.Logger

	clientID, clientSecret string
}

var (
	_ providers.Sender         = (*Client)(nil)
	_ providers.BatchSender    = (*Client)(nil)
	_ providers.StatusPoller   = (*Client)(nil)
	_ providers.BalanceChecker = (*Client)(nil)
)

// New validates o and returns a Client.
func New(o Options, d providers.Deps) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	c := &Client{
		root:         apiRoot(o.BaseURL),
		account:      url.PathEscape(o.AccountID),
		maxBatch:     o.MaxBatch,
		http:         d.Client(o.Timeout),
		now:          d.Clock(),
		log:          d.Log.With().Str("provider", Name).Logger(),
		clientID:     o.ClientID,
		clientSecret: o.ClientSecret,
	}
	c.tokens = token.NewSource(token.Config{
		// The host is part of the key so sandbox and production tokens for
		// the same client id never mix.
		Key:   token.Key(Name, c.root, o.ClientID, o.ClientSecret),
		Fetch: c.fetchToken,
		Store: d.Store(),
		Now:   c.now,
	})
	return c, nil
}

// Name implements providers.Sender.
func (c *Client) Name() string { return Name }

// MaxBatch implements providers.BatchSender.
func (c *Client) MaxBatch() int { return c.maxBatch }

func (c *Client) accountURL(parts ...string) string {
	u := c.root + "/v1/accounts/" + c.account
	for _, p := range parts {
		u += "/" + p
	}
	return u
}

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// fetchToken asks for a new access token. Its failures are never
// token.ErrRejected: a refused login is a configuration problem.
func (c *Client) fetchToken(ctx context.Context) (token.Token, error) {
	const op = "token"
	body, err := json.Marshal(tokenRequest{GrantType: "client_credentials", ClientID: c.clientID, ClientSecret: c.clientSecret})
	if err != nil {
		return token.Token{}, &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: op, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.root+"/oauth2/token", bytes.NewReader(body))
	if err != nil {
		return token.Token{}, &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	status, hdr, raw, err := c.roundTrip(req, op)
	if err != nil {
		return token.Token{}, err
	}
	if status < 200 || status > 299 {
		e := c.statusError(op, status, hdr, raw)
		// A refused login is final for this attempt: it must not look like a
		// refused token, which token.Source would answer with another login.
		e.Err = nil
		// Any other refusal of a login (400 invalid_client, 404 ACCT-…) is
		// bad configuration too, not something a retry fixes.
		if e.Class == providers.ClassRequest || e.Class == providers.ClassRecipient {
			e.Class = providers.ClassAuth
		}
		return token.Token{}, e
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return token.Token{}, providers.Malformed(Name, op, status, err)
	}
	if tr.AccessToken == "" {
		return token.Token{}, providers.Malformed(Name, op, status, errors.New("no access_token"))
	}
	now := c.now()
	exp, ok := jwtExpiry(tr.AccessToken)
	if !ok {
		exp = now.Add(defaultTokenLife)
	}
	// token.Source replaces it once 90 % of its life is gone.
	t := token.Token{Value: tr.AccessToken, Expiry: exp, Issued: now}
	c.log.Debug().Time("expires", exp).Bool("exp_claim", ok).Msg("access token fetched")
	return t, nil
}

// jwtExpiry reads the exp claim (seconds since the epoch) without checking
// the signature: we are not the audience that verifies it, we only need to
// know when to ask again.
func jwtExpiry(tok string) (time.Time, bool) {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		return time.Time{}, false
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}, false
	}
	return exp.Time, true
}

// call performs one authenticated API call. in, when not nil, is sent as the
// JSON body. It returns the status and body of any 2xx answer, and a
// *providers.Error for everything else; a 401 wraps token.ErrRejected so
// that the token is fetched again and the call repeated once.
func (c *Client) call(ctx context.Context, op, method, target string, in any) (int, []byte, error) {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: op, Err: err}
		}
		payload = b
	}
	var (
		status int
		raw    []byte
	)
	err := c.tokens.Use(ctx, func(tok token.Token) error {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: op, Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok.Value)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		st, hdr, b, err := c.roundTrip(req, op)
		if err != nil {
			return err
		}
		if st < 200 || st > 299 {
			return c.statusError(op, st, hdr, b)
		}
		status, raw = st, b
		return nil
	})
	if err != nil {
		return status, nil, err
	}
	return status, raw, nil
}

// roundTrip sends req and reads the whole answer, draining and closing it.
func (c *Client) roundTrip(req *http.Request, op string) (int, http.Header, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, providers.TransportError(Name, op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		// Headers arrived but the body broke off: as good as no answer.
		return 0, nil, nil, providers.TransportError(Name, op, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// apiError is Sakari's error object. The request-level envelope calls the
// text "message", per-contact errors call it "description"; a bare string is
// accepted too.
type apiError struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Description string `json:"description"`
}

func (e *apiError) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = apiError{Message: s}
		return nil
	}
	type plain apiError
	var p plain
	if len(b) > 0 && b[0] != '{' {
		return nil // null, a number…: no usable detail
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = apiError(p)
	return nil
}

func (e *apiError) text() string {
	if e == nil {
		return ""
	}
	if e.Message != "" {
		return e.Message
	}
	return e.Description
}

type envelope struct {
	Success *bool     `json:"success"`
	Error   *apiError `json:"error"`
}

// failed reports whether a 2xx body nonetheless says success:false.
func (e envelope) failed() bool { return e.Success != nil && !*e.Success }

// statusError classifies a non-2xx answer: first by the statuses whose
// meaning is fixed (429, 5xx, 401), then by Sakari's own error code.
func (c *Client) statusError(op string, status int, hdr http.Header, body []byte) *providers.Error {
	var env envelope
	_ = json.Unmarshal(body, &env) // best effort: proxies answer HTML
	code, msg := "", ""
	if env.Error != nil {
		code, msg = strings.TrimSpace(env.Error.Code), redact(env.Error.text())
	}
	if status == http.StatusUnauthorized {
		// Sakari refused the token (expired or revoked): ErrRejected makes
		// token.Source fetch a new one and repeat the call once.
		return &providers.Error{Class: providers.ClassAuth, Provider: Name, Op: op, HTTPStatus: status,
			Code: code, Message: msg, Err: token.ErrRejected}
	}
	resp := &http.Response{StatusCode: status, Header: hdr}
	if e := providers.StatusError(Name, op, resp, c.now()); e != nil && e.Class != providers.ClassAuth {
		e.Code, e.Message = code, msg
		return e
	}
	e := &providers.Error{Class: classify(code, status), Provider: Name, Op: op, HTTPStatus: status, Code: code, Message: msg}
	if e.Message == "" && code == "" {
		e.Message = "unexpected answer"
	}
	return e
}

// classify maps a Sakari error code (and, without one, the HTTP status) to
// a class for answers that are neither 429, 5xx nor 401.
func classify(code string, status int) providers.Class {
	switch {
	case strings.HasPrefix(code, "CONT-"):
		return providers.ClassRecipient
	case code == "ACCT-008", code == "ACCT-016", strings.HasPrefix(code, "AUTH-"):
		return providers.ClassAuth
	case code != "":
		// ACCT-006 no credit, MSG-007 too long, CONV-001…: fix the request.
		return providers.ClassRequest
	case status == http.StatusForbidden:
		return providers.ClassAuth
	case status >= 400 && status < 500:
		return providers.ClassRequest
	case status >= 300 && status < 400:
		// Redirects are not followed (they would drop the token): a wrong
		// base URL, which retrying will not fix.
		return providers.ClassRequest
	}
	return providers.ClassRetryable
}

// redact masks digit runs long enough to be phone numbers in a provider's
// own error text, keeping the last two digits to help debugging.
func redact(s string) string {
	var b strings.Builder
	run := 0
	flush := func(digits string) {
		if len(digits) >= 6 {
			b.WriteString("***" + digits[len(digits)-2:])
		} else {
			b.WriteString(digits)
		}
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run > 0 {
			flush(s[start:i])
			run = 0
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	out := b.String()
	if r := []rune(out); len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return out
}
