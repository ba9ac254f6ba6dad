package sakari

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/providertest"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox"
	fake "github.com/smsq/smsq/sandbox/sakari"
)

// clock is a settable time source shared by an adapter and its fake.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// setup is a fake on a test server and an adapter pointed at it.
type setup struct {
	fake   *fake.Server
	srv    *httptest.Server
	client *Client
}

type setupOptions struct {
	fake    fake.Options
	adapter func(*Options)
	deps    providers.Deps
	// wrap, when set, sits in front of the fake (to inject one-off answers).
	wrap func(http.Handler) http.Handler
}

func newSetup(t *testing.T, so setupOptions) *setup {
	t.Helper()
	f := fake.New(so.fake)
	t.Cleanup(f.Close)
	var h http.Handler = f
	if so.wrap != nil {
		h = so.wrap(f)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o := Options{BaseURL: srv.URL, ClientID: fake.DefaultClientID, ClientSecret: fake.DefaultClientSecret,
		AccountID: fake.DefaultAccountID, Timeout: 10 * time.Second}
	if so.fake.ClientID != "" {
		o.ClientID, o.ClientSecret, o.AccountID = so.fake.ClientID, so.fake.ClientSecret, so.fake.AccountID
	}
	if so.adapter != nil {
		so.adapter(&o)
	}
	c, err := New(o, so.deps)
	require.NoError(t, err)
	return &setup{fake: f, srv: srv, client: c}
}

func number(i int) string { return fmt.Sprintf("+1555%07d", i) }

const unreachable = "+15550666666"

func TestContract(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, o providertest.Options) providertest.Env {
			timeout := o.Timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			s := newSetup(t, setupOptions{
				adapter: func(opt *Options) {
					opt.Timeout = timeout
					if o.BadCredentials {
						opt.ClientSecret = "not-the-secret"
					}
				},
				deps: providers.Deps{Tokens: o.Store},
			})
			return providertest.Env{Fake: s.fake, Sender: s.client}
		},
		Message: func(i int) providers.Message {
			return providers.Message{ID: fmt.Sprintf("m%d", i), To: number(i), Text: "Your code is 1234"}
		},
		InvalidRecipient: func() providers.Message {
			return providers.Message{ID: "bad", To: unreachable, Text: "Your code is 1234"}
		},
		ReturnsIDs: true,
		Tokens:     true,
	})
}

func TestSendPutsTheDocumentedRequestOnTheWire(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{})
	res, err := s.client.Send(context.Background(), providers.Message{ID: "x1", To: "+15551230001", Text: "Hello ünïcode"})
	require.NoError(t, err)
	require.Len(t, res.ProviderID, 24, "Sakari ids are 24-hex")
	require.Equal(t, "queued", res.Status)

	reqs := s.fake.Recorder().Requests()
	require.Len(t, reqs, 2)

	tok := reqs[0]
	require.Equal(t, http.MethodPost, tok.Method)
	require.Equal(t, "/oauth2/token", tok.Path)
	require.Equal(t, "application/json", tok.Header.Get("Content-Type"))
	require.JSONEq(t, fmt.Sprintf(`{"grant_type":"client_credentials","client_id":%q,"client_secret":%q}`,
		fake.DefaultClientID, fake.DefaultClientSecret), string(tok.Body))

	send := reqs[1]
	require.Equal(t, http.MethodPost, send.Method)
	require.Equal(t, "/v1/accounts/"+fake.DefaultAccountID+"/messages", send.Path)
	require.Equal(t, "application/json", send.Header.Get("Content-Type"))
	require.Equal(t, "application/json", send.Header.Get("Accept"))
	auth := send.Header.Get("Authorization")
	require.True(t, strings.HasPrefix(auth, "Bearer "), "scheme Bearer, got %q", auth)
	require.Len(t, strings.Split(strings.TrimPrefix(auth, "Bearer "), "."), 3, "the token is a JWT")
	require.JSONEq(t, `{"contacts":[{"mobile":{"number":"+15551230001"}}],"template":"Hello ünïcode","type":"SMS"}`, string(send.Body))
}

func TestBaseURLMayEndInSlashOrV1OrSitUnderAPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		suffix string
		mount  string
	}{
		{"trailing slash", "/", ""},
		{"older spec server with /v1", "/v1", ""},
		{"mounted under /sakari", "/sakari/", "/sakari"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var wrap func(http.Handler) http.Handler
			if tc.mount != "" {
				wrap = func(h http.Handler) http.Handler {
					mux := http.NewServeMux()
					mux.Handle(tc.mount+"/", http.StripPrefix(tc.mount, h))
					return mux
				}
			}
			s := newSetup(t, setupOptions{wrap: wrap, adapter: func(o *Options) {}})
			c, err := New(Options{BaseURL: s.srv.URL + tc.suffix, ClientID: fake.DefaultClientID,
				ClientSecret: fake.DefaultClientSecret, AccountID: fake.DefaultAccountID}, providers.Deps{})
			require.NoError(t, err)
			_, err = c.Send(context.Background(), providers.Message{To: number(1), Text: "hi"})
			require.NoError(t, err)
			hook := "https://hooks.example.com/sakari?src=smsq"
			_, err = c.Subscribe(context.Background(), hook, nil)
			require.NoError(t, err)
			require.NoError(t, c.Unsubscribe(context.Background(), hook), "an encoded URL survives the mount")
			require.Empty(t, s.fake.Subscriptions())
		})
	}
}

func sentBodies(t *testing.T, f *fake.Server) []sendRequest {
	t.Helper()
	var out []sendRequest
	for _, r := range f.Recorder().Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/messages") {
			var b sendRequest
			require.NoError(t, json.Unmarshal(r.Body, &b))
			out = append(out, b)
		}
	}
	return out
}

func contactsOf(b sendRequest) []string {
	var ns []string
	for _, c := range b.Contacts {
		ns = append(ns, c.Mobile.Number)
	}
	return ns
}

func TestSendBatchGroupsByTextAndRespectsMaxBatch(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{adapter: func(o *Options) { o.MaxBatch = 2 }})
	ms := []providers.Message{
		{To: number(0), Text: "A"}, {To: number(1), Text: "B"}, {To: number(2), Text: "A"},
		{To: number(3), Text: "A"}, {To: number(4), Text: "B"},
	}
	res, err := s.client.SendBatch(context.Background(), ms)
	require.NoError(t, err)
	require.Len(t, res, len(ms))

	bodies := sentBodies(t, s.fake)
	require.Len(t, bodies, 3, "A in two calls (cap 2), B in one")
	require.Equal(t, "A", bodies[0].Template)
	require.Equal(t, []string{number(0), number(2)}, contactsOf(bodies[0]))
	require.Equal(t, "A", bodies[1].Template)
	require.Equal(t, []string{number(3)}, contactsOf(bodies[1]))
	require.Equal(t, "B", bodies[2].Template)
	require.Equal(t, []string{number(1), number(4)}, contactsOf(bodies[2]))

	ids := map[string]string{}
	for _, a := range s.fake.Recorder().Accepted() {
		ids[a.To] = a.ID
	}
	for i, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, ids[ms[i].To], r.ProviderID, "result %d is matched to its own number", i)
	}
}

func TestSendBatchNeverRepeatsANumberInOneCall(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{})
	ms := []providers.Message{{To: number(7), Text: "same"}, {To: number(7), Text: "same"}, {To: number(8), Text: "same"}}
	res, err := s.client.SendBatch(context.Background(), ms)
	require.NoError(t, err)
	bodies := sentBodies(t, s.fake)
	require.Len(t, bodies, 2)
	require.Equal(t, []string{number(7), number(8)}, contactsOf(bodies[0]))
	require.Equal(t, []string{number(7)}, contactsOf(bodies[1]))
	require.NotEqual(t, res[0].ProviderID, res[1].ProviderID)
	require.Equal(t, 2, s.fake.Recorder().PerDestination()[number(7)])
}

func TestSendBatchReportsRefusedContactsPerMessage(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{fake: fake.Options{OptedOut: []string{number(3)}}})
	ms := []providers.Message{
		{To: number(0), Text: "t"}, {To: unreachable, Text: "t"}, {To: number(2), Text: "t"},
		{To: number(3), Text: "t"}, {To: "5551234", Text: "t"}, {To: number(5), Text: ""},
	}
	res, err := s.client.SendBatch(context.Background(), ms)
	require.NoError(t, err)
	require.Len(t, sentBodies(t, s.fake), 1, "refusals come back in data.invalid of one call")

	require.NoError(t, res[0].Err)
	require.NoError(t, res[2].Err)
	require.NotEmpty(t, res[0].ProviderID)

	requireCode(t, res[1].Err, providers.ErrInvalidRecipient, "CONT-001")
	requireCode(t, res[3].Err, providers.ErrInvalidRecipient, "CONT-010")
	require.ErrorIs(t, res[4].Err, providers.ErrInvalidRecipient, "not E.164: refused before any call")
	require.ErrorIs(t, res[5].Err, providers.ErrPermanent, "empty text")
	require.Equal(t, 2, s.fake.Recorder().AcceptedCount())
}

func requireCode(t *testing.T, err, class error, code string) {
	t.Helper()
	require.ErrorIs(t, err, class)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, code, pe.Code)
	require.Equal(t, Name, pe.Provider)
}

func TestSendBatchHalvesACallRefusedOutright(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{})
	ms := []providers.Message{{To: "+15551666666", Text: "t"}, {To: "+15552666666", Text: "t"}, {To: "+15553666666", Text: "t"}}
	res, err := s.client.SendBatch(context.Background(), ms)
	require.NoError(t, err, "a refusal of every contact is per message, not a failed batch")
	for i, r := range res {
		requireCode(t, r.Err, providers.ErrInvalidRecipient, "CONT-001")
		require.Empty(t, r.ProviderID, "message %d", i)
	}
	// [a b c] → [a] + [b c] → [b] + [c]
	require.Len(t, sentBodies(t, s.fake), 5)
}

func TestSendBatchFailingMidwayKeepsWhatWasAccepted(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	failSecond := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") && sends.Add(1) == 2 {
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	s := newSetup(t, setupOptions{wrap: failSecond, adapter: func(o *Options) { o.MaxBatch = 1 }})
	ms := []providers.Message{{To: number(0), Text: "t"}, {To: number(1), Text: "t"}, {To: number(2), Text: "t"}}
	res, err := s.client.SendBatch(context.Background(), ms)
	require.NoError(t, err, "the first call was accepted, so the batch did not fail as a whole")
	require.NoError(t, res[0].Err)
	require.NotEmpty(t, res[0].ProviderID)
	require.ErrorIs(t, res[1].Err, providers.ErrRetryable)
	require.ErrorIs(t, res[2].Err, providers.ErrRetryable, "not tried after the failure")
	require.Equal(t, 1, s.fake.Recorder().AcceptedCount())

	// When the very first call fails nothing was accepted: the batch fails.
	s2 := newSetup(t, setupOptions{})
	s2.fake.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	res, err = s2.client.SendBatch(context.Background(), ms)
	require.ErrorIs(t, err, providers.ErrRetryable)
	require.Nil(t, res)
}

// stub is a hand-written Sakari whose API answers are set per test, to cover
// the envelope variants the fake does not produce.
type stub struct {
	srv    *httptest.Server
	tokens atomic.Int32
	calls  atomic.Int32
	client *Client
	now    *clock
}

func newStub(t *testing.T, api http.HandlerFunc, tokenBody func(now time.Time) string) *stub {
	t.Helper()
	st := &stub{now: newClock()}
	if tokenBody == nil {
		tokenBody = func(now time.Time) string {
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}).SignedString([]byte("k"))
			return `{"access_token":"` + tok + `","token_type":"Bearer"}`
		}
	}
	st.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			st.tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, tokenBody(st.now.Now()))
			return
		}
		st.calls.Add(1)
		api(w, r)
	}))
	t.Cleanup(st.srv.Close)
	c, err := New(Options{BaseURL: st.srv.URL, ClientID: "id", ClientSecret: "secret", AccountID: "acc"},
		providers.Deps{Now: st.now.Now})
	require.NoError(t, err)
	st.client = c
	return st
}

func answer(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestSendMapsSakariErrorsToClasses(t *testing.T) {
	t.Parallel()
	env := func(code, msg string) string {
		return `{"success":false,"error":{"code":"` + code + `","message":"` + msg + `"}}`
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		hdr    []string
		class  error
		code   string
	}{
		{"invalid number", 400, env("CONT-001", "Invalid mobile number"), nil, providers.ErrInvalidRecipient, "CONT-001"},
		{"opted out", 400, env("CONT-010", "Contact opted out"), nil, providers.ErrInvalidRecipient, "CONT-010"},
		{"insufficient credit", 402, env("ACCT-006", "Insufficient credit"), nil, providers.ErrPermanent, "ACCT-006"},
		{"too long", 400, env("MSG-007", "Message too long"), nil, providers.ErrPermanent, "MSG-007"},
		{"unknown account", 404, env("ACCT-008", "Invalid account id"), nil, providers.ErrAuth, "ACCT-008"},
		{"no API access", 403, env("ACCT-016", "Insufficient access"), nil, providers.ErrAuth, "ACCT-016"},
		{"auth code on a 400", 400, env("AUTH-009", "Scope missing"), nil, providers.ErrAuth, "AUTH-009"},
		{"bare 400", 400, ``, nil, providers.ErrPermanent, ""},
		{"bare 403", 403, `<html>forbidden</html>`, nil, providers.ErrAuth, ""},
		{"429 without Retry-After", 429, env("RATE-001", "Too many requests"), nil, providers.ErrRateLimited, "RATE-001"},
		{"502 from a proxy", 502, `<html>bad gateway</html>`, nil, providers.ErrRetryable, ""},
		{"success false on a 200", 200, env("ACCT-006", "Insufficient credit"), nil, providers.ErrPermanent, "ACCT-006"},
		{"200 listing the contact as invalid", 200,
			`{"success":true,"data":{"messages":[],"jobId":"j","requested":1,"valid":0,"invalid":[{"mobile":{"number":"+15551230001"},"error":{"code":"CONT-001","description":"Invalid mobile number"}}]}}`,
			nil, providers.ErrInvalidRecipient, "CONT-001"},
		{"200 truncated", 200, `{"success":true,"data":{"mess`, nil, providers.ErrRetryable, ""},
		{"200 without data", 200, `{"success":true}`, nil, providers.ErrRetryable, ""},
		{"redirect", 301, ``, []string{"Location", "https://elsewhere"}, providers.ErrPermanent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStub(t, answer(tc.status, tc.body, tc.hdr...), nil)
			_, err := st.client.Send(context.Background(), providers.Message{To: "+15551230001", Text: "hi"})
			requireCode(t, err, tc.class, tc.code)
			require.EqualValues(t, 1, st.calls.Load(), "one call, no hidden retries")
		})
	}
}

func TestSendAcceptsAnswerVariants(t *testing.T) {
	t.Parallel()
	t.Run("older spec: only a queued count", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, `{"success":true,"data":{"queued":1}}`), nil)
		res, err := st.client.Send(context.Background(), providers.Message{To: "+15551230001", Text: "hi"})
		require.NoError(t, err)
		require.Empty(t, res.ProviderID, "accepted, but Sakari gave nothing to follow it by")
	})
	t.Run("number echoed without the plus", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, `{"success":true,"data":{"messages":[
			{"id":"aaaaaaaaaaaaaaaaaaaaaaa2","status":"queued","contact":{"mobile":{"number":"15551230002"}}},
			{"id":"aaaaaaaaaaaaaaaaaaaaaaa1","status":"queued","contact":{"mobile":{"number":"15551230001"}}}]}}`), nil)
		res, err := st.client.SendBatch(context.Background(), []providers.Message{{To: "+15551230001", Text: "hi"}, {To: "+15551230002", Text: "hi"}})
		require.NoError(t, err)
		require.Equal(t, "aaaaaaaaaaaaaaaaaaaaaaa1", res[0].ProviderID)
		require.Equal(t, "aaaaaaaaaaaaaaaaaaaaaaa2", res[1].ProviderID)
	})
	t.Run("national format echoed: matched in order", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, `{"success":true,"data":{"messages":[
			{"id":"b1","status":"queued","contact":{"mobile":{"number":"(555) 123-0001","country":"US"}}},
			{"id":"b2","status":"queued","contact":{"mobile":{"number":"(555) 123-0002","country":"US"}}}]}}`), nil)
		res, err := st.client.SendBatch(context.Background(), []providers.Message{{To: "+15551230001", Text: "hi"}, {To: "+15551230002", Text: "hi"}})
		require.NoError(t, err)
		require.Equal(t, "b1", res[0].ProviderID)
		require.Equal(t, "b2", res[1].ProviderID)
	})
}

func TestErrorsNeverCarryNumbersOrSecrets(t *testing.T) {
	t.Parallel()
	st := newStub(t, answer(400, `{"success":false,"error":{"code":"CONT-001","message":"Invalid mobile number +15551230001"}}`), nil)
	_, err := st.client.Send(context.Background(), providers.Message{To: "+15551230001", Text: "hi"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "5551230001")
	require.Contains(t, err.Error(), "***01")

	s := newSetup(t, setupOptions{adapter: func(o *Options) { o.ClientSecret = "s3cr3t-value" }})
	_, err = s.client.Send(context.Background(), providers.Message{To: number(1), Text: "hi"})
	require.ErrorIs(t, err, providers.ErrAuth)
	require.NotContains(t, err.Error(), "s3cr3t-value")
	require.NotErrorIs(t, err, token.ErrRejected, "a refused login is not a refused token")
}

func TestARefusedTokenIsFetchedAgainOnce(t *testing.T) {
	t.Parallel()
	st := newStub(t, answer(401, `{"success":false,"error":{"code":"AUTH-001","message":"Token expired"}}`), nil)
	_, err := st.client.Send(context.Background(), providers.Message{To: "+15551230001", Text: "hi"})
	require.ErrorIs(t, err, providers.ErrAuth)
	require.ErrorIs(t, err, token.ErrRejected)
	require.EqualValues(t, 2, st.tokens.Load(), "the 401 drops the token and fetches one more")
	require.EqualValues(t, 2, st.calls.Load(), "the call is repeated once, not forever")
}

func TestTokenIsRefreshedBeforeItExpires(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newSetup(t, setupOptions{
		fake: fake.Options{TokenTTL: 10 * time.Minute, Now: clk.Now},
		deps: providers.Deps{Now: clk.Now},
	})
	send := func() {
		t.Helper()
		_, err := s.client.Send(context.Background(), providers.Message{To: number(1), Text: "hi"})
		require.NoError(t, err)
	}
	send()
	clk.Advance(8 * time.Minute)
	send()
	require.Equal(t, 1, s.fake.Recorder().TokensIssued(), "still well inside its life")

	clk.Advance(time.Minute + 30*time.Second) // 30 s before exp: inside the last tenth
	send()
	require.Equal(t, 2, s.fake.Recorder().TokensIssued(), "replaced before Sakari would refuse it")
	sends := 0
	for _, r := range s.fake.Recorder().Requests() {
		if strings.HasSuffix(r.Path, "/messages") {
			sends++
		}
	}
	require.Equal(t, 3, sends, "no call was refused with a 401 along the way")
}

func TestTokenWithoutExpIsKeptForAnHour(t *testing.T) {
	t.Parallel()
	st := newStub(t, answer(200, `{"success":true,"data":{"messages":[]}}`),
		func(time.Time) string { return `{"access_token":"opaque-not-a-jwt","token_type":"bearer"}` })
	send := func() {
		t.Helper()
		_, err := st.client.Send(context.Background(), providers.Message{To: "+15551230001", Text: "hi"})
		require.NoError(t, err)
	}
	send()
	st.now.Advance(50 * time.Minute)
	send()
	require.EqualValues(t, 1, st.tokens.Load())
	st.now.Advance(5 * time.Minute) // past the last 5 minutes of the assumed hour
	send()
	require.EqualValues(t, 2, st.tokens.Load())
}

func TestTwoProcessesShareOneTokenThroughRedis(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	store := &token.RedisStore{Client: rdb}
	f := fake.New(fake.Options{})
	t.Cleanup(f.Close)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o := Options{BaseURL: srv.URL, ClientID: fake.DefaultClientID, ClientSecret: fake.DefaultClientSecret, AccountID: fake.DefaultAccountID}
	a, err := New(o, providers.Deps{Tokens: store})
	require.NoError(t, err)
	b, err := New(o, providers.Deps{Tokens: store})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	start := make(chan struct{})
	for i := 0; i < 40; i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func(i int, c *Client) {
			defer wg.Done()
			<-start
			_, err := c.Send(context.Background(), providers.Message{To: number(i), Text: "hi"})
			errs <- err
		}(i, c)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, f.Recorder().TokensIssued(), "one login for both processes")
	require.Equal(t, 40, f.Recorder().AcceptedCount())
}

func TestStatusFollowsTheMessage(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newSetup(t, setupOptions{
		fake: fake.Options{Now: clk.Now, DeliverAfter: time.Minute, FailNumbers: []string{number(2)}},
		deps: providers.Deps{Now: clk.Now},
	})
	ctx := context.Background()
	ok, err := s.client.Send(ctx, providers.Message{To: number(1), Text: "hi"})
	require.NoError(t, err)
	bad, err := s.client.Send(ctx, providers.Message{To: number(2), Text: "hi"})
	require.NoError(t, err)

	r, err := s.client.Status(ctx, ok.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryReport{ProviderID: ok.ProviderID, State: providers.DeliveryPending, Raw: "queued"}, r)

	clk.Advance(30 * time.Second)
	r, err = s.client.Status(ctx, ok.ProviderID)
	require.NoError(t, err)
	require.Equal(t, "sent", r.Raw)
	require.Equal(t, providers.DeliveryPending, r.State)

	clk.Advance(30 * time.Second)
	r, err = s.client.Status(ctx, ok.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryDelivered, r.State)
	require.True(t, r.State.Final())

	r, err = s.client.Status(ctx, bad.ProviderID)
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryReport{ProviderID: bad.ProviderID, State: providers.DeliveryFailed, Raw: "undelivered", Reason: "MSG-019"}, r)

	r, err = s.client.Status(ctx, "000000000000000000000000")
	require.NoError(t, err)
	require.Equal(t, providers.DeliveryUnknown, r.State)

	last := s.fake.Recorder().Requests()
	require.Equal(t, http.MethodGet, last[len(last)-1].Method)
	require.Equal(t, "/v1/accounts/"+fake.DefaultAccountID+"/messages/000000000000000000000000", last[len(last)-1].Path)
}

func TestStatusSpellings(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]providers.DeliveryState{
		"new": providers.DeliveryPending, "validated": providers.DeliveryPending, "queued": providers.DeliveryPending,
		"sent": providers.DeliveryPending, "delivered": providers.DeliveryDelivered, "DELIVERED": providers.DeliveryDelivered,
		"error": providers.DeliveryFailed, "undelivered": providers.DeliveryFailed, "invalid": providers.DeliveryFailed,
		"received": providers.DeliveryUnknown, "scheduled": providers.DeliveryPending,
	} {
		require.Equal(t, want, deliveryState(raw), raw)
	}

	t.Run("error object gives the reason", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, `{"success":true,"data":{"id":"m1","status":"error","error":{"code":"MSG-023","description":"Rejected by carrier"}}}`), nil)
		r, err := st.client.Status(context.Background(), "m1")
		require.NoError(t, err)
		require.Equal(t, providers.DeliveryReport{ProviderID: "m1", State: providers.DeliveryFailed, Raw: "error", Reason: "MSG-023"}, r)
	})
	t.Run("a 404 for the account is not an unknown message", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(404, `{"success":false,"error":{"code":"ACCT-008","message":"Invalid account id"}}`), nil)
		_, err := st.client.Status(context.Background(), "m1")
		require.ErrorIs(t, err, providers.ErrAuth)
	})
}

func TestBalance(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{})
	ctx := context.Background()
	b, err := s.client.Balance(ctx)
	require.NoError(t, err)
	require.InDelta(t, fake.DefaultBalance, b.Amount, 1e-9)

	_, err = s.client.SendBatch(ctx, []providers.Message{{To: number(1), Text: "x"}, {To: number(2), Text: "x"}, {To: number(3), Text: "x"}})
	require.NoError(t, err)
	b, err = s.client.Balance(ctx)
	require.NoError(t, err)
	require.InDelta(t, fake.DefaultBalance-3*fake.Price, b.Amount, 1e-9)

	last := s.fake.Recorder().Requests()
	require.Equal(t, "/v1/accounts/"+fake.DefaultAccountID, last[len(last)-1].Path)

	st := newStub(t, answer(200, `{"success":true,"data":{"id":"acc"}}`), nil)
	_, err = st.client.Balance(ctx)
	require.ErrorIs(t, err, providers.ErrRetryable, "an answer without a balance is malformed")
}

func TestInsufficientCreditIsPermanent(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{fake: fake.Options{Balance: 0.04}})
	_, err := s.client.Send(context.Background(), providers.Message{To: number(1), Text: "hi"})
	requireCode(t, err, providers.ErrPermanent, "ACCT-006")
}

func TestWebhookSubscriptions(t *testing.T) {
	t.Parallel()
	s := newSetup(t, setupOptions{})
	ctx := context.Background()
	h, err := s.client.Subscribe(ctx, "https://hooks.example.com/a", nil)
	require.NoError(t, err)
	require.Equal(t, Webhook{URL: "https://hooks.example.com/a", EventTypes: []string{"message-status"}}, h)
	reqs := s.fake.Recorder().Requests()
	require.JSONEq(t, `{"url":"https://hooks.example.com/a","eventTypes":["message-status"]}`, string(reqs[len(reqs)-1].Body))

	for i := 0; i < 149; i++ {
		_, err := s.client.Subscribe(ctx, fmt.Sprintf("https://hooks.example.com/%d", i), []string{"message-status", "message-received"})
		require.NoError(t, err)
	}
	s.fake.Recorder().Clear()
	all, err := s.client.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, all, 150)
	require.Equal(t, "https://hooks.example.com/a", all[0].URL)
	require.Equal(t, []string{"message-status", "message-received"}, all[149].EventTypes)
	pages := s.fake.Recorder().Requests()
	require.Len(t, pages, 2, "150 webhooks are two pages of 100")
	require.Equal(t, "100", pages[1].Query.Get("offset"))
	require.Equal(t, "100", pages[1].Query.Get("limit"))

	require.NoError(t, s.client.Unsubscribe(ctx, "https://hooks.example.com/a"))
	require.NotContains(t, s.fake.Subscriptions(), "https://hooks.example.com/a")
	err = s.client.Unsubscribe(ctx, "https://hooks.example.com/a")
	require.ErrorIs(t, err, providers.ErrPermanent, "nothing to delete")

	_, err = s.client.Subscribe(ctx, "not a url", nil)
	require.ErrorIs(t, err, providers.ErrPermanent)
}

func TestWebhookAnswerVariants(t *testing.T) {
	t.Parallel()
	st := newStub(t, answer(200, `{"success":true,"data":{"id":"w1","type":"webhook","eventTypes":["message-status"],"destination":"https://hooks.example.com/x"}}`), nil)
	h, err := st.client.Subscribe(context.Background(), "https://hooks.example.com/x", nil)
	require.NoError(t, err)
	require.Equal(t, Webhook{ID: "w1", URL: "https://hooks.example.com/x", EventTypes: []string{"message-status"}}, h)

	// Pagination without hasNext (older docs) ends on totalCount.
	var page atomic.Int32
	st = newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if page.Add(1) == 1 {
			answer(200, `{"success":true,"pagination":{"offset":0,"limit":100,"totalCount":2},"data":[{"url":"https://a"}]}`)(w, r)
			return
		}
		answer(200, `{"success":true,"pagination":{"offset":1,"limit":100,"totalCount":2},"data":[{"destination":{"url":"https://b"}}]}`)(w, r)
	}, nil)
	all, err := st.client.ListWebhooks(context.Background())
	require.NoError(t, err)
	require.Equal(t, []Webhook{{URL: "https://a"}, {URL: "https://b"}}, all)
	require.EqualValues(t, 2, page.Load())
}

func TestWebhookEventsReportDelivery(t *testing.T) {
	t.Parallel()
	events := make(chan []byte, 10)
	var first atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !first.Swap(true) {
			w.WriteHeader(http.StatusServiceUnavailable) // the fake retries
			return
		}
		events <- b
	}))
	t.Cleanup(recv.Close)
	s := newSetup(t, setupOptions{fake: fake.Options{DeliverAfter: 20 * time.Millisecond}})
	ctx := context.Background()
	_, err := s.client.Subscribe(ctx, recv.URL+"/hook", nil)
	require.NoError(t, err)
	res, err := s.client.Send(ctx, providers.Message{To: number(1), Text: "hi"})
	require.NoError(t, err)

	var body []byte
	select {
	case body = <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook event arrived")
	}
	r, ok, err := ParseEvent(body)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, providers.DeliveryReport{ProviderID: res.ProviderID, State: providers.DeliveryDelivered, Raw: "delivered"}, r)
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body string
		ok   bool
		want providers.DeliveryReport
	}{
		{"sandbox shape", `{"accountId":"a","eventId":"e","type":"messageStatus","data":{"id":"m1","status":"delivered","message":"hi","contact":{"mobile":{"number":"+15551230001"}},"conversation":{"id":"c"},"error":null}}`,
			true, providers.DeliveryReport{ProviderID: "m1", State: providers.DeliveryDelivered, Raw: "delivered"}},
		{"failure with a code string", `{"type":"messageStatus","data":{"id":"m2","status":"undelivered","error":"MSG-019"}}`,
			true, providers.DeliveryReport{ProviderID: "m2", State: providers.DeliveryFailed, Raw: "undelivered", Reason: "MSG-019"}},
		{"whole Message object as data", `{"type":"messageStatus","data":{"id":"m3","status":"error","error":{"code":"MSG-023","description":"Rejected"},"job":{"id":"j"}}}`,
			true, providers.DeliveryReport{ProviderID: "m3", State: providers.DeliveryFailed, Raw: "error", Reason: "MSG-023"}},
		{"id inside data.message", `{"type":"messageStatus","data":{"message":{"id":"m4","status":"sent"}}}`,
			true, providers.DeliveryReport{ProviderID: "m4", State: providers.DeliveryPending, Raw: "sent"}},
		{"spec payload without an id", `{"type":"messageStatus","data":{"status":"delivered","message":"hi","contact":{}}}`, false, providers.DeliveryReport{}},
		{"account event", `{"type":"account","data":{"balance":12.5}}`, false, providers.DeliveryReport{}},
		{"incoming message", `{"type":"messageIncoming","data":{"id":"m5"}}`, false, providers.DeliveryReport{}},
	} {
		r, ok, err := ParseEvent([]byte(tc.body))
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.want, r, tc.name)
	}
	_, ok, err := ParseEvent([]byte(`{"type":"messageStatus","data":`))
	require.Error(t, err)
	require.False(t, ok)
	var pe *providers.Error
	require.ErrorAs(t, err, &pe)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	good := Options{ClientID: "id", ClientSecret: "secret", AccountID: "5f8d0c2b9e1a4c7d3b6e2f10"}
	require.NoError(t, good.Validate())
	for _, tc := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.ClientID = "" }, "sakari.client_id: required"},
		{func(o *Options) { o.ClientSecret = " " }, "sakari.client_secret: required"},
		{func(o *Options) { o.AccountID = "" }, "sakari.account_id: required"},
		{func(o *Options) { o.AccountID = "a/b" }, "sakari.account_id: must be a bare id"},
		{func(o *Options) { o.BaseURL = "ftp://api.sakari.io" }, "sakari.base_url: scheme must be http or https"},
		{func(o *Options) { o.BaseURL = "https://" }, "sakari.base_url: host missing"},
		{func(o *Options) { o.BaseURL = "https://x/?k=v" }, "sakari.base_url: must not have a query or fragment"},
		{func(o *Options) { o.MaxBatch = -1 }, "sakari.max_batch:"},
		{func(o *Options) { o.MaxBatch = 10001 }, "sakari.max_batch:"},
		{func(o *Options) { o.Timeout = -time.Second }, "sakari.timeout: must not be negative"},
	} {
		o := good
		tc.mod(&o)
		err := o.Validate()
		require.ErrorContains(t, err, tc.want)
		_, nerr := New(o, providers.Deps{})
		require.Error(t, nerr)
	}
	err := Options{ClientSecret: "s3cr3t"}.Validate()
	require.ErrorContains(t, err, "sakari.client_id")
	require.ErrorContains(t, err, "sakari.account_id")
	require.NotContains(t, err.Error(), "s3cr3t")

	c, err := New(good, providers.Deps{})
	require.NoError(t, err)
	require.Equal(t, DefaultMaxBatch, c.MaxBatch())
	require.Equal(t, "https://api.sakari.io", c.root)
	require.Equal(t, DefaultTimeout, c.http.Timeout)
	require.Equal(t, "sakari", c.Name())
	good.MaxBatch = MaxBatchLimit
	c, err = New(good, providers.Deps{})
	require.NoError(t, err)
	require.Equal(t, MaxBatchLimit, c.MaxBatch())
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Invalid mobile number +***67", redact("Invalid mobile number +15551234567"))
	require.Equal(t, "CONT-001 at 12:30", redact("CONT-001 at 12:30"))
}

func FuzzDecodeResponses(f *testing.F) {
	for _, seed := range []string{
		`{"success":true,"data":{"messages":[{"id":"a1","status":"queued","contact":{"mobile":{"number":"+15551230001"}}}],"jobId":"j","invalid":[{"mobile":{"number":"+15551230002"},"error":{"code":"CONT-001","description":"x"}}]}}`,
		`{"success":false,"error":{"code":"CONT-001","message":"Invalid mobile number"}}`,
		`{"success":true,"data":{"id":"m","status":"error","error":"MSG-019"}}`,
		`{"success":true,"data":{"balance":"12.5"}}`,
		`{"type":"messageStatus","data":{"message":{"id":7,"status":"sent"}}}`,
		`{"success":true,"data":{"messages":[{"id":1,"contact":{"mobile":{"number":15551230001}}}],"invalid":[{"error":null}]}}`,
		`{"success":true,"data":{"mess`,
		`null`, `[]`, `""`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ms := []providers.Message{{To: "+15551230001", Text: "t"}, {To: "+15551230002", Text: "t"}, {To: "+15551230003", Text: "t"}}
		if data, _, err := decodeSend(body); err == nil && data != nil {
			b := &batch{ms: ms, out: make([]providers.BatchResult, len(ms)), settled: make([]bool, len(ms))}
			b.settle([]int{0, 1, 2}, data)
			for i := range ms {
				require.True(t, b.settled[i])
			}
		}
		if m, _, err := decodeMessage(body); err == nil && m != nil {
			_ = report(string(m.ID), string(m.Status), m.Error)
		}
		_, _, _ = decodeBalance(body)
		_, _, _ = ParseEvent(body)
		_, _ = jwtExpiry(string(body))
		_ = redact(string(body))
	})
}

func benchSetup(b *testing.B) *Client {
	f := fake.New(fake.Options{Balance: 1e12})
	b.Cleanup(f.Close)
	f.Recorder().KeepMessages(false)
	f.Recorder().MaxRequests = 1
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, ClientID: fake.DefaultClientID, ClientSecret: fake.DefaultClientSecret,
		AccountID: fake.DefaultAccountID, MaxBatch: 1000}, providers.Deps{})
	require.NoError(b, err)
	return c
}

// BenchmarkSend is one message per call; BenchmarkSendBatch1000 sends 1000
// contacts in one call (report messages/s with -benchtime and ns/op).
func BenchmarkSend(b *testing.B) {
	c := benchSetup(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Send(ctx, providers.Message{To: number(i % 1000000), Text: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSendBatch1000(b *testing.B) {
	c := benchSetup(b)
	ctx := context.Background()
	ms := make([]providers.Message, 1000)
	for i := range ms {
		ms[i] = providers.Message{To: number(i), Text: "bench"}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.SendBatch(ctx, ms)
		if err != nil || res[999].Err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ms))/b.Elapsed().Seconds(), "msgs/s")
}

// FuzzParseEvent: webhook bodies never panic the parser, and a report it
// returns always names a message.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"accountId":"a","eventId":"e","type":"messageStatus","data":{"id":"5f8d0c2b9e1a4c7d3b6e2f10","status":"delivered"}}`))
	f.Add([]byte(`{"type":"messageStatus","data":{"message":{"id":"x"},"status":"error","error":"MSG-033"}}`))
	f.Add([]byte(`{"type":"account","data":{"balance":3.5}}`))
	f.Add([]byte(`{"type":"messageStatus","data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, ok, err := ParseEvent(body)
		if err == nil && ok && r.ProviderID == "" {
			t.Fatalf("report without a message id: %+v", r)
		}
	})
}
