package kandy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/providertest"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox"
	fake "github.com/smsq/smsq/sandbox/kandy"
)

const sender = "+15550001111"

// options returns adapter options pointed at srv with the fake's defaults.
func options(srv *httptest.Server) Options {
	return Options{
		BaseURL:         srv.URL + fake.Prefix,
		DomainAPIKey:    fake.DefaultDomainAPIKey,
		DomainAPISecret: fake.DefaultDomainAPISecret,
		UserID:          fake.DefaultUserID,
		Source:          sender,
		Timeout:         10 * time.Second,
	}
}

// setup starts a fake with fo and returns it, its server and an adapter
// built from options(srv) changed by edit.
func setup(t *testing.T, fo fake.Options, d providers.Deps, edit func(*Options)) (*fake.Server, *httptest.Server, *Client) {
	t.Helper()
	f := fake.New(fo)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o := options(srv)
	if edit != nil {
		edit(&o)
	}
	c, err := New(o, d)
	require.NoError(t, err)
	return f, srv, c
}

func msg(i int) providers.Message {
	return providers.Message{ID: fmt.Sprintf("m-%d", i), To: fmt.Sprintf("+1202555%04d", i), Text: fmt.Sprintf("hello %d", i)}
}

// requestsTo returns the recorded calls to one endpoint (path under /v1.2/).
func requestsTo(f *fake.Server, path string) []sandbox.Request {
	var out []sandbox.Request
	for _, r := range f.Recorder().Requests() {
		if r.Path == fake.Prefix+path {
			out = append(out, r)
		}
	}
	return out
}

func TestContract(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, o providertest.Options) providertest.Env {
			f := fake.New(fake.Options{})
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			opts := options(srv)
			if o.BadCredentials {
				opts.DomainAPISecret = "not-the-secret"
			}
			if o.Timeout > 0 {
				opts.Timeout = o.Timeout
			}
			c, err := New(opts, providers.Deps{Tokens: o.Store})
			require.NoError(t, err)
			return providertest.Env{Fake: f, Sender: c}
		},
		Message:          msg,
		InvalidRecipient: func() providers.Message { return providers.Message{To: "+15550666666", Text: "never"} },
		ReturnsIDs:       false,
		Tokens:           true,
	})
}

func TestSendPutsTheDocumentedRequestsOnTheWire(t *testing.T) {
	t.Parallel()
	f, _, c := setup(t, fake.Options{}, providers.Deps{}, nil)

	res, err := c.Send(context.Background(), providers.Message{ID: "m-1", To: "+14155550123", Text: "let's meet tonight"})
	require.NoError(t, err)
	require.Empty(t, res.ProviderID, "Kandy returns no message id")
	require.Equal(t, "success", res.Status)

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 3, "token, device lookup, send")

	tokReq := reqs[0]
	require.Equal(t, http.MethodGet, tokReq.Method)
	require.Equal(t, "/v1.2/domains/users/accesstokens", tokReq.Path)
	require.Equal(t, fake.DefaultDomainAPIKey, tokReq.Query.Get("key"))
	require.Equal(t, fake.DefaultDomainAPISecret, tokReq.Query.Get("domain_api_secret"))
	require.Equal(t, fake.DefaultUserID, tokReq.Query.Get("user_id"))
	require.Len(t, tokReq.Query, 3)
	require.Empty(t, tokReq.Body)

	devReq := reqs[1]
	require.Equal(t, http.MethodGet, devReq.Method)
	require.Equal(t, "/v1.2/users/devices", devReq.Path)
	uat := devReq.Query.Get("key")
	require.Regexp(t, `^[0-9a-f]{32}$`, uat)
	require.Empty(t, devReq.Body)

	sms := reqs[2]
	require.Equal(t, http.MethodPost, sms.Method)
	require.Equal(t, "/v1.2/devices/smss", sms.Path)
	require.Equal(t, uat, sms.Query.Get("key"), "the send uses the user access token")
	require.Equal(t, fake.DefaultDeviceID, sms.Query.Get("device_id"))
	require.Len(t, sms.Query, 2)
	require.Equal(t, "application/json", sms.Header.Get("Content-Type"))
	require.Equal(t, "application/json", sms.Header.Get("Accept"))
	require.JSONEq(t, `{"message":{"source":"+15550001111","destination":"+14155550123","message":{"text":"let's meet tonight"}}}`, string(sms.Body))

	acc := f.Recorder().Accepted()
	require.Len(t, acc, 1)
	require.Equal(t, sandbox.Accepted{ID: "", To: "+14155550123", From: sender, Text: "let's meet tonight", At: acc[0].At}, acc[0])
}

func TestBaseURLWithOrWithoutTrailingSlash(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"/v1.2", "/v1.2/"} {
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, func(o *Options) {
			o.BaseURL = strings.TrimSuffix(o.BaseURL, fake.Prefix) + base
		})
		_, err := c.Send(context.Background(), msg(1))
		require.NoError(t, err, base)
		require.Equal(t, 1, f.Recorder().AcceptedCount(), base)
	}
}

func TestSenderNumber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Message.From overrides the configured source", func(t *testing.T) {
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, nil)
		m := msg(1)
		m.From = "447700900123" // E.164 without "+" is accepted and sent with it
		_, err := c.Send(ctx, m)
		require.NoError(t, err)
		require.Equal(t, "+447700900123", f.Recorder().Accepted()[0].From)
	})

	t.Run("no source and no From is a request error before any call", func(t *testing.T) {
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, func(o *Options) { o.Source = "" })
		_, err := c.Send(ctx, msg(1))
		require.ErrorIs(t, err, providers.ErrPermanent)
		require.ErrorContains(t, err, "kandy.source")
		require.Zero(t, f.Recorder().Calls())
	})

	t.Run("a From that is no phone number is a request error", func(t *testing.T) {
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, nil)
		m := msg(1)
		m.From = "ACME"
		_, err := c.Send(ctx, m)
		require.ErrorIs(t, err, providers.ErrPermanent)
		require.Zero(t, f.Recorder().Calls())
	})

	t.Run("a destination that is no phone number is a recipient error", func(t *testing.T) {
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, nil)
		_, err := c.Send(ctx, providers.Message{To: "+12ab", Text: "x"})
		require.ErrorIs(t, err, providers.ErrInvalidRecipient)
		require.Zero(t, f.Recorder().Calls())
	})

	t.Run("a source the user may not use is refused by Kandy", func(t *testing.T) {
		_, _, c := setup(t, fake.Options{Sources: []string{"+15559990000"}}, providers.Deps{}, nil)
		_, err := c.Send(ctx, msg(1))
		require.ErrorIs(t, err, providers.ErrPermanent)
		var pe *providers.Error
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "903", pe.Code)
	})
}

// scripted is a Kandy stand-in whose token and device endpoints behave and
// whose devices/smss answers with whatever the test says.
type scripted struct {
	srv     *httptest.Server
	tokens  atomic.Int32
	lookups atomic.Int32
	sends   atomic.Int32

	mu      sync.Mutex
	devices string // result of users/devices
	devIDs  []string
	sms     http.HandlerFunc
}

func newScripted(t *testing.T, sms http.HandlerFunc) *scripted {
	s := &scripted{devices: `{"devices":[{"id":"dev-1","device_id":"dev-1"}]}`, sms: sms}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.2/domains/users/accesstokens":
			n := s.tokens.Add(1)
			fmt.Fprintf(w, `{"status":0,"message":"success","result":{"user_access_token":"uat-%02d-0123456789"}}`, n)
		case "/v1.2/users/devices":
			s.lookups.Add(1)
			s.mu.Lock()
			fmt.Fprintf(w, `{"status":0,"message":"success","result":%s}`, s.devices)
			s.mu.Unlock()
		case "/v1.2/devices/smss":
			s.sends.Add(1)
			s.mu.Lock()
			s.devIDs = append(s.devIDs, r.URL.Query().Get("device_id"))
			s.mu.Unlock()
			s.sms(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) setDevices(result string) {
	s.mu.Lock()
	s.devices = result
	s.mu.Unlock()
}

func (s *scripted) client(t *testing.T, d providers.Deps) *Client {
	t.Helper()
	c, err := New(options(s.srv), d)
	require.NoError(t, err)
	return c
}

func answer(status int, header http.Header, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestSendAnswersAreClassifiedFromTheEnvelope(t *testing.T) {
	t.Parallel()
	type want struct {
		class    providers.Class // 0: success
		code     string
		tokens   int32 // tokens fetched: 2 when the answer made the adapter re-issue
		status   string
		retryIn  time.Duration
		contains string
	}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   want
	}{
		{"documented success", 200, nil, `{"status":0,"message":"success"}`, want{status: "success", tokens: 1}},
		{"status spelled as a string", 200, nil, `{"status":"0","message":"success"}`, want{status: "success", tokens: 1}},
		{"another success wording", 201, nil, `{"status":0,"message":"Message Sent"}`, want{status: "Message Sent", tokens: 1}},
		{"missing parameters", 200, nil, `{"status":3,"message":"missing parameters"}`, want{class: providers.ClassRequest, code: "3", tokens: 1}},
		{"invalid format", 200, nil, `{"status":710,"message":"message in an invalid format"}`, want{class: providers.ClassRequest, code: "710", tokens: 1}},
		{"internal error is retryable", 200, nil, `{"status":1,"message":"internal error"}`, want{class: providers.ClassRetryable, code: "1", tokens: 1}},
		{"user not found re-issues, then is auth", 200, nil, `{"status":701,"message":"user not found"}`, want{class: providers.ClassAuth, code: "701", tokens: 2}},
		{"invalid key status re-issues, then is auth", 200, nil, `{"status":900,"message":"invalid key"}`, want{class: providers.ClassAuth, code: "900", tokens: 2}},
		{"unknown device re-issues, then is a request error", 200, nil, `{"status":901,"message":"device not found"}`, want{class: providers.ClassRequest, code: "901", tokens: 2}},
		{"invalid destination", 200, nil, `{"status":902,"message":"invalid destination"}`, want{class: providers.ClassRecipient, code: "902", tokens: 1}},
		{"unknown code blaming the destination", 200, nil, `{"status":777,"message":"Destination not reachable"}`, want{class: providers.ClassRecipient, code: "777", tokens: 1}},
		{"unknown code", 200, nil, `{"status":777,"message":"quota exceeded"}`, want{class: providers.ClassRequest, code: "777", tokens: 1, contains: "quota exceeded"}},
		{"unknown code without message", 200, nil, `{"status":42}`, want{class: providers.ClassRequest, code: "42", tokens: 1, contains: "status 42"}},
		{"non-zero status on HTTP 400", 400, nil, `{"status":3,"message":"missing parameters"}`, want{class: providers.ClassRequest, code: "3", tokens: 1}},
		{"success envelope on a 4xx", 409, nil, `{"status":0,"message":"success"}`, want{class: providers.ClassRequest, tokens: 1}},
		{"401 re-issues once, then is auth", 401, nil, `{"status":900,"message":"invalid key"}`, want{class: providers.ClassAuth, code: "900", tokens: 2}},
		{"403 without envelope", 403, nil, `forbidden`, want{class: providers.ClassAuth, tokens: 2}},
		{"426 upgrade required", 426, nil, ``, want{class: providers.ClassRequest, tokens: 1, contains: "upgrade"}},
		{"500 with envelope", 500, nil, `{"status":1,"message":"internal error"}`, want{class: providers.ClassRetryable, code: "1", tokens: 1}},
		{"502 from a proxy", 502, nil, `<html>bad gateway</html>`, want{class: providers.ClassRetryable, tokens: 1}},
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"3"}}, ``, want{class: providers.ClassRateLimited, tokens: 1, retryIn: 3 * time.Second}},
		{"no status is malformed", 200, nil, `{"message":"success"}`, want{class: providers.ClassRetryable, tokens: 1, contains: "malformed"}},
		{"fractional status is malformed", 200, nil, `{"status":0.5,"message":"success"}`, want{class: providers.ClassRetryable, tokens: 1, contains: "malformed"}},
		{"HTML on 200 is malformed", 200, nil, `<html></html>`, want{class: providers.ClassRetryable, tokens: 1, contains: "malformed"}},
		{"404 without envelope", 404, nil, `not found`, want{class: providers.ClassRequest, tokens: 1}},
		{"unexpected redirect", 302, http.Header{"Location": {"/elsewhere"}}, ``, want{class: providers.ClassRequest, tokens: 1, contains: "redirect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScripted(t, answer(tc.status, tc.header, tc.body))
			c := s.client(t, providers.Deps{})
			res, err := c.Send(context.Background(), msg(1))
			require.Equal(t, tc.want.tokens, s.tokens.Load(), "tokens fetched")
			if tc.want.class == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want.status, res.Status)
				require.Empty(t, res.ProviderID)
				return
			}
			var pe *providers.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.want.class, pe.Class, err.Error())
			require.Equal(t, "kandy", pe.Provider)
			require.Equal(t, "send", pe.Op)
			require.Equal(t, tc.status, pe.HTTPStatus)
			require.Equal(t, tc.want.code, pe.Code)
			require.Equal(t, tc.want.retryIn, pe.RetryAfter)
			if tc.want.contains != "" {
				require.Contains(t, err.Error(), tc.want.contains)
			}
			require.Equal(t, tc.want.tokens, s.sends.Load(), "one send per token")
		})
	}
}

func TestDeviceLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := answer(200, nil, `{"status":0,"message":"success"}`)

	for _, tc := range []struct {
		name, devices, want string
	}{
		{"reads id", `{"devices":[{"id":"A","device_id":"B"}]}`, "A"},
		{"falls back to device_id", `{"devices":[{"device_id":"B","device_native_id":"123"}]}`, "B"},
		{"skips devices without an id", `{"devices":[{"device_family":"iphone"},{"id":"C"}]}`, "C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScripted(t, ok)
			s.setDevices(tc.devices)
			c := s.client(t, providers.Deps{})
			for i := 0; i < 3; i++ {
				_, err := c.Send(ctx, msg(i))
				require.NoError(t, err)
			}
			s.mu.Lock()
			require.Equal(t, []string{tc.want, tc.want, tc.want}, s.devIDs)
			s.mu.Unlock()
			require.EqualValues(t, 1, s.lookups.Load(), "the device is fetched with the token, once")
		})
	}

	t.Run("an unreadable device list is malformed", func(t *testing.T) {
		t.Parallel()
		s := newScripted(t, ok)
		s.setDevices(`{"devices":"none"}`)
		_, err := s.client(t, providers.Deps{}).Send(ctx, msg(1))
		require.ErrorIs(t, err, providers.ErrRetryable)
		require.Zero(t, s.sends.Load())
	})

	t.Run("no registered device says to register one", func(t *testing.T) {
		t.Parallel()
		f, _, c := setup(t, fake.Options{NoDevice: true}, providers.Deps{}, nil)
		_, err := c.Send(ctx, msg(1))
		require.ErrorIs(t, err, providers.ErrPermanent)
		require.ErrorContains(t, err, "register")
		require.Empty(t, requestsTo(f, "devices/smss"))
	})

	t.Run("a pinned device skips the lookup", func(t *testing.T) {
		t.Parallel()
		f, _, c := setup(t, fake.Options{DeviceID: "pinned-device"}, providers.Deps{}, func(o *Options) { o.DeviceID = "pinned-device" })
		_, err := c.Send(ctx, msg(1))
		require.NoError(t, err)
		require.Empty(t, requestsTo(f, "users/devices"))
		require.Equal(t, "pinned-device", requestsTo(f, "devices/smss")[0].Query.Get("device_id"))
	})

	t.Run("a pinned device Kandy does not know is a request error after one re-issue", func(t *testing.T) {
		t.Parallel()
		f, _, c := setup(t, fake.Options{}, providers.Deps{}, func(o *Options) { o.DeviceID = "gone" })
		_, err := c.Send(ctx, msg(1))
		require.ErrorIs(t, err, providers.ErrPermanent)
		require.ErrorContains(t, err, "device not found")
		require.Equal(t, 2, f.Recorder().TokensIssued())
	})

	t.Run("a device removed mid-run is looked up again", func(t *testing.T) {
		t.Parallel()
		f, srv, c := setup(t, fake.Options{}, providers.Deps{}, nil)
		_, err := c.Send(ctx, msg(1))
		require.NoError(t, err)

		// Another client registers a second device and deletes the first.
		uat := rawToken(t, srv)
		second := rawCall(t, http.MethodPost, srv.URL+"/v1.2/users/devices?key="+uat,
			`{"device_native_id":"n2","device_family":"android","device_name":"pixel","client_sw_version":"1","device_os_version":"14"}`)
		newID := second["result"].(map[string]any)["device_id"].(string)
		gone := rawCall(t, http.MethodDelete, srv.URL+"/v1.2/users/devices?key="+uat+"&device_id="+fake.DefaultDeviceID, "")
		require.Equal(t, "Device Deleted", gone["message"])

		_, err = c.Send(ctx, msg(2))
		require.NoError(t, err)
		sends := requestsTo(f, "devices/smss")
		require.Equal(t, newID, sends[len(sends)-1].Query.Get("device_id"))
		require.Equal(t, 2, f.Recorder().AcceptedCount())
	})
}

func rawToken(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	out := rawCall(t, http.MethodGet, srv.URL+"/v1.2/domains/users/accesstokens?key="+fake.DefaultDomainAPIKey+
		"&domain_api_secret="+fake.DefaultDomainAPISecret+"&user_id="+fake.DefaultUserID, "")
	return out["result"].(map[string]any)["user_access_token"].(string)
}

func rawCall(t *testing.T, method, u, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.EqualValues(t, 0, out["status"], out)
	return out
}

func TestTwoProcessesShareOneTokenThroughRedis(t *testing.T) {
	t.Parallel()
	store := &token.RedisStore{Client: redistest.Start(t).Client()}
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	var senders []*Client
	for i := 0; i < 2; i++ {
		c, err := New(options(srv), providers.Deps{Tokens: store})
		require.NoError(t, err)
		senders = append(senders, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	start := make(chan struct{})
	for p, c := range senders {
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := c.Send(context.Background(), msg(p*100+i))
				errs <- err
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, f.Recorder().TokensIssued())
	require.Len(t, requestsTo(f, "users/devices"), 1, "the device id travels with the shared token")
	require.Equal(t, 40, f.Recorder().AcceptedCount())
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("with token_ttl the token is replaced before it expires, without a 401", func(t *testing.T) {
		t.Parallel()
		clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		f, _, c := setup(t, fake.Options{TokenTTL: time.Hour, Now: clk.Now}, providers.Deps{Now: clk.Now},
			func(o *Options) { o.TokenTTL = time.Hour })

		_, err := c.Send(ctx, msg(1))
		require.NoError(t, err)
		clk.Add(54 * time.Minute)
		_, err = c.Send(ctx, msg(2))
		require.NoError(t, err)
		require.Equal(t, 1, f.Recorder().TokensIssued(), "more than 5 minutes left: kept")

		clk.Add(2 * time.Minute) // 4 minutes left: inside the refresh window, still valid at Kandy
		_, err = c.Send(ctx, msg(3))
		require.NoError(t, err)
		require.Equal(t, 2, f.Recorder().TokensIssued())
		sends := requestsTo(f, "devices/smss")
		require.Len(t, sends, 3, "no send was refused and repeated")
		require.NotEqual(t, sends[1].Query.Get("key"), sends[2].Query.Get("key"))
	})

	t.Run("without token_ttl the token is used until Kandy refuses it", func(t *testing.T) {
		t.Parallel()
		clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		f, _, c := setup(t, fake.Options{Now: clk.Now}, providers.Deps{Now: clk.Now}, nil)
		_, err := c.Send(ctx, msg(1))
		require.NoError(t, err)
		clk.Add(1000 * time.Hour)
		_, err = c.Send(ctx, msg(2))
		require.NoError(t, err)
		require.Equal(t, 1, f.Recorder().TokensIssued())

		f.ExpireTokens()
		_, err = c.Send(ctx, msg(3))
		require.NoError(t, err)
		require.Equal(t, 2, f.Recorder().TokensIssued())
		require.Len(t, requestsTo(f, "devices/smss"), 4, "the refused send is repeated once")
	})
}

func TestSecretsAndNumbersStayOutOfErrorsAndLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const number = "+15550123456"
	deps := func() (providers.Deps, *bytes.Buffer) {
		var logs bytes.Buffer
		return providers.Deps{Log: zerolog.New(&logs).Level(zerolog.DebugLevel)}, &logs
	}
	absent := func(t *testing.T, s string, values ...string) {
		t.Helper()
		for _, v := range append(values, fake.DefaultDomainAPIKey, fake.DefaultDomainAPISecret, number[1:]) {
			require.NotContains(t, s, v)
		}
	}

	t.Run("transport failures", func(t *testing.T) {
		t.Parallel()
		d, logs := deps()
		srv := httptest.NewServer(http.NotFoundHandler())
		o := options(srv)
		srv.Close()
		c, err := New(o, d)
		require.NoError(t, err)
		_, err = c.Send(ctx, providers.Message{To: number, Text: "x"})
		require.ErrorIs(t, err, providers.ErrRetryable)
		absent(t, err.Error(), "key=", "domain_api_secret=")
		absent(t, logs.String())
	})

	t.Run("timeout on a send", func(t *testing.T) {
		t.Parallel()
		d, logs := deps()
		f, _, c := setup(t, fake.Options{}, d, func(o *Options) { o.Timeout = 200 * time.Millisecond })
		_, err := c.Send(ctx, msg(1))
		require.NoError(t, err)
		uat := requestsTo(f, "devices/smss")[0].Query.Get("key")
		f.Faults().Set(sandbox.Faults{Latency: time.Second})
		_, err = c.Send(ctx, providers.Message{To: number, Text: "x"})
		require.ErrorIs(t, err, providers.ErrRetryable)
		absent(t, err.Error(), uat, "key=")
		require.Contains(t, logs.String(), "token issued", "the refresh is logged")
		absent(t, logs.String(), uat)
	})

	t.Run("provider messages that echo them", func(t *testing.T) {
		t.Parallel()
		d, _ := deps()
		s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":710,"message":"bad request %s with key %s to %s via 442071838756 secret %s"}`,
				r.URL.RawQuery, r.URL.Query().Get("key"), number, fake.DefaultDomainAPISecret)
		})
		_, err := s.client(t, d).Send(ctx, providers.Message{To: number, Text: "x"})
		require.ErrorIs(t, err, providers.ErrPermanent)
		absent(t, err.Error(), "uat-01-0123456789", "442071838756")
		require.Contains(t, err.Error(), "via ***56", "other numbers keep their last two digits")
	})
}

func TestCancelledContextIsNotAProviderFailure(t *testing.T) {
	t.Parallel()
	_, _, c := setup(t, fake.Options{}, providers.Deps{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, msg(1))
	require.ErrorIs(t, err, context.Canceled)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	valid := Options{DomainAPIKey: "k", DomainAPISecret: "s", UserID: "u"}
	require.NoError(t, valid.Validate())

	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"relative base_url", func(o *Options) { o.BaseURL = "/v1.2/" }, "kandy.base_url: must be an absolute http(s) URL"},
		{"non-http base_url", func(o *Options) { o.BaseURL = "ftp://api.kandy.io/v1.2/" }, "kandy.base_url: must be an absolute http(s) URL"},
		{"base_url with a query", func(o *Options) { o.BaseURL = "https://api.kandy.io/v1.2/?key=x" }, "kandy.base_url: must not carry a query"},
		{"no domain key", func(o *Options) { o.DomainAPIKey = "" }, "kandy.domain_api_key: required"},
		{"no domain secret", func(o *Options) { o.DomainAPISecret = " " }, "kandy.domain_api_secret: required"},
		{"no user", func(o *Options) { o.UserID = "" }, "kandy.user_id: required"},
		{"user that is only a domain", func(o *Options) { o.UserID = "@example.com" }, "kandy.user_id: required"},
		{"source not a number", func(o *Options) { o.Source = "ACME" }, "kandy.source: must be a phone number"},
		{"device id with spaces", func(o *Options) { o.DeviceID = "a b" }, "kandy.device_id: must not contain spaces"},
		{"negative token_ttl", func(o *Options) { o.TokenTTL = -time.Second }, "kandy.token_ttl: must not be negative"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "kandy.timeout: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.edit(&o)
			err := o.Validate()
			require.ErrorContains(t, err, tc.want)
			_, err = New(o, providers.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("every bad field is reported", func(t *testing.T) {
		err := Options{}.Validate()
		for _, f := range []string{"domain_api_key", "domain_api_secret", "user_id"} {
			require.ErrorContains(t, err, "kandy."+f+": required")
		}
	})

	t.Run("the source value is not echoed", func(t *testing.T) {
		o := valid
		o.Source = "+1555012345678901"
		require.NotContains(t, o.Validate().Error(), "5550123")
	})

	t.Run("defaults", func(t *testing.T) {
		o := Options{UserID: "alice@example.com"}.withDefaults()
		require.Equal(t, DefaultBaseURL, o.BaseURL)
		require.Equal(t, 30*time.Second, o.Timeout)
		require.Equal(t, "alice", o.UserID)
		c, err := New(valid, providers.Deps{})
		require.NoError(t, err)
		require.Equal(t, "kandy", c.Name())
	})
}

func TestWireNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+14155550123":     "+14155550123",
		"14155550123":      "+14155550123",
		" +639271666952 ":  "+639271666952",
		"+123456789012345": "+123456789012345",
	} {
		got, ok := wireNumber(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", "+", "+0123456789", "+1234567890123456", "+1 415 555 0123", "+123456", "ACME"} {
		_, ok := wireNumber(in)
		require.False(t, ok, in)
	}
}

// FuzzDecodeResponse feeds arbitrary answers to the decoder: it must never
// panic, every failure must be a *providers.Error of the adapter, success
// needs status 0 on a 2xx, and a secret never reaches an error string.
func FuzzDecodeResponse(f *testing.F) {
	const secret = "fuzz-secret-value"
	f.Add(200, []byte(`{"status":0,"message":"success"}`))
	f.Add(200, []byte(`{"status":"0","message":"success","result":{"user_access_token":"x"}}`))
	f.Add(200, []byte(`{"status":710,"message":"fuzz-secret-value +15550123456"}`))
	f.Add(401, []byte(`{"status":900,"message":"invalid key"}`))
	f.Add(426, []byte(``))
	f.Add(503, []byte(`{"status":"SENT","data":{"mess`))
	f.Add(200, []byte(`{"status":null}`))
	f.Add(302, []byte(`{"status":1e3}`))
	f.Fuzz(func(t *testing.T, httpStatus int, body []byte) {
		if httpStatus < 100 || httpStatus > 999 {
			httpStatus = 200
		}
		now := time.Unix(1700000000, 0)
		for _, op := range []string{opToken, opDevices, opSend} {
			env, err := interpret(op, httpStatus, http.Header{}, body, now, scrubber{secret})
			if err == nil {
				if env.Status.code != codeOK || httpStatus < 200 || httpStatus > 299 {
					t.Fatalf("success for status %d / HTTP %d", env.Status.code, httpStatus)
				}
				continue
			}
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Provider != name || pe.Op != op || pe.Class == 0 {
				t.Fatalf("unclassified error %T %v", err, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("secret in error: %v", err)
			}
			if errors.Is(err, token.ErrRejected) && op != opSend {
				t.Fatalf("only sends ask for a new token: %v", err)
			}
		}
	})
}
