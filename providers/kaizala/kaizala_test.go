package kaizala

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/providertest"
	"github.com/smsq/smsq/providers/token"
	fake "github.com/smsq/smsq/sandbox/kaizala"
)

// sandboxOptions are adapter options pointing at a fake's defaults.
func sandboxOptions(url string) Options {
	return Options{
		BaseURL:           url + "/v1",
		ApplicationID:     fake.DefaultApplicationID,
		ApplicationSecret: fake.DefaultApplicationSecret,
		RefreshToken:      fake.DefaultRefreshToken,
		Timeout:           10 * time.Second,
	}
}

// startFake serves a fake on a test server closed with t.
func startFake(t *testing.T, o fake.Options) (*fake.Server, string) {
	t.Helper()
	f := fake.New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func newClient(t *testing.T, o Options, d providers.Deps) *Client {
	t.Helper()
	c, err := New(o, d)
	require.NoError(t, err)
	return c
}

func TestContract(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, po providertest.Options) providertest.Env {
			f, url := startFake(t, fake.Options{})
			o := sandboxOptions(url)
			if po.BadCredentials {
				o.ApplicationSecret = "not-the-secret"
			}
			if po.Timeout > 0 {
				o.Timeout = po.Timeout
			}
			return providertest.Env{Fake: f, Sender: newClient(t, o, providers.Deps{Tokens: po.Store})}
		},
		// Kaizala addresses groups; the fake knows every "group-<n>".
		Message: func(i int) providers.Message {
			return providers.Message{ID: fmt.Sprint("m", i), To: fmt.Sprint("group-", i), Text: fmt.Sprint("hello ", i)}
		},
		InvalidRecipient: func() providers.Message {
			return providers.Message{To: fake.DefaultGroup, Text: "hi", Subscribers: []string{"+15550666666"}}
		},
		ReturnsIDs: true,
		Tokens:     true,
	})
}

// wireJSON decodes a recorded JSON body into a generic map.
func wireJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body %q", b)
	return m
}

func TestSendRequestOnTheWire(t *testing.T) {
	t.Parallel()
	f, url := startFake(t, fake.Options{})
	c := newClient(t, sandboxOptions(url), providers.Deps{})

	res, err := c.Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: "Hello\nworld",
		Subscribers: []string{"+911999999999", "+14155550100"}, AllSubscribers: true})
	require.NoError(t, err)
	_, err = c.Send(context.Background(), providers.Message{To: "group-2", Text: "plain"})
	require.NoError(t, err)

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 3)

	tokReq := reqs[0]
	require.Equal(t, http.MethodGet, tokReq.Method)
	require.Equal(t, "/v1/accessToken", tokReq.Path)
	require.Equal(t, fake.DefaultApplicationID, tokReq.Header.Get("applicationId"))
	require.Equal(t, fake.DefaultApplicationSecret, tokReq.Header.Get("applicationSecret"))
	require.Equal(t, fake.DefaultRefreshToken, tokReq.Header.Get("refreshToken"))
	require.Empty(t, tokReq.Body)

	send := reqs[1]
	require.Equal(t, http.MethodPost, send.Method)
	require.Equal(t, "/v1/groups/"+fake.DefaultGroup+"/messages", send.Path)
	require.Len(t, send.Header.Get("accessToken"), 64, "the raw token the fake issued, no scheme word")
	require.Empty(t, send.Header.Get("Authorization"))
	require.Equal(t, "application/json", send.Header.Get("Content-Type"))
	require.Equal(t, map[string]any{
		"message":              "Hello\nworld",
		"sendToAllSubscribers": true,
		"subscribers":          []any{"+911999999999", "+14155550100"},
	}, wireJSON(t, send.Body))
	require.Equal(t, f.Recorder().Accepted()[0].ID, res.ProviderID)

	plain := reqs[2]
	require.Equal(t, "/v1/groups/group-2/messages", plain.Path)
	require.Equal(t, send.Header.Get("accessToken"), plain.Header.Get("accessToken"), "the token is reused")
	require.Equal(t, map[string]any{"message": "plain"}, wireJSON(t, plain.Body), "false and empty fields are left out")
}

func TestURLsJoinWithOrWithoutTrailingSlash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, base, endpointSuffix string }{
		{"base with slash, endpoint without", "/v1/", ""},
		{"base without slash, endpoint with", "/v1", "/"},
		{"both with", "/v1/", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewUnstartedServer(nil)
			root := "http://" + srv.Listener.Addr().String()
			f := fake.New(fake.Options{EndpointURL: root + tc.endpointSuffix})
			srv.Config.Handler = f
			srv.Start()
			t.Cleanup(srv.Close)

			o := sandboxOptions(root)
			o.BaseURL = root + tc.base
			_, err := newClient(t, o, providers.Deps{}).Send(context.Background(), providers.Message{To: "group-1", Text: "x"})
			require.NoError(t, err)
			reqs := f.Recorder().Requests()
			require.Equal(t, "/v1/accessToken", reqs[0].Path)
			require.Equal(t, "/v1/groups/group-1/messages", reqs[1].Path)
		})
	}
}

func TestMessagesRefusedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	f, url := startFake(t, fake.Options{})
	c := newClient(t, sandboxOptions(url), providers.Deps{})
	for _, tc := range []struct {
		name string
		m    providers.Message
		want error
	}{
		{"no group", providers.Message{Text: "x"}, providers.ErrPermanent},
		{"empty text", providers.Message{To: fake.DefaultGroup}, providers.ErrPermanent},
		{"text over 4000 characters", providers.Message{To: fake.DefaultGroup, Text: strings.Repeat("ü", MaxMessageChars+1)}, providers.ErrPermanent},
		{"subscriber not in E.164", providers.Message{To: fake.DefaultGroup, Text: "x", Subscribers: []string{"0199 999 999"}}, providers.ErrInvalidRecipient},
	} {
		_, err := c.Send(context.Background(), tc.m)
		require.ErrorIs(t, err, tc.want, tc.name)
		var pe *providers.Error
		require.ErrorAs(t, err, &pe, tc.name)
		require.Equal(t, "kaizala", pe.Provider)
	}
	require.Zero(t, f.Recorder().Calls())

	_, err := c.Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: strings.Repeat("ü", MaxMessageChars)})
	require.NoError(t, err, "4000 characters (not bytes) is allowed")
}

func TestFakeRefusalsAreClassified(t *testing.T) {
	t.Parallel()
	_, url := startFake(t, fake.Options{})
	c := newClient(t, sandboxOptions(url), providers.Deps{})

	_, err := c.Send(context.Background(), providers.Message{To: "unknown-group", Text: "x"})
	require.ErrorIs(t, err, providers.ErrPermanent)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, http.StatusNotFound, pe.HTTPStatus)
	require.Equal(t, "GroupNotFound", pe.Code)

	_, err = c.Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: "x", Subscribers: []string{"+919876666666"}})
	require.ErrorIs(t, err, providers.ErrInvalidRecipient)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, fake.CodeInvalidSubscriber, pe.Code)
	require.NotContains(t, err.Error(), "9876666666", "the fake echoes the number; the adapter must not")
	require.Contains(t, err.Error(), "…66")
}

func TestBadCredentialsStayOutOfErrors(t *testing.T) {
	t.Parallel()
	_, url := startFake(t, fake.Options{})
	o := sandboxOptions(url)
	o.ApplicationSecret = "s3cr3t-value-nobody-may-see"
	_, err := newClient(t, o, providers.Deps{}).Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: "x"})
	require.ErrorIs(t, err, providers.ErrAuth)
	require.NotErrorIs(t, err, token.ErrRejected, "a refused token call is not retried")
	require.NotContains(t, err.Error(), o.ApplicationSecret)
	require.NotContains(t, err.Error(), o.RefreshToken)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "token", pe.Op)
	require.Equal(t, "InvalidToken", pe.Code)
}

func TestCancelledCallerGetsContextCanceled(t *testing.T) {
	t.Parallel()
	_, url := startFake(t, fake.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newClient(t, sandboxOptions(url), providers.Deps{}).Send(ctx, providers.Message{To: fake.DefaultGroup, Text: "x"})
	require.ErrorIs(t, err, context.Canceled)
}

// twoProcesses returns two adapters that share one Redis token store, as
// two worker processes would.
func twoProcesses(t *testing.T, o Options) (*Client, *Client, token.Store) {
	t.Helper()
	store := &token.RedisStore{Client: redistest.Start(t).Client()}
	return newClient(t, o, providers.Deps{Tokens: store}), newClient(t, o, providers.Deps{Tokens: store}), store
}

func TestTwoProcessesShareOneToken(t *testing.T) {
	t.Parallel()
	f, url := startFake(t, fake.Options{})
	a, b, _ := twoProcesses(t, sandboxOptions(url))

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	start := make(chan struct{})
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := c.Send(context.Background(), providers.Message{To: fmt.Sprint("group-", i), Text: "x"})
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, f.Recorder().TokensIssued())
	require.Equal(t, 40, f.Recorder().AcceptedCount())
}

// clock is a settable clock shared by the adapter and the fake.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestTokenIsRenewedBeforeItExpires(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC))
	f, url := startFake(t, fake.Options{Now: clk.Now})
	c := newClient(t, sandboxOptions(url), providers.Deps{Now: clk.Now})
	send := func() {
		t.Helper()
		_, err := c.Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: "x"})
		require.NoError(t, err)
	}

	send()
	clk.Advance(24*time.Hour - DefaultRefreshBefore - time.Second)
	send()
	require.Equal(t, 1, f.Recorder().TokensIssued(), "still outside the refresh window")

	clk.Advance(2 * time.Second) // 9m59s before expiry: the fake would still take the old token
	send()
	require.Equal(t, 2, f.Recorder().TokensIssued(), "renewed ahead of expiry")
	require.Equal(t, 5, f.Recorder().Calls(), "two token calls and three sends: no 401 and no second try")
}

func TestRotatedRefreshTokenIsStoredAndUsedByOtherProcesses(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC))
	f, url := startFake(t, fake.Options{RotateRefreshToken: true, Now: clk.Now})
	o := sandboxOptions(url)
	store := &token.RedisStore{Client: redistest.Start(t).Client()}
	a := newClient(t, o, providers.Deps{Tokens: store, Now: clk.Now})
	b := newClient(t, o, providers.Deps{Tokens: store, Now: clk.Now})
	msg := providers.Message{To: fake.DefaultGroup, Text: "x"}
	refreshUsed := func() []string {
		var used []string
		for _, r := range f.Recorder().Requests() {
			if r.Path == "/v1/accessToken" {
				used = append(used, r.Header.Get("refreshToken"))
			}
		}
		return used
	}

	_, err := a.Send(context.Background(), msg)
	require.NoError(t, err)
	first := f.RefreshToken()
	require.NotEqual(t, fake.DefaultRefreshToken, first, "the fake replaced the configured token")
	stored, ok, err := store.Get(context.Background(), token.Key("kaizala-refresh", o.ApplicationID, o.RefreshToken))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, first, stored.Value)
	require.True(t, stored.Expiry.IsZero(), "kept without expiry")

	// B never saw the rotation: it must read the replacement from the store,
	// since the configured token no longer works.
	f.ExpireTokens()
	_, err = b.Send(context.Background(), msg)
	require.NoError(t, err)
	second := f.RefreshToken()
	require.Equal(t, []string{fake.DefaultRefreshToken, first}, refreshUsed())

	// A day later A renews, with the token B's fetch left in the store.
	clk.Advance(24 * time.Hour)
	_, err = a.Send(context.Background(), msg)
	require.NoError(t, err)
	require.Equal(t, []string{fake.DefaultRefreshToken, first, second}, refreshUsed())
	require.Equal(t, 3, f.Recorder().TokensIssued())
}

func TestEndpointMoveIsFollowedAndShared(t *testing.T) {
	t.Parallel()
	f, url := startFake(t, fake.Options{})
	a, b, _ := twoProcesses(t, sandboxOptions(url))
	msg := providers.Message{To: fake.DefaultGroup, Text: "x"}

	_, err := a.Send(context.Background(), msg)
	require.NoError(t, err)
	f.Redirect308("/moved/")

	_, err = a.Send(context.Background(), msg) // 308, then the new endpoint
	require.NoError(t, err)
	_, err = a.Send(context.Background(), msg) // straight to the new endpoint
	require.NoError(t, err)
	_, err = b.Send(context.Background(), msg) // learns it from the store
	require.NoError(t, err)

	var paths []string
	for _, r := range f.Recorder().Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	const old, moved = "POST /v1/groups/sandbox-group/messages", "POST /moved/v1/groups/sandbox-group/messages"
	require.Equal(t, []string{"GET /v1/accessToken", old, old, moved, moved, moved}, paths)
	require.Equal(t, 1, f.Recorder().TokensIssued(), "a move does not cost a token")
	require.Equal(t, 4, f.Recorder().AcceptedCount())
}

func TestTokenServiceMoveIsFollowed(t *testing.T) {
	t.Parallel()
	f, url := startFake(t, fake.Options{})
	f.RedirectToken308("/moved/")
	c := newClient(t, sandboxOptions(url), providers.Deps{})

	_, err := c.Send(context.Background(), providers.Message{To: fake.DefaultGroup, Text: "x"})
	require.NoError(t, err)
	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "/v1/accessToken", reqs[0].Path)
	require.Equal(t, "/moved/v1/accessToken", reqs[1].Path)
	for _, h := range []string{"applicationId", "applicationSecret", "refreshToken"} {
		require.Equal(t, reqs[0].Header.Get(h), reqs[1].Header.Get(h), "%s is sent again", h)
	}
	require.Equal(t, "/v1/groups/sandbox-group/messages", reqs[2].Path)
}

// scripted is a stand-in Kaizala whose messages endpoint gives a fixed
// answer, for envelope variants the fake never produces.
type scripted struct {
	status int
	header map[string]string
	body   string

	tokens, sends atomic.Int32
}

func (s *scripted) start(t *testing.T) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/accessToken" {
			s.tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			// endpointUrl without a trailing slash, like the Swagger example
			fmt.Fprintf(w, `{"accessToken":"tok-%d","endpointUrl":"http://%s","accessTokenExpiry":%d,"refreshToken":null,"scope":"token.write"}`,
				s.tokens.Load(), r.Host, time.Now().Add(24*time.Hour).UnixMilli())
			return
		}
		s.sends.Add(1)
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(s.status)
		_, _ = io.WriteString(w, s.body)
	}))
	t.Cleanup(srv.Close)
	return newClient(t, Options{BaseURL: srv.URL + "/v1", ApplicationID: "a", ApplicationSecret: "b", RefreshToken: "c",
		Timeout: 2 * time.Second}, providers.Deps{})
}

func TestAnswerVariants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		s      *scripted
		want   error
		code   string
		sends  int32
		tokens int32
		wait   time.Duration
	}{
		{name: "202 with a referenceId is accepted", s: &scripted{status: 202, body: `{"referenceId":"0de2f027-bf2b-407d-903e-a3fba0ee33b1"}`}, sends: 1, tokens: 1},
		{name: "400 about the request", s: &scripted{status: 400, body: `{"message":"Bad","errorCode":"BadRequest","errorCategoryKey":"BadRequest"}`},
			want: providers.ErrPermanent, code: "BadRequest", sends: 1, tokens: 1},
		{name: "400 naming a subscriber without a code", s: &scripted{status: 400, body: `{"message":"Subscriber +911999999999 does not exist"}`},
			want: providers.ErrInvalidRecipient, sends: 1, tokens: 1},
		{name: "404 unknown group", s: &scripted{status: 404, body: `{"message":"x","errorCode":"GroupNotFound","errorCategoryKey":"NotFound"}`},
			want: providers.ErrPermanent, code: "GroupNotFound", sends: 1, tokens: 1},
		{name: "401 twice: one refetch, then auth", s: &scripted{status: 401, body: `{"message":"Token missing. Header should have token as value of ACCESSTOKEN","errorCode":"InvalidToken","errorCategoryKey":"AuthException"}`},
			want: providers.ErrAuth, code: "InvalidToken", sends: 2, tokens: 2},
		{name: "403 is auth without a refetch", s: &scripted{status: 403, body: `{"message":"not allowed"}`}, want: providers.ErrAuth, sends: 1, tokens: 1},
		{name: "429 with seconds", s: &scripted{status: 429, header: map[string]string{"Retry-After": "5"}}, want: providers.ErrRateLimited, sends: 1, tokens: 1, wait: 5 * time.Second},
		{name: "502 with an HTML page", s: &scripted{status: 502, body: "<html>bad gateway</html>"}, want: providers.ErrRetryable, sends: 1, tokens: 1},
		{name: "200 without referenceId", s: &scripted{status: 200, body: `{}`}, want: providers.ErrRetryable, sends: 1, tokens: 1},
		{name: "200 that is not JSON", s: &scripted{status: 200, body: `OK`}, want: providers.ErrRetryable, sends: 1, tokens: 1},
		{name: "302 is unexpected", s: &scripted{status: 302, header: map[string]string{"Location": "/elsewhere"}}, want: providers.ErrRetryable, sends: 1, tokens: 1},
		{name: "308 without Location", s: &scripted{status: 308}, want: providers.ErrRetryable, sends: 1, tokens: 1},
		{name: "308 that keeps moving", s: &scripted{status: 308, header: map[string]string{"Location": "/next/"}}, want: providers.ErrRetryable, sends: 2, tokens: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.s.start(t)
			res, err := c.Send(context.Background(), providers.Message{To: "g", Text: "x"})
			require.Equal(t, tc.sends, tc.s.sends.Load(), "message calls")
			require.Equal(t, tc.tokens, tc.s.tokens.Load(), "token calls")
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, "0de2f027-bf2b-407d-903e-a3fba0ee33b1", res.ProviderID)
				return
			}
			require.ErrorIs(t, err, tc.want)
			var pe *providers.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.code, pe.Code)
			require.Equal(t, tc.wait, pe.RetryAfter)
			require.NotContains(t, err.Error(), "1999999999")
			require.NotContains(t, err.Error(), "tok-")
		})
	}
}

func TestDecodeToken(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tok, next, err := decodeToken(200, nil, []byte(`{"accessToken":"t","endpointUrl":"https://kms-alpha.kaiza.la/","accessTokenExpiry":1518481686294,"refreshToken":"","scope":"token.write"}`), now)
	require.NoError(t, err)
	require.Equal(t, "t", tok.Value)
	require.Equal(t, time.UnixMilli(1518481686294), tok.Expiry, "epoch milliseconds beyond int32")
	require.Equal(t, "https://kms-alpha.kaiza.la/", tok.Extra["endpoint_url"])
	require.Empty(t, next)

	tok, next, err = decodeToken(200, nil, []byte(`{"accessToken":"t","endpointUrl":"https://inc-000.KaizalaMessaging.osi.office.net","accessTokenExpiry":1.518481686294e12,"refreshToken":"new"}`), now)
	require.NoError(t, err)
	require.Equal(t, time.UnixMilli(1518481686294), tok.Expiry)
	require.Equal(t, "new", next)

	for name, body := range map[string]string{
		"no access token":     `{"endpointUrl":"https://x/"}`,
		"no endpoint":         `{"accessToken":"t"}`,
		"relative endpoint":   `{"accessToken":"t","endpointUrl":"/v1/"}`,
		"expiry not a number": `{"accessToken":"t","endpointUrl":"https://x/","accessTokenExpiry":"soon"}`,
		"not JSON":            `<html>`,
	} {
		_, _, err := decodeToken(200, nil, []byte(body), now)
		require.ErrorIs(t, err, providers.ErrRetryable, name)
	}

	_, _, err = decodeToken(401, nil, []byte(`{"message":"bad","errorCode":"InvalidToken","errorCategoryKey":"AuthException"}`), now)
	require.ErrorIs(t, err, providers.ErrAuth)
	_, _, err = decodeToken(400, nil, nil, now)
	require.ErrorIs(t, err, providers.ErrAuth, "a refused token call is a configuration problem")
	_, _, err = decodeToken(429, http.Header{"Retry-After": {"60"}}, nil, now)
	require.ErrorIs(t, err, providers.ErrRateLimited)
	require.Equal(t, time.Minute, providers.RetryAfterOf(err))
	_, _, err = decodeToken(503, nil, nil, now)
	require.ErrorIs(t, err, providers.ErrRetryable)
}

func TestMovedEndpoint(t *testing.T) {
	t.Parallel()
	const path = "v1/groups/g%2F1/messages"
	from := "https://kms-alpha.kaiza.la/" + path
	for loc, want := range map[string]string{
		"https://kms-beta.kaiza.la/":              "https://kms-beta.kaiza.la/",
		"https://kms-beta.kaiza.la":               "https://kms-beta.kaiza.la/",
		"https://kms-beta.kaiza.la/x/" + path:     "https://kms-beta.kaiza.la/x/",
		"/elsewhere":                              "https://kms-alpha.kaiza.la/elsewhere/",
		"https://kms-beta.kaiza.la/?q=1#fragment": "https://kms-beta.kaiza.la/",
	} {
		got, err := movedEndpoint(from, loc, path)
		require.NoError(t, err, loc)
		require.Equal(t, want, got, loc)
	}
	for _, loc := range []string{"", "http://kms-beta.kaiza.la/", "ftp://x/", "://"} {
		_, err := movedEndpoint(from, loc, path)
		require.Error(t, err, loc)
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Subscriber +…99 is unknown", scrub("Subscriber +911999999999 is unknown"))
	require.Equal(t, "token [redacted] refused", scrub("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc refused"))
	require.Equal(t, "code 12345 a b", scrub("code 12345\na\tb"))
	require.Len(t, []rune(scrub(strings.Repeat("word ", 100))), 201)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Options{ApplicationID: "a", ApplicationSecret: "b", RefreshToken: "c"}
	require.NoError(t, good.Validate(), "zero base_url, refresh_before and timeout take defaults")
	require.Equal(t, Options{BaseURL: DefaultBaseURL, ApplicationID: "a", ApplicationSecret: "b", RefreshToken: "c",
		RefreshBefore: 10 * time.Minute, Timeout: time.Minute}, good.withDefaults())

	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.ApplicationID = "" }, "kaizala.application_id: required"},
		{func(o *Options) { o.ApplicationSecret = "" }, "kaizala.application_secret: required"},
		{func(o *Options) { o.RefreshToken = "" }, "kaizala.refresh_token: required"},
		{func(o *Options) { o.RefreshToken = "abc\r\nX-Evil: 1" }, "kaizala.refresh_token: must not contain control characters"},
		{func(o *Options) { o.BaseURL = "api.kaiza.la/v1" }, "kaizala.base_url: must be an absolute http or https URL"},
		{func(o *Options) { o.BaseURL = "ftp://api.kaiza.la/v1" }, "kaizala.base_url: must be an absolute http or https URL"},
		{func(o *Options) { o.RefreshBefore = -time.Second }, "kaizala.refresh_before: must be between 0 and 12h"},
		{func(o *Options) { o.RefreshBefore = 13 * time.Hour }, "kaizala.refresh_before: must be between 0 and 12h"},
		{func(o *Options) { o.Timeout = -1 }, "kaizala.timeout: must not be negative"},
	} {
		o := good
		tc.edit(&o)
		err := o.Validate()
		require.ErrorContains(t, err, tc.want)
		_, err = New(o, providers.Deps{})
		require.ErrorContains(t, err, tc.want, "New validates")
	}
	err := Options{}.Validate()
	for _, f := range []string{"application_id", "application_secret", "refresh_token"} {
		require.ErrorContains(t, err, "kaizala."+f+": required", "every bad field is reported")
	}
	require.NotContains(t, Options{ApplicationID: "a", ApplicationSecret: "top\nsecret", RefreshToken: "c"}.Validate().Error(), "top")
}

func TestNoStatusOrBalanceCapability(t *testing.T) {
	t.Parallel()
	var s providers.Sender = newClient(t, Options{ApplicationID: "a", ApplicationSecret: "b", RefreshToken: "c"}, providers.Deps{})
	_, poll := s.(providers.StatusPoller)
	_, bal := s.(providers.BalanceChecker)
	_, batch := s.(providers.BatchSender)
	require.False(t, poll || bal || batch, "Kaizala has no status pull, balance or per-recipient batch API")
	require.Equal(t, "kaizala", s.Name())
}

func FuzzDecodeSend(f *testing.F) {
	f.Add(200, []byte(`{"referenceId":"0de2f027-bf2b-407d-903e-a3fba0ee33b1"}`), "")
	f.Add(401, []byte(`{"message":"Token missing","errorCode":"InvalidToken","errorCategoryKey":"AuthException"}`), "")
	f.Add(400, []byte(`{"message":"Subscriber +911999999999 invalid","errorCode":7}`), "")
	f.Add(429, []byte(`{"message":"slow down"}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(200, []byte(`{"status":"SENT","data":{"mess`), "")
	f.Add(308, []byte{0xff, 0xfe}, "1e400")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		res, err := decodeSend(status, http.Header{"Retry-After": {retryAfter}}, body, time.Now())
		if err == nil {
			require.NotEmpty(t, res.ProviderID)
			return
		}
		var pe *providers.Error
		require.True(t, errors.As(err, &pe), "every failure is a *providers.Error")
		require.LessOrEqual(t, len([]rune(pe.Message)), 201)
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(200, []byte(`{"accessToken":"t","endpointUrl":"https://kms-alpha.kaiza.la/","accessTokenExpiry":1518481686294,"refreshToken":"","scope":"token.write"}`))
	f.Add(200, []byte(`{"accessToken":"t","endpointUrl":"https://x","accessTokenExpiry":-1e300}`))
	f.Add(200, []byte(`{"accessToken":"t","endpointUrl":"https://x","accessTokenExpiry":9223372036854775807}`))
	f.Add(401, []byte(`{"message":"bad","errorCode":"InvalidToken"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		tok, _, err := decodeToken(status, nil, body, time.Now())
		if err == nil {
			require.NotEmpty(t, tok.Value)
			require.NotEmpty(t, tok.Extra["endpoint_url"])
			return
		}
		var pe *providers.Error
		require.True(t, errors.As(err, &pe), "every failure is a *providers.Error")
	})
}

func BenchmarkSend(b *testing.B) {
	f := fake.New(fake.Options{})
	f.Recorder().KeepMessages(false)
	f.Recorder().MaxRequests = 1
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(sandboxOptions(srv.URL), providers.Deps{})
	require.NoError(b, err)
	msg := providers.Message{To: fake.DefaultGroup, Text: "benchmark"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
