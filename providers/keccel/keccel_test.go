package keccel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/providertest"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox"
	fake "github.com/smsq/smsq/sandbox/keccel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startFake serves a Keccel fake and returns it with the base URL to give
// the adapter.
func startFake(t testing.TB, o fake.Options) (*fake.Server, string) {
	t.Helper()
	f := fake.New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		_ = f.Close()
		srv.Close()
	})
	return f, srv.URL + fake.BasePath
}

func newClient(t testing.TB, base string, mutate ...func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: base, Token: fake.DefaultToken, From: "SMSQ", Timeout: 10 * time.Second}
	for _, m := range mutate {
		m(&o)
	}
	c, err := New(o, providers.Deps{})
	require.NoError(t, err)
	return c
}

func message(i int) providers.Message {
	return providers.Message{ID: fmt.Sprintf("m%d", i), To: fmt.Sprintf("+24381%07d", i), Text: fmt.Sprintf("hello %d", i)}
}

func TestContract(t *testing.T) {
	invalid := providers.Message{To: "+243810666666", Text: "never"}
	require.True(t, sandbox.Unreachable(invalid.To), "the sandbox-wide unreachable rule")
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, o providertest.Options) providertest.Env {
			f, base := startFake(t, fake.Options{})
			c := newClient(t, base, func(opts *Options) {
				if o.Timeout > 0 {
					opts.Timeout = o.Timeout
				}
				if o.BadCredentials {
					opts.Token = "not-the-key"
				}
			})
			return providertest.Env{Fake: f, Sender: c}
		},
		Message:          message,
		InvalidRecipient: func() providers.Message { return invalid },
		ReturnsIDs:       true,
		Tokens:           false, // a static API key: nothing to expire or share
	})
}

func TestSendPostsTheDocumentedJSON(t *testing.T) {
	t.Parallel()
	f, base := startFake(t, fake.Options{})
	c := newClient(t, base)

	res, err := c.Send(context.Background(), providers.Message{To: "+243851234567", Text: "Hi <b> & bye"})
	require.NoError(t, err)
	require.Equal(t, providers.Result{ProviderID: "1000001", Status: "SENT"}, res)

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/sms/v2/message.asp", r.Path)
	require.Empty(t, r.Query, "the key travels in the body, not the URL")
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "application/json", r.Header.Get("Accept"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Equal(t, map[string]any{
		"token":   fake.DefaultToken,
		"to":      "243851234567", // E.164 without the "+"
		"from":    "SMSQ",         // Options.From when the message names none
		"message": "Hi <b> & bye",
	}, body)
	require.NotContains(t, string(r.Body), `\u003c`, "text is sent literally")
}

func TestSendUsesTheMessagesOwnSender(t *testing.T) {
	t.Parallel()
	f, base := startFake(t, fake.Options{})
	c := newClient(t, base+"/") // a trailing slash on the base URL is fine
	_, err := c.Send(context.Background(), providers.Message{To: "+243851234567", From: "ACME", Text: "x"})
	require.NoError(t, err)
	acc := f.Recorder().Accepted()
	require.Len(t, acc, 1)
	require.Equal(t, "ACME", acc[0].From)
	require.Equal(t, "/sms/v2/message.asp", f.Recorder().Requests()[0].Path)
}

func TestSendRefusesWhatKeccelCannotTakeWithoutCallingIt(t *testing.T) {
	t.Parallel()
	f, base := startFake(t, fake.Options{})
	c := newClient(t, base)
	for _, to := range []string{"", "+", "+24385ABC4567", "+2438", "+2438512345678901"} {
		_, err := c.Send(context.Background(), providers.Message{To: to, Text: "x"})
		require.ErrorIs(t, err, providers.ErrInvalidRecipient, "to %q", to)
	}
	_, err := c.Send(context.Background(), providers.Message{To: "+243851234567", Text: "  "})
	require.ErrorIs(t, err, providers.ErrPermanent)
	require.Zero(t, f.Recorder().Calls())
}

func TestSendReturnsTheCallersCancellation(t *testing.T) {
	t.Parallel()
	_, base := startFake(t, fake.Options{})
	c := newClient(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, message(1))
	require.ErrorIs(t, err, context.Canceled)
}

// canned serves one fixed answer to every call.
func canned(t *testing.T, code int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "https://elsewhere.test/")
		}
		w.Header().Set("Content-Type", "text/html") // classic ASP often says so even for JSON
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL+"/sms/v2")
}

func TestSendAcceptsEverySpellingOfSent(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]providers.Result{
		`{"status":"SENT","messageID":"123456","description":"Message submitted to the network"}`: {ProviderID: "123456", Status: "SENT"},
		`{"status":"Sent","messageID":123456}`:                                                    {ProviderID: "123456", Status: "Sent"},
		"\xef\xbb\xbf{\r\n \"status\": \"sent\",\r\n \"messageID\": \" 42 \"\r\n}\r\n":            {ProviderID: "42", Status: "sent"},
		`{"status":"SENT","messageID":""}`:                                                        {ProviderID: "", Status: "SENT"},
	} {
		res, err := canned(t, http.StatusOK, body).Send(context.Background(), message(1))
		require.NoError(t, err, body)
		require.Equal(t, want, res, body)
	}
}

func TestRejectionsAreClassifiedByTheirDescription(t *testing.T) {
	t.Parallel()
	for desc, want := range map[string]error{
		"Invalid token":                   providers.ErrAuth,
		"Invalid API key":                 providers.ErrAuth,
		"missing token parameter":         providers.ErrAuth,
		"Authentication failed":           providers.ErrAuth,
		"Invalid destination number":      providers.ErrInvalidRecipient,
		"Unknown recipient":               providers.ErrInvalidRecipient,
		"invalid number":                  providers.ErrInvalidRecipient,
		"missing from parameter":          providers.ErrPermanent,
		"missing to parameter":            providers.ErrPermanent,
		"Account inactive":                providers.ErrPermanent,
		"Account expired":                 providers.ErrPermanent,
		"Insufficient balance":            providers.ErrPermanent,
		"":                                providers.ErrPermanent,
		"Sender name not allowed (GUEST)": providers.ErrPermanent,
	} {
		for _, word := range []string{"REJECTED", "Rejected"} {
			body := fmt.Sprintf(`{"status":%q,"messageID":"","description":%q}`, word, desc)
			_, err := canned(t, http.StatusOK, body).Send(context.Background(), message(1))
			require.ErrorIs(t, err, want, "%s %q", word, desc)
			require.True(t, providers.ClassOf(err).Permanent())
			var pe *providers.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "REJECTED", pe.Code)
		}
	}
}

func TestRejectionOnA4xxStillReadsTheEnvelope(t *testing.T) {
	t.Parallel()
	_, err := canned(t, http.StatusBadRequest, `{"status":"Rejected","description":"Invalid destination number"}`).Send(context.Background(), message(1))
	require.ErrorIs(t, err, providers.ErrInvalidRecipient)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, http.StatusBadRequest, pe.HTTPStatus)
}

func TestErrorsNeverCarryTheKeyOrAFullNumber(t *testing.T) {
	t.Parallel()
	body := fmt.Sprintf(`{"status":"REJECTED","description":"token %s refused for 243851234567"}`, fake.DefaultToken)
	_, err := canned(t, http.StatusOK, body).Send(context.Background(), message(1))
	require.ErrorIs(t, err, providers.ErrAuth)
	require.NotContains(t, err.Error(), fake.DefaultToken)
	require.NotContains(t, err.Error(), "243851234567")
	require.Contains(t, err.Error(), "243*******67", "masked as package mask does")

	// Delivery and balance carry the key in the query; a transport failure
	// must not print the URL's query.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/sms/v2"
	srv.Close()
	c := newClient(t, base)
	_, err = c.Status(context.Background(), "1000001")
	require.ErrorIs(t, err, providers.ErrRetryable)
	require.NotContains(t, err.Error(), fake.DefaultToken)
	_, err = c.Balance(context.Background())
	require.ErrorIs(t, err, providers.ErrRetryable)
	require.NotContains(t, err.Error(), fake.DefaultToken)
}

func TestUndecodableAnswersAreRetryableOn2xx(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "not json", `{"status":"SENT"`, `[]`, `null`, `{}`, `{"message":"ok"}`, `{"status":{"x":1}}`, `{"status":"QUEUED","messageID":"1"}`} {
		_, err := canned(t, http.StatusOK, body).Send(context.Background(), message(1))
		require.ErrorIs(t, err, providers.ErrRetryable, "body %q", body)
	}
}

func TestHTTPStatusesWithoutAnEnvelope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		want error
	}{
		{http.StatusNotFound, providers.ErrPermanent},
		{http.StatusFound, providers.ErrPermanent},
		{http.StatusMethodNotAllowed, providers.ErrPermanent},
		{http.StatusRequestTimeout, providers.ErrRetryable},
		{http.StatusUnauthorized, providers.ErrAuth},
		{http.StatusServiceUnavailable, providers.ErrRetryable},
		{http.StatusTooManyRequests, providers.ErrRateLimited},
	} {
		_, err := canned(t, tc.code, "<html>IIS says no</html>").Send(context.Background(), message(1))
		require.ErrorIs(t, err, tc.want, "HTTP %d", tc.code)
		var pe *providers.Error
		require.ErrorAs(t, err, &pe)
		require.Equal(t, tc.code, pe.HTTPStatus)
	}
	_, err := canned(t, http.StatusUnauthorized, `{"status":"REJECTED","description":"Invalid token"}`).Send(context.Background(), message(1))
	require.ErrorContains(t, err, "Invalid token", "the envelope's reason is kept")
}

func TestStatusAsksDeliveryASPWithLowercaseMessageid(t *testing.T) {
	t.Parallel()
	f, base := startFake(t, fake.Options{})
	c := newClient(t, base)
	res, err := c.Send(context.Background(), message(1))
	require.NoError(t, err)
	f.Recorder().Clear()

	_, err = c.Status(context.Background(), res.ProviderID)
	require.NoError(t, err)
	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodGet, reqs[0].Method)
	require.Equal(t, "/sms/v2/delivery.asp", reqs[0].Path)
	require.Equal(t, url.Values{"from": {"SMSQ"}, "token": {fake.DefaultToken}, "messageid": {res.ProviderID}}, reqs[0].Query)
	require.Empty(t, reqs[0].Body)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestStatusFollowsTheMessageToItsFinalState(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}
	_, base := startFake(t, fake.Options{Now: clk.Now, DeliverAfter: time.Minute, FailNumbers: []string{"+243810000002"}})
	c := newClient(t, base)
	ctx := context.Background()
	ok, err := c.Send(ctx, message(1))
	require.NoError(t, err)
	bad, err := c.Send(ctx, message(2))
	require.NoError(t, err)

	rep, err := c.Status(ctx, ok.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryReport{ProviderID: ok.ProviderID, State: providers.DeliveryPending, Raw: "PENDING"}, rep)
	require.False(t, rep.State.Final())

	clk.Advance(time.Minute)
	rep, err = c.Status(ctx, ok.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryDelivered, rep.State)
	rep, err = c.Status(ctx, bad.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryReport{ProviderID: bad.ProviderID, State: providers.DeliveryFailed, Raw: "FAILED"}, rep)

	rep, err = c.Status(ctx, "999")
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryUnknown, rep.State)

	_, err = c.Status(ctx, " ")
	require.ErrorIs(t, err, providers.ErrPermanent)
}

func TestStatusSpellings(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]providers.DeliveryState{
		`{"messageid":"123456","status":"DELIVERED"}`: providers.DeliveryDelivered,
		`{"messageid":"123456","status":"Delivered"}`: providers.DeliveryDelivered,
		`{"messageID":123456,"status":"failed"}`:      providers.DeliveryFailed,
		`{"status":"FAILED"}`:                         providers.DeliveryFailed,
		`{"messageid":"123456","status":"PENDING"}`:   providers.DeliveryPending,
		`{"messageid":"123456","status":"Submitted"}`: providers.DeliveryPending,
		`{"messageid":"123456","status":"Error"}`:     providers.DeliveryUnknown,
		`{"messageid":"123456","status":"ERROR"}`:     providers.DeliveryUnknown,
	} {
		rep, err := canned(t, http.StatusOK, body).Status(context.Background(), "123456")
		require.NoError(t, err, body)
		require.Equal(t, want, rep.State, body)
		require.Equal(t, "123456", rep.ProviderID)
	}
	for body, want := range map[string]error{
		`{"messageid":"654321","status":"DELIVERED"}`:                  providers.ErrRetryable, // another message's answer
		`{"messageid":"123456"}`:                                       providers.ErrRetryable,
		`{"status":"REJECTED","description":"Invalid token"}`:          providers.ErrAuth,
		`{"status":"Rejected","description":"missing from parameter"}`: providers.ErrPermanent,
	} {
		_, err := canned(t, http.StatusOK, body).Status(context.Background(), "123456")
		require.ErrorIs(t, err, want, body)
	}
}

func TestBalanceAsksBalanceASPAndTracksSends(t *testing.T) {
	t.Parallel()
	f, base := startFake(t, fake.Options{})
	c := newClient(t, base)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, err := c.Send(ctx, message(i))
		require.NoError(t, err)
	}
	f.Recorder().Clear()

	bal, err := c.Balance(ctx)
	require.NoError(t, err)
	require.Equal(t, float64(fake.DefaultBalance-3), bal.Amount)
	require.Equal(t, "credits", bal.Unit)
	require.Equal(t, "active", bal.Status)
	require.True(t, bal.Expires.Equal(time.Date(2030, 12, 31, 5, 46, 17, 0, time.UTC)), "31-Dec-2030 06:46:17 Kinshasa time, got %v", bal.Expires)

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodGet, reqs[0].Method)
	require.Equal(t, "/sms/v2/balance.asp", reqs[0].Path)
	require.Equal(t, url.Values{"from": {"SMSQ"}, "token": {fake.DefaultToken}}, reqs[0].Query)
}

func TestBalanceShapes(t *testing.T) {
	t.Parallel()
	wat := time.FixedZone("WAT", 3600)
	for body, want := range map[string]providers.Balance{
		`{"balance":645,"expiration":"31-Dec-2021 06:46:17","status":"Active"}`:      {Amount: 645, Unit: "credits", Status: "active", Expires: time.Date(2021, 12, 31, 6, 46, 17, 0, wat)},
		`{"balance":"50","expiration":"","status":"active"}`:                         {Amount: 50, Unit: "credits", Status: "active"},
		`{"balance":" -12 ","expiration":"1-DEC-2030 06:46:17","status":"INACTIVE"}`: {Amount: -12, Unit: "credits", Status: "inactive", Expires: time.Date(2030, 12, 1, 6, 46, 17, 0, wat)},
		`{"balance":"12.5","expiration":"some day"}`:                                 {Amount: 12.5, Unit: "credits"},
	} {
		bal, err := canned(t, http.StatusOK, body).Balance(context.Background())
		require.NoError(t, err, body)
		require.True(t, want.Expires.Equal(bal.Expires), "%s: expires %v", body, bal.Expires)
		want.Expires, bal.Expires = time.Time{}, time.Time{}
		require.Equal(t, want, bal, body)
	}
	for body, want := range map[string]error{
		`{"balance":"abc","status":"Active"}`:                 providers.ErrRetryable,
		`{"balance":"NaN"}`:                                   providers.ErrRetryable,
		`{"expiration":"31-Dec-2021 06:46:17"}`:               providers.ErrRetryable,
		`{"status":"REJECTED","description":"Invalid token"}`: providers.ErrAuth,
	} {
		_, err := canned(t, http.StatusOK, body).Balance(context.Background())
		require.ErrorIs(t, err, want, body)
	}
}

func TestStatusAndBalanceWithABadKeyAreAuthErrors(t *testing.T) {
	t.Parallel()
	_, base := startFake(t, fake.Options{})
	c := newClient(t, base, func(o *Options) { o.Token = "not-the-key" })
	_, err := c.Status(context.Background(), "1000001")
	require.ErrorIs(t, err, providers.ErrAuth)
	_, err = c.Balance(context.Background())
	require.ErrorIs(t, err, providers.ErrAuth)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	valid := Options{Token: "k", From: "SMSQ"}
	require.NoError(t, valid.Validate(), "defaults fill base_url and timeout")

	for _, tc := range []struct {
		mutate func(*Options)
		want   string
	}{
		{func(o *Options) { o.Token = "" }, "keccel.token: required"},
		{func(o *Options) { o.Token = "  " }, "keccel.token: required"},
		{func(o *Options) { o.From = "" }, "keccel.from: required"},
		{func(o *Options) { o.BaseURL = "ftp://api.keccel.com/sms/v2" }, "keccel.base_url: scheme must be http or https"},
		{func(o *Options) { o.BaseURL = "https://" }, "keccel.base_url: host missing"},
		{func(o *Options) { o.BaseURL = "https://api.keccel.com/sms/v2?x=1" }, "keccel.base_url: must not carry a query"},
		{func(o *Options) { o.BaseURL = "https://api.keccel.com/%zz" }, "keccel.base_url: not a URL"},
		{func(o *Options) { o.Timeout = -time.Second }, "keccel.timeout: must not be negative"},
	} {
		o := valid
		tc.mutate(&o)
		err := o.Validate()
		require.ErrorContains(t, err, tc.want)
		_, nerr := New(o, providers.Deps{})
		require.ErrorContains(t, nerr, tc.want, "New validates too")
	}

	err := Options{}.Validate()
	require.ErrorContains(t, err, "keccel.token")
	require.ErrorContains(t, err, "keccel.from", "every bad field is named at once")

	err = Options{Token: "s3cret-key", BaseURL: "ftp://x"}.Validate()
	require.NotContains(t, err.Error(), "s3cret-key")
}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Options{Token: "k", From: "SMSQ"}, providers.Deps{})
	require.NoError(t, err)
	require.Equal(t, "keccel", c.Name())
	require.Equal(t, "https://api.keccel.com/sms/v2/message.asp", c.sendURL)
	require.Equal(t, "https://api.keccel.com/sms/v2/delivery.asp", c.deliveryURL)
	require.Equal(t, "https://api.keccel.com/sms/v2/balance.asp", c.balanceURL)
	require.Equal(t, DefaultTimeout, c.http.Timeout)
}

func TestParseCallback(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]providers.DeliveryReport{
		"messageID=123456&status=DELIVERED":     {ProviderID: "123456", State: providers.DeliveryDelivered, Raw: "DELIVERED"},
		"messageID=123456&status=FAILED":        {ProviderID: "123456", State: providers.DeliveryFailed, Raw: "FAILED"},
		"messageid=7&status=delivered":          {ProviderID: "7", State: providers.DeliveryDelivered, Raw: "delivered"},
		"client=smsq&messageID=9&status=Failed": {ProviderID: "9", State: providers.DeliveryFailed, Raw: "Failed"},
	} {
		q, err := url.ParseQuery(raw)
		require.NoError(t, err)
		rep, err := ParseCallback(q)
		require.NoError(t, err, raw)
		require.Equal(t, want, rep, raw)
	}
	for raw, why := range map[string]string{
		"status=DELIVERED":            "missing messageID",
		"messageID=&status=DELIVERED": "missing messageID",
		"messageID=1":                 "missing status",
		"messageID=1&status=PENDING":  "unknown status",
		"messageID=" + strings.Repeat("9", 65) + "&status=FAILED": "messageID too long",
	} {
		q, err := url.ParseQuery(raw)
		require.NoError(t, err)
		_, err = ParseCallback(q)
		require.ErrorIs(t, err, ErrBadCallback, raw)
		require.ErrorIs(t, err, providers.ErrPermanent, raw)
		require.ErrorContains(t, err, why, raw)
	}
}

func TestPushedReportsParseWithParseCallback(t *testing.T) {
	t.Parallel()
	got := make(chan providers.DeliveryReport, 4)
	errs := make(chan error, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := ParseCallback(r.URL.Query())
		if err != nil {
			errs <- err
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- rep
	}))
	t.Cleanup(cb.Close)
	_, base := startFake(t, fake.Options{CallbackURL: cb.URL + "/keccel/dlr", FailNumbers: []string{"+243810000002"}})
	c := newClient(t, base)

	sent := map[string]providers.DeliveryState{}
	for i, want := range map[int]providers.DeliveryState{1: providers.DeliveryDelivered, 2: providers.DeliveryFailed} {
		res, err := c.Send(context.Background(), message(i))
		require.NoError(t, err)
		sent[res.ProviderID] = want
	}
	for range sent {
		select {
		case rep := <-got:
			require.Equal(t, sent[rep.ProviderID], rep.State, rep.ProviderID)
		case err := <-errs:
			t.Fatalf("callback did not parse: %v", err)
		case <-time.After(10 * time.Second): // guards against a hang only
			t.Fatal("no delivery report was pushed")
		}
	}
}

// Two worker processes share one Redis token store: Keccel's static key
// needs no token, so none is fetched and nothing secret lands in Redis.
func TestTwoProcessesSharingARedisStoreStoreNoKey(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	store := &token.RedisStore{Client: rdb}
	f, base := startFake(t, fake.Options{})

	var senders []*Client
	for p := 0; p < 2; p++ {
		c, err := New(Options{BaseURL: base, Token: fake.DefaultToken, From: "SMSQ"}, providers.Deps{Tokens: store})
		require.NoError(t, err)
		senders = append(senders, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for p, c := range senders {
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(c *Client, i int) {
				defer wg.Done()
				_, err := c.Send(context.Background(), message(i))
				errs <- err
			}(c, p*100+i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 40, f.Recorder().AcceptedCount())
	require.Zero(t, f.Recorder().TokensIssued())
	n, err := rdb.DBSize(context.Background()).Result()
	require.NoError(t, err)
	require.Zero(t, n, "the static key is never written to the shared store")
}

func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"status":"SENT","messageID":"123456","description":"Message submitted to the network"}`,
		`{"status":"Rejected","messageID":"","description":"Invalid token"}`,
		`{"messageid":"123456","status":"DELIVERED"}`,
		`{"balance":"50","expiration":"","status":"active"}`,
		`{"balance":645,"expiration":"31-Dec-2021 06:46:17","status":"Active"}`,
		"\xef\xbb\xbf{\"status\":\"sent\",\"messageID\":1e400}",
		`{"status":"SENT","data":{"mess`,
		`null`,
	} {
		f.Add(200, []byte(s))
		f.Add(400, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		_, err := decodeSend(status, body, "key")
		checkClassified(t, err)
		rep, err := decodeDelivery(status, body, "123456", "key")
		checkClassified(t, err)
		if err == nil && rep.ProviderID != "123456" {
			t.Fatalf("report for %q", rep.ProviderID)
		}
		_, _, err = decodeBalance(status, body, "key")
		checkClassified(t, err)
		q, perr := url.ParseQuery(string(body))
		if perr == nil {
			_, err = ParseCallback(q)
			checkClassified(t, err)
		}
	})
}

// checkClassified fails unless err is nil or a *providers.Error: every
// decoding failure must tell the worker what to do.
func checkClassified(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class == 0 || pe.Provider != "keccel" {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
}

func BenchmarkSend(b *testing.B) {
	f, base := startFake(b, fake.Options{Balance: 1 << 30})
	f.Recorder().KeepMessages(false)
	f.Recorder().MaxRequests = 1
	c := newClient(b, base)
	m := message(1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
