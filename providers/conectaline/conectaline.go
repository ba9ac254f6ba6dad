// Package conectaline is the adapter for Conectaline WebSMS, a Spanish SMS
// provider with a form-encoded HTTP API (apisms.conectaline.com/v1).
//
// It sends one text to many numbers with push/simple and personalised texts
// with push/multiple (at most 1000 per call, as documented), authenticating
// with either a fixed api_token or a temporary token from /login. It can
// also create provider-paced campaigns (push/campaigns).
//
// Conectaline documents no delivery-status endpoint, no delivery callbacks
// and no balance endpoint, so the Client implements neither
// providers.StatusPoller nor providers.BalanceChecker: sends are
// fire-and-forget. The contents of a successful answer's "data" member are
// undocumented too; when it carries an "id", that id is surfaced as the
// ProviderID.
package conectaline

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
	"github.com/smsq/smsq/providers/token"
)

const (
	provider = "conectaline"

	opLogin    = "login"
	opSend     = "send"
	opCampaign = "campaign"

	pathLogin     = "/login"
	pathSimple    = "/push/simple"
	pathMultiple  = "/push/multiple"
	pathCampaigns = "/push/campaigns"

	// maxAnswer bounds how much of an answer is read: the documented
	// answers are small JSON objects.
	maxAnswer = 1 << 20
)

// Client talks to one Conectaline account. It is safe for concurrent use.
type Client struct {
	o    Options
	base string
	http *http.Client
	now  func() time.Time
	log  zerolog.Logger
	// src hands out temporary tokens; nil in fixed-token mode.
	src *token.Source
}

var (
	_ providers.Sender      = (*Client)(nil)
	_ providers.BatchSender = (*Client)(nil)
)

// New validates o and returns a Client using d's HTTP client, token store,
// clock and logger.
func New(o Options, d providers.Deps) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	c := &Client{
		o:    o,
		base: strings.TrimRight(o.BaseURL, "/"),
		http: d.Client(o.Timeout),
		now:  d.Clock(),
		log:  d.Log,
	}
	if o.loginMode() {
		c.src = token.NewSource(token.Config{
			// The host is part of the key: the same login on the sandbox and
			// on production yields tokens that are not interchangeable.
			Key:   token.Key(provider, c.base, o.Email, o.Password),
			Fetch: c.login,
			Store: d.Store(),
			Now:   c.now,
		})
	}
	return c, nil
}

// Name implements providers.Sender.
func (c *Client) Name() string { return provider }

// MaxBatch implements providers.BatchSender.
func (c *Client) MaxBatch() int { return c.o.MaxBatch }

// Send implements providers.Sender with a one-number push/simple.
func (c *Client) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	num, err := wireNumber(m.To)
	if err != nil {
		return providers.Result{}, err
	}
	if m.Text == "" {
		return providers.Result{}, emptyText()
	}
	ans, err := c.pushSimple(ctx, m.Text, []string{num})
	if err != nil {
		return providers.Result{}, err
	}
	if ans.rejected[num] {
		return providers.Result{}, rejectedNumber()
	}
	return providers.Result{ProviderID: ans.id}, nil
}

// SendBatch implements providers.BatchSender. A batch whose messages all
// share one text goes out as push/simple calls of at most SimpleMax numbers;
// any other batch as push/multiple calls of at most MaxBatch (≤ 1000)
// entries. A slice longer than that is split, so no call ever exceeds the
// documented cap.
//
// When a call fails for a reason that concerns only its own messages (an
// invalid number, a refused request) those messages get the error and the
// next call goes ahead. Any other failure (network, 5xx, 429, credentials)
// stops the batch: if nothing was accepted yet the whole batch fails,
// otherwise the unsent messages carry that error.
//
// The ProviderID of each accepted message is the id of the call that carried
// it (when the answer has one): Conectaline gives no per-message ids.
func (c *Client) SendBatch(ctx context.Context, ms []providers.Message) ([]providers.BatchResult, error) {
	res := make([]providers.BatchResult, len(ms))
	nums := make([]string, len(ms))
	todo := make([]int, 0, len(ms))
	for i, m := range ms {
		n, err := wireNumber(m.To)
		switch {
		case err != nil:
			res[i].Err = err
		case m.Text == "":
			res[i].Err = emptyText()
		default:
			nums[i] = n
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return res, nil
	}

	same := true
	for _, i := range todo[1:] {
		if ms[i].Text != ms[todo[0]].Text {
			same = false
			break
		}
	}
	size := min(c.o.MaxBatch, MultipleCap)
	if same {
		size = c.o.SimpleMax
	}

	accepted := false
	for start := 0; start < len(todo); start += size {
		chunk := todo[start:min(start+size, len(todo))]
		var (
			ans answer
			err error
		)
		if same {
			numbers := make([]string, len(chunk))
			for k, i := range chunk {
				numbers[k] = nums[i]
			}
			ans, err = c.pushSimple(ctx, ms[chunk[0]].Text, numbers)
		} else {
			entries := make([]multipleEntry, len(chunk))
			for k, i := range chunk {
				entries[k] = multipleEntry{Number: nums[i], Message: ms[i].Text}
			}
			ans, err = c.pushMultiple(ctx, entries)
		}
		if err != nil {
			if cl := providers.ClassOf(err); cl == providers.ClassRecipient || cl == providers.ClassRequest {
				// A whole-call recipient refusal means every number in it
				// was refused (mixed calls list the bad ones in the answer).
				for _, i := range chunk {
					res[i].Err = err
				}
				continue
			}
			if !accepted {
				return nil, err
			}
			for _, i := range todo[start:] {
				res[i].Err = err
			}
			break
		}
		accepted = true
		for _, i := range chunk {
			if ans.rejected[nums[i]] {
				res[i].Err = rejectedNumber()
			} else {
				res[i].Result = providers.Result{ProviderID: ans.id}
			}
		}
	}
	return res, nil
}

// multipleEntry is one element of push/multiple's "messages" JSON list.
type multipleEntry struct {
	Number  string `json:"number"`
	Message string `json:"message"`
}

func (c *Client) pushSimple(ctx context.Context, text string, numbers []string) (answer, error) {
	form := url.Values{
		"configuration_name": {c.o.ConfigurationName},
		"message":            {text},
		// Comma-separated without spaces, as the documents require.
		"numbers": {strings.Join(numbers, ",")},
	}
	data, err := c.post(ctx, opSend, pathSimple, form)
	if err != nil {
		return answer{}, err
	}
	return decodeAnswer(data), nil
}

func (c *Client) pushMultiple(ctx context.Context, entries []multipleEntry) (answer, error) {
	data, err := c.postEncoded(ctx, opSend, pathMultiple, func(apiToken string) []byte {
		return multipleBody(apiToken, c.o.ConfigurationName, entries)
	})
	if err != nil {
		return answer{}, err
	}
	return decodeAnswer(data), nil
}

// post sends an authenticated form and returns the answer's data member.
// In fixed-token mode the token rides in the form; in login mode it goes in
// the Authorization header through the token source, which fetches it once
// for all callers and retries once with a new one after a 401.
func (c *Client) post(ctx context.Context, op, path string, form url.Values) (json.RawMessage, error) {
	return c.postEncoded(ctx, op, path, func(apiToken string) []byte {
		if apiToken == "" {
			return encodeValues(form)
		}
		f := make(url.Values, len(form)+1)
		for k, v := range form {
			f[k] = v
		}
		f.Set("api_token", apiToken)
		return encodeValues(f)
	})
}

// postEncoded is post with the body built by encode, which is given the
// fixed api_token to include ("" in login mode).
func (c *Client) postEncoded(ctx context.Context, op, path string, encode func(apiToken string) []byte) (json.RawMessage, error) {
	if c.src == nil {
		return c.data(ctx, op, path, encode(c.o.APIToken), "")
	}
	body := encode("")
	var data json.RawMessage
	err := c.src.Use(ctx, func(tok token.Token) error {
		var err error
		data, err = c.data(ctx, op, path, body, tok.Value)
		return err
	})
	if err != nil {
		var pe *providers.Error
		if !errors.As(err, &pe) {
			// The token store failed (Redis unreachable) or the caller's
			// context ended while waiting for a token.
			return nil, providers.TransportError(provider, opLogin, err)
		}
		return nil, err
	}
	return data, nil
}

// data does one call and returns the data member of a successful answer.
func (c *Client) data(ctx context.Context, op, path string, form []byte, bearer string) (json.RawMessage, error) {
	status, body, err := c.call(ctx, op, path, form, bearer)
	if err != nil {
		return nil, err
	}
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, providers.Malformed(provider, op, status, err)
	}
	if !present(env.Data) {
		return nil, providers.Malformed(provider, op, status, errNoData)
	}
	return env.Data, nil
}

// call posts form (encoded) to path and returns a 2xx answer's status and
// body, or the classified failure.
func (c *Client) call(ctx context.Context, op, path string, form []byte, bearer string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(form))
	if err != nil {
		return 0, nil, &providers.Error{Class: providers.ClassRequest, Provider: provider, Op: op, Message: "cannot build request", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, providers.TransportError(provider, op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		_ = resp.Body.Close()
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, nil, providers.TransportError(provider, op, err)
	}
	if err := c.failure(op, resp, body); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

// failure classifies an answer, returning nil for a success.
func (c *Client) failure(op string, resp *http.Response, body []byte) error {
	env, decErr := decodeEnvelope(body)
	var ae apiError
	if decErr == nil && present(env.Error) {
		ae = decodeAPIError(env.Error)
	}
	if e := providers.StatusError(provider, op, resp, c.now()); e != nil {
		e.Code, e.Message = ae.Code, ae.Message
		if e.Class == providers.ClassAuth && op != opLogin && c.src != nil {
			// Lets the token source drop this token and retry once.
			e.Err = token.ErrRejected
		}
		return e
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && !(decErr == nil && present(env.Error) && !present(env.Data)) {
		return nil
	}
	return refusal(op, resp.StatusCode, ae)
}

// refusal classifies an error answer that StatusError left alone: other
// 4xx codes, or a 2xx carrying only an error member.
func refusal(op string, status int, ae apiError) *providers.Error {
	class := providers.ClassRequest
	switch {
	case status == http.StatusRequestTimeout:
		class = providers.ClassRetryable
	case op == opLogin && (status < 300 || status == http.StatusBadRequest || status == http.StatusUnprocessableEntity):
		// A refused login is a credentials problem, whatever its status.
		class = providers.ClassAuth
	case op != opLogin && recipientError(ae):
		class = providers.ClassRecipient
	}
	return &providers.Error{Class: class, Provider: provider, Op: op, HTTPStatus: status, Code: ae.Code, Message: ae.Message}
}

// login obtains a temporary token: POST /login with email and password.
func (c *Client) login(ctx context.Context) (token.Token, error) {
	form := url.Values{"email": {c.o.Email}, "password": {c.o.Password}}
	status, body, err := c.call(ctx, opLogin, pathLogin, encodeValues(form), "")
	if err != nil {
		return token.Token{}, err
	}
	now := c.now()
	tok, err := decodeLogin(body, now)
	if err != nil {
		return token.Token{}, providers.Malformed(provider, opLogin, status, err)
	}
	// token.Source replaces it once 90 % of its life is gone.
	tok.Issued = now
	ev := c.log.Debug().Str("provider", provider)
	if !tok.Expiry.IsZero() {
		ev = ev.Time("expires", tok.Expiry)
	}
	ev.Msg("temporary token obtained")
	return tok, nil
}

// wireNumber turns E.164 ("+34600100200") into Conectaline's form: digits
// with the international prefix and no "+".
func wireNumber(e164 string) (string, error) {
	d := strings.TrimPrefix(e164, "+")
	if len(d) < 6 || len(d) > 15 {
		return "", badNumber()
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", badNumber()
		}
	}
	return d, nil
}

func badNumber() error {
	return &providers.Error{Class: providers.ClassRecipient, Provider: provider, Op: opSend, Message: "destination is not an international number"}
}

func rejectedNumber() error {
	return &providers.Error{Class: providers.ClassRecipient, Provider: provider, Op: opSend, Message: "number rejected by provider"}
}

func emptyText() error {
	return &providers.Error{Class: providers.ClassRequest, Provider: provider, Op: opSend, Message: "message text is empty"}
}
