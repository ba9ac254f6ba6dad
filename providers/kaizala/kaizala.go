// Package kaizala sends messages to Microsoft Kaizala groups through the
// connector REST API.
//
// The connector's application id, secret and refresh token buy an access
// token (24 h) from the token service; with it comes the user's endpoint
// URL, where every message is posted. Kaizala may move that endpoint (HTTP
// 308) and may hand out a replacement refresh token; the adapter follows
// both and shares them with every worker through the token store.
//
// Kaizala has no delivery-status pull (its referenceId only confirms that a
// request was accepted) and no balance: Client implements neither
// providers.StatusPoller nor providers.BalanceChecker, nor BatchSender (one
// call already reaches a whole group or a list of its subscribers).
package kaizala

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
)

const (
	name = "kaizala"
	// extraEndpoint is the token.Token.Extra key of the endpoint URL.
	extraEndpoint = "endpoint_url"
	// maxBody caps how much of an answer is read.
	maxBody = 1 << 20
)

// Client is the Kaizala adapter. It is safe for concurrent use.
type Client struct {
	o          Options
	http       *http.Client
	store      token.Store
	now        func() time.Time
	log        zerolog.Logger
	src        *token.Source
	accessKey  string
	refreshKey string
	tokenURL   string

	mu sync.Mutex
	// moved maps an endpoint URL to the one Kaizala redirected it to, so
	// this process stops hitting the old one before its token is renewed.
	moved map[string]string
	// refresh is a replacement refresh token the store failed to keep;
	// until a later write succeeds it is the newest one known.
	refresh string
}

var _ providers.Sender = (*Client)(nil)

// New validates o and returns a Client. It makes no network call.
func New(o Options, d providers.Deps) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	// A copy, so the redirect policy below never changes a shared client:
	// a 308 must reach the adapter (it carries the endpoint's new home) and
	// an automatic follow could carry the secrets to another host.
	hc := *d.Client(o.Timeout)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		o:     o,
		http:  &hc,
		store: d.Store(),
		now:   d.Clock(),
		log:   d.Log.With().Str("provider", name).Logger(),
		// The access token belongs to these exact credentials and service.
		accessKey: token.Key(name, o.BaseURL, o.ApplicationID, o.ApplicationSecret, o.RefreshToken),
		// A replacement refresh token continues the configured one's line:
		// keyed by it too, so configuring a new token starts afresh and two
		// group tokens of one connector never overwrite each other.
		refreshKey: token.Key("kaizala-refresh", o.ApplicationID, o.RefreshToken),
		tokenURL:   joinURL(o.BaseURL, "accessToken"),
		moved:      map[string]string{},
	}
	c.src = token.NewSource(token.Config{
		Key:           c.accessKey,
		Fetch:         c.fetchToken,
		Store:         c.store,
		RefreshBefore: o.RefreshBefore,
		// A fetch may take two calls (a 308 on the token service); no other
		// process may start one meanwhile, or a refresh-token rotation could
		// be raced and lost.
		LockTTL: 2*o.Timeout + 5*time.Second,
		Now:     c.now,
	})
	return c, nil
}

// Name implements providers.Sender.
func (c *Client) Name() string { return name }

// sendBody is the JSON the messages endpoint takes.
type sendBody struct {
	Message              string   `json:"message"`
	SendToAllSubscribers bool     `json:"sendToAllSubscribers,omitempty"`
	Subscribers          []string `json:"subscribers,omitempty"`
}

// Send posts m.Text to the group m.To: to every member, to all subscribers
// of a public group (m.AllSubscribers) or to the listed m.Subscribers.
func (c *Client) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	body, err := encodeSend(m)
	if err != nil {
		return providers.Result{}, err
	}
	path := "v1/groups/" + url.PathEscape(m.To) + "/messages"
	var res providers.Result
	err = c.src.Use(ctx, func(tok token.Token) error {
		var err error
		res, err = c.post(ctx, tok, path, body)
		return err
	})
	if err != nil {
		return providers.Result{}, classify("send", err)
	}
	return res, nil
}

func encodeSend(m providers.Message) ([]byte, error) {
	switch {
	case strings.TrimSpace(m.To) == "":
		return nil, providers.Errorf(providers.ClassRequest, name, "send", "no group id (Message.To)")
	case m.Text == "":
		return nil, providers.Errorf(providers.ClassRequest, name, "send", "empty message")
	case utf8.RuneCountInString(m.Text) > MaxMessageChars:
		return nil, providers.Errorf(providers.ClassRequest, name, "send",
			"message has %d characters, Kaizala takes at most %d", utf8.RuneCountInString(m.Text), MaxMessageChars)
	}
	for i, s := range m.Subscribers {
		if !e164(s) {
			return nil, providers.Errorf(providers.ClassRecipient, name, "send",
				"subscriber %d is not an E.164 number", i+1)
		}
	}
	return json.Marshal(sendBody{Message: m.Text, SendToAllSubscribers: m.AllSubscribers, Subscribers: m.Subscribers})
}

// e164 checks the shape Kaizala wants for subscribers: "+" and digits.
func e164(s string) bool {
	if len(s) < 4 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// post sends one message with tok, following one endpoint move.
func (c *Client) post(ctx context.Context, tok token.Token, path string, body []byte) (providers.Result, error) {
	ep := c.endpoint(tok)
	if ep == "" {
		// Not one of ours (fetchToken always sets it): get a proper one.
		return providers.Result{}, &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: "send",
			Message: "token has no endpoint URL", Err: token.ErrRejected}
	}
	target := joinURL(ep, path)
	a, err := c.do(ctx, "send", http.MethodPost, target, body, func(h http.Header) {
		h["accessToken"] = []string{tok.Value}
		h.Set("Content-Type", "application/json")
	})
	if err != nil {
		return providers.Result{}, err
	}
	if a.status == http.StatusPermanentRedirect {
		next, err := movedEndpoint(target, a.header.Get("Location"), path)
		if err != nil {
			return providers.Result{}, &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: "send",
				HTTPStatus: a.status, Message: "endpoint moved without a usable Location", Err: err}
		}
		c.adoptEndpoint(ctx, tok, ep, next)
		a, err = c.do(ctx, "send", http.MethodPost, joinURL(next, path), body, func(h http.Header) {
			h["accessToken"] = []string{tok.Value}
			h.Set("Content-Type", "application/json")
		})
		if err != nil {
			return providers.Result{}, err
		}
		if a.status == http.StatusPermanentRedirect {
			return providers.Result{}, &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: "send",
				HTTPStatus: a.status, Message: "endpoint moved twice in one call"}
		}
	}
	return decodeSend(a.status, a.header, a.body, c.now())
}

// endpoint is tok's endpoint URL after any moves this process has seen.
func (c *Client) endpoint(tok token.Token) string {
	ep := tok.Extra[extraEndpoint]
	c.mu.Lock()
	defer c.mu.Unlock()
	for range len(c.moved) {
		next, ok := c.moved[ep]
		if !ok {
			break
		}
		ep = next
	}
	return ep
}

// adoptEndpoint remembers that from moved to to, here and in the stored
// token, so that other workers reading the token go straight to the new
// endpoint. Workers already holding the token learn it from their own 308.
func (c *Client) adoptEndpoint(ctx context.Context, tok token.Token, from, to string) {
	if from == to {
		return // a 308 to itself: the retry will say so
	}
	c.mu.Lock()
	delete(c.moved, to) // an endpoint may move back
	c.moved[from] = to
	c.mu.Unlock()
	c.log.Warn().Str("from", hostOf(from)).Str("to", hostOf(to)).Msg("kaizala endpoint moved (308): using the new one")

	cur, ok, err := c.store.Get(ctx, c.accessKey)
	if err != nil || !ok || cur.Value != tok.Value {
		return // gone or already replaced: the replacement has a current endpoint
	}
	var ttl time.Duration
	if !cur.Expiry.IsZero() {
		if ttl = cur.Expiry.Sub(c.now()); ttl <= 0 {
			return
		}
	}
	extra := make(map[string]string, len(cur.Extra)+1)
	for k, v := range cur.Extra {
		extra[k] = v
	}
	extra[extraEndpoint] = to
	cur.Extra = extra
	if err := c.store.Put(ctx, c.accessKey, cur, ttl); err != nil {
		c.log.Warn().Err(err).Msg("kaizala: could not share the moved endpoint through the token store")
	}
}

// fetchToken is the token.FetchFunc: GET {base}/accessToken.
func (c *Client) fetchToken(ctx context.Context) (token.Token, error) {
	rt, err := c.currentRefreshToken(ctx)
	if err != nil {
		return token.Token{}, err
	}
	headers := func(h http.Header) {
		// Spelled as documented; HTTP/1 servers treat names case-blind.
		h["applicationId"] = []string{c.o.ApplicationID}
		h["applicationSecret"] = []string{c.o.ApplicationSecret}
		h["refreshToken"] = []string{rt}
		h.Set("Cache-Control", "no-cache")
	}
	a, err := c.do(ctx, "token", http.MethodGet, c.tokenURL, nil, headers)
	if err != nil {
		return token.Token{}, err
	}
	if a.status == http.StatusPermanentRedirect {
		loc, err := follow(c.tokenURL, a.header.Get("Location"))
		if err != nil {
			return token.Token{}, &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: "token",
				HTTPStatus: a.status, Message: "token service moved without a usable Location", Err: err}
		}
		c.log.Warn().Str("to", hostOf(loc)).Msg("kaizala token service answered 308: following it; consider updating base_url")
		if a, err = c.do(ctx, "token", http.MethodGet, loc, nil, headers); err != nil {
			return token.Token{}, err
		}
	}
	tok, next, err := decodeToken(a.status, a.header, a.body, c.now())
	if err != nil {
		return token.Token{}, err
	}
	if next != "" && next != rt {
		c.keepRefreshToken(ctx, next)
	}
	c.log.Debug().Time("expiry", tok.Expiry).Str("endpoint", hostOf(tok.Extra[extraEndpoint])).Msg("kaizala access token fetched")
	return tok, nil
}

// currentRefreshToken is the newest refresh token known: one this process
// could not store, else the stored replacement, else the configured one.
func (c *Client) currentRefreshToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	rt := c.refresh
	c.mu.Unlock()
	if rt != "" {
		c.keepRefreshToken(ctx, rt) // try again to share it
		return rt, nil
	}
	t, ok, err := c.store.Get(ctx, c.refreshKey)
	if err != nil {
		// Falling back to the configured token could use one Kaizala has
		// already replaced, which would look like bad credentials.
		return "", &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: "token",
			Message: "token store unavailable", Err: err}
	}
	if ok && t.Value != "" {
		return t.Value, nil
	}
	return c.o.RefreshToken, nil
}

// keepRefreshToken stores a replacement refresh token for every worker. The
// old one stops working once a new one exists, so losing it would lock the
// connector out: on failure it is kept in memory and written again later.
func (c *Client) keepRefreshToken(ctx context.Context, rt string) {
	err := c.store.Put(ctx, c.refreshKey, token.Token{Value: rt}, 0)
	c.mu.Lock()
	if err != nil {
		c.refresh = rt
	} else if c.refresh == rt {
		c.refresh = ""
	}
	c.mu.Unlock()
	if err != nil {
		c.log.Error().Err(err).Msg("kaizala: could not store the new refresh token; keeping it in memory")
		return
	}
	c.log.Info().Msg("kaizala issued a new refresh token; stored for every worker")
}

// answer is a fully read HTTP response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c *Client) do(ctx context.Context, op, method, target string, body []byte, set func(http.Header)) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return answer{}, &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, Message: "cannot build request", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	set(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, providers.TransportError(name, op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{}, providers.TransportError(name, op, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// classify makes sure every failure leaving the adapter is a
// *providers.Error; a cancelled caller is passed through unchanged.
func classify(op string, err error) error {
	var pe *providers.Error
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return providers.TransportError(name, op, err)
	}
	// What remains comes from the token store (Redis): transient.
	return &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: op, Message: "token unavailable", Err: err}
}

// joinURL appends path to base, whether or not base ends in "/".
func joinURL(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// follow resolves a redirect Location against the URL that answered it.
// Secrets travel in headers, so a step down from https to http is refused.
func follow(from, location string) (string, error) {
	if strings.TrimSpace(location) == "" {
		return "", errors.New("no Location header")
	}
	base, err := url.Parse(from)
	if err != nil {
		return "", err
	}
	loc, err := url.Parse(strings.TrimSpace(location))
	if err != nil {
		return "", errors.New("unreadable Location header")
	}
	u := base.ResolveReference(loc)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("Location is not an http(s) URL")
	}
	if base.Scheme == "https" && u.Scheme != "https" {
		return "", errors.New("refusing to follow a redirect from https to http")
	}
	u.Fragment = ""
	return u.String(), nil
}

// movedEndpoint reads a 308 from the messages endpoint. Kaizala documents
// that Location carries the new endpoint URL; a Location naming the whole
// resource is accepted as well, by cutting the resource path off it.
func movedEndpoint(from, location, path string) (string, error) {
	u, err := follow(from, location)
	if err != nil {
		return "", err
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	pu.RawQuery = ""
	p := pu.EscapedPath()
	if rest, ok := strings.CutSuffix(strings.TrimRight(p, "/"), "/"+path); ok {
		p = rest
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	pu.RawPath = ""
	pu.Path, err = url.PathUnescape(p)
	if err != nil {
		return "", err
	}
	return pu.String(), nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}
