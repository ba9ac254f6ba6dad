package conectaline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/providertest"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox"
	fake "github.com/smsq/smsq/sandbox/conectaline"
)

// --- helpers -------------------------------------------------------------

func fixedOptions(srvURL string) Options {
	return Options{
		BaseURL:           srvURL + "/v1",
		APIToken:          fake.DefaultAPIToken,
		ConfigurationName: fake.DefaultConfigurationName,
		Timeout:           30 * time.Second,
	}
}

func loginOptions(srvURL string) Options {
	return Options{
		BaseURL:           srvURL + "/v1",
		Email:             fake.DefaultEmail,
		Password:          fake.DefaultPassword,
		ConfigurationName: fake.DefaultConfigurationName,
		Timeout:           30 * time.Second,
	}
}

// startFake serves f on a test server closed with t.
func startFake(t *testing.T, f http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, o Options, d providers.Deps) *Client {
	t.Helper()
	c, err := New(o, d)
	require.NoError(t, err)
	return c
}

func msg(i int, text string) providers.Message {
	return providers.Message{ID: fmt.Sprintf("m%d", i), To: fmt.Sprintf("+34600%06d", i), Text: text}
}

func personalised(n, offset int) []providers.Message {
	ms := make([]providers.Message, n)
	for i := range ms {
		ms[i] = msg(offset+i, fmt.Sprintf("Hola %d, tu cita es el lunes", offset+i))
	}
	return ms
}

// requestsTo returns the recorded calls to path, bodies parsed as forms.
func requestsTo(t *testing.T, f *fake.Server, path string) []sandbox.Request {
	t.Helper()
	var out []sandbox.Request
	for _, r := range f.Recorder().Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func formOf(t *testing.T, r sandbox.Request) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(r.Body))
	require.NoError(t, err)
	return v
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

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// --- the shared contract -------------------------------------------------

func harness(login bool) providertest.Harness {
	return providertest.Harness{
		New: func(t *testing.T, o providertest.Options) providertest.Env {
			f := fake.New(fake.Options{})
			srv := startFake(t, f)
			opts := fixedOptions(srv.URL)
			if login {
				opts = loginOptions(srv.URL)
			}
			if o.BadCredentials {
				opts.APIToken, opts.Password = "", ""
				if login {
					opts.Password = "not-the-password"
				} else {
					opts.APIToken = "not-the-token"
				}
			}
			if o.Timeout > 0 {
				opts.Timeout = o.Timeout
			}
			return providertest.Env{Fake: f, Sender: newClient(t, opts, providers.Deps{Tokens: o.Store})}
		},
		Message: func(i int) providers.Message {
			return msg(i, fmt.Sprintf("Hola %d, su código es %04d", i, i))
		},
		InvalidRecipient: func() providers.Message {
			return providers.Message{ID: "bad", To: "+34600666666", Text: "hola"}
		},
		ReturnsIDs: false,
		Tokens:     login,
	}
}

func TestContractWithTemporaryToken(t *testing.T) {
	providertest.Run(t, harness(true))
}

func TestContractWithFixedToken(t *testing.T) {
	providertest.Run(t, harness(false))
}

// --- the exact wire format ----------------------------------------------

func TestSendWithFixedTokenPostsTheDocumentedForm(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

	res, err := c.Send(context.Background(), providers.Message{To: "+34600100200", Text: "Su pedido ha salido"})
	require.NoError(t, err)
	require.Equal(t, "1", res.ProviderID, "data.id of the answer")

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, fake.PathSimple, r.Path)
	require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	require.Empty(t, r.Header.Get("Authorization"), "fixed mode sends no Authorization header")
	require.Empty(t, r.Query)
	require.Equal(t, url.Values{
		"api_token":          {fake.DefaultAPIToken},
		"configuration_name": {fake.DefaultConfigurationName},
		"message":            {"Su pedido ha salido"},
		"numbers":            {"34600100200"},
	}, formOf(t, r))
	require.Equal(t, []sandbox.Accepted{{To: "+34600100200", Text: "Su pedido ha salido", At: f.Recorder().Accepted()[0].At}}, f.Recorder().Accepted())
}

func TestSendWithLoginUsesBearerAndNoApiToken(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	// A trailing slash on the base URL must not double the separator.
	o := loginOptions(srv.URL)
	o.BaseURL += "/"
	c := newClient(t, o, providers.Deps{})

	_, err := c.Send(context.Background(), providers.Message{To: "+34600100200", Text: "hola"})
	require.NoError(t, err)

	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 2)
	login, push := reqs[0], reqs[1]
	require.Equal(t, http.MethodPost, login.Method)
	require.Equal(t, fake.PathLogin, login.Path)
	require.Equal(t, "application/x-www-form-urlencoded", login.Header.Get("Content-Type"))
	require.Equal(t, url.Values{"email": {fake.DefaultEmail}, "password": {fake.DefaultPassword}}, formOf(t, login))

	require.Equal(t, fake.PathSimple, push.Path)
	auth := push.Header.Get("Authorization")
	require.True(t, strings.HasPrefix(auth, "Bearer "), "got %q", auth)
	require.Greater(t, len(auth), len("Bearer ")+16)
	require.Equal(t, url.Values{
		"configuration_name": {fake.DefaultConfigurationName},
		"message":            {"hola"},
		"numbers":            {"34600100200"},
	}, formOf(t, push), "login mode sends no api_token field")
}

func TestSendBatchWithOneTextUsesPushSimpleSplitAtSimpleMax(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	o := fixedOptions(srv.URL)
	o.SimpleMax = 2
	c := newClient(t, o, providers.Deps{})

	ms := make([]providers.Message, 5)
	for i := range ms {
		ms[i] = msg(i+1, "Oferta: 2x1 este fin de semana")
	}
	res, err := c.SendBatch(context.Background(), ms)
	require.NoError(t, err)
	require.Len(t, res, 5)
	for i, r := range res {
		require.NoError(t, r.Err, "message %d", i)
	}
	// Each message carries the id of the call that sent it.
	require.Equal(t, []string{"1", "1", "2", "2", "3"}, []string{res[0].ProviderID, res[1].ProviderID, res[2].ProviderID, res[3].ProviderID, res[4].ProviderID})

	require.Zero(t, f.Calls(fake.PathMultiple))
	simple := requestsTo(t, f, fake.PathSimple)
	require.Len(t, simple, 3)
	var numbers []string
	for _, r := range simple {
		form := formOf(t, r)
		require.Equal(t, "Oferta: 2x1 este fin de semana", form.Get("message"))
		numbers = append(numbers, form.Get("numbers"))
	}
	require.Equal(t, []string{"34600000001,34600000002", "34600000003,34600000004", "34600000005"}, numbers)
	require.Equal(t, 5, f.Recorder().AcceptedCount())
}

func TestSendBatchWithDifferentTextsUsesPushMultiple(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

	ms := []providers.Message{
		{To: "+34600100200", Text: "Hola Ana: <tu código> es 1234 & vale 5 min"},
		{To: "+34600100202", Text: "Hola Íñigo"},
	}
	res, err := c.SendBatch(context.Background(), ms)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)

	reqs := requestsTo(t, f, fake.PathMultiple)
	require.Len(t, reqs, 1)
	form := formOf(t, reqs[0])
	require.Equal(t, []string{"api_token", "configuration_name", "messages"}, sortedKeys(form))
	require.Equal(t,
		`[{"number":"34600100200","message":"Hola Ana: <tu código> es 1234 & vale 5 min"},{"number":"34600100202","message":"Hola Íñigo"}]`,
		form.Get("messages"))
	acc := f.Recorder().Accepted()
	require.Len(t, acc, 2)
	require.Equal(t, "Hola Íñigo", acc[1].Text)
}

func sortedKeys(v url.Values) []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// --- the 1000-recipient cap ----------------------------------------------

func TestPersonalisedSendOf2500InCallerChunksMakesThreeCappedCalls(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	f.Recorder().KeepMessages(false)
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})
	require.Equal(t, 1000, c.MaxBatch())

	all := personalised(2500, 1)
	for start := 0; start < len(all); start += c.MaxBatch() {
		chunk := all[start:min(start+c.MaxBatch(), len(all))]
		res, err := c.SendBatch(context.Background(), chunk)
		require.NoError(t, err)
		for i, r := range res {
			require.NoError(t, r.Err, "message %d", start+i)
		}
	}
	require.Equal(t, 3, f.Calls(fake.PathMultiple))
	require.Zero(t, f.Calls(fake.PathSimple))
	require.Equal(t, 1000, f.MaxRecipientsPerCall())
	require.Equal(t, 2500, f.Recorder().AcceptedCount())
	require.Len(t, f.Recorder().PerDestination(), 2500)
}

func TestSendBatchSplitsASliceLongerThanTheCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxBatch, calls, largest int
	}{
		{0, 3, 1000}, // default MaxBatch: the documented cap
		{400, 7, 400},
	} {
		t.Run(fmt.Sprintf("max_batch=%d", tc.maxBatch), func(t *testing.T) {
			t.Parallel()
			f := fake.New(fake.Options{})
			f.Recorder().KeepMessages(false)
			srv := startFake(t, f)
			o := fixedOptions(srv.URL)
			o.MaxBatch = tc.maxBatch
			c := newClient(t, o, providers.Deps{})

			res, err := c.SendBatch(context.Background(), personalised(2500, 1))
			require.NoError(t, err)
			require.Len(t, res, 2500)
			for i, r := range res {
				require.NoError(t, r.Err, "message %d", i)
			}
			require.Equal(t, tc.calls, f.Calls(fake.PathMultiple))
			require.Equal(t, tc.largest, f.MaxRecipientsPerCall())
			require.Equal(t, 2500, f.Recorder().AcceptedCount())
		})
	}
}

// --- partial failures ----------------------------------------------------

func TestSendBatchMarksRefusedNumbersOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		text func(i int) string
	}{
		{"push/simple", func(int) string { return "mismo texto" }},
		{"push/multiple", func(i int) string { return fmt.Sprintf("texto %d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New(fake.Options{})
			srv := startFake(t, f)
			c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

			ms := []providers.Message{
				{To: "+34600100200", Text: tc.text(0)},
				{To: "+34600666666", Text: tc.text(1)},
				{To: "+34600100202", Text: tc.text(2)},
				{To: "+34 600", Text: tc.text(3)}, // never leaves smsq
			}
			res, err := c.SendBatch(context.Background(), ms)
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
			require.ErrorIs(t, res[1].Err, providers.ErrInvalidRecipient)
			require.NoError(t, res[2].Err)
			require.ErrorIs(t, res[3].Err, providers.ErrInvalidRecipient)
			require.Equal(t, 2, f.Recorder().AcceptedCount())
			require.Equal(t, 1, f.Calls(fake.PathSimple)+f.Calls(fake.PathMultiple))
		})
	}
}

func TestSendBatchOfOnlyUnreachableNumbersFailsEachMessage(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

	res, err := c.SendBatch(context.Background(), []providers.Message{
		{To: "+34611666666", Text: "a"}, {To: "+34622666666", Text: "b"},
	})
	require.NoError(t, err, "a recipient refusal concerns the messages, not the call")
	for _, r := range res {
		require.ErrorIs(t, r.Err, providers.ErrInvalidRecipient)
		require.NotContains(t, r.Err.Error(), "34611666666", "phone numbers are masked in errors")
	}
}

func TestSendBatchStopsAtATransientFailure(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	// After the first push is answered, the provider starts failing.
	var pushes atomic.Int32
	srv := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r)
		if pushes.Add(1) == 1 {
			f.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
		}
	}))
	o := fixedOptions(srv.URL)
	o.MaxBatch = 2
	c := newClient(t, o, providers.Deps{})

	res, err := c.SendBatch(context.Background(), personalised(5, 1))
	require.NoError(t, err, "two messages were accepted, so results carry the failure")
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	for _, r := range res[2:] {
		require.ErrorIs(t, r.Err, providers.ErrRetryable)
	}
	require.Equal(t, 2, f.Calls(fake.PathMultiple), "no call after the failure")

	// Nothing accepted at all: the whole batch fails.
	_, err = c.SendBatch(context.Background(), personalised(3, 10))
	require.ErrorIs(t, err, providers.ErrRetryable)
}

// --- answers and error envelopes ------------------------------------------

// cannedServer answers every push with status, header and body.
func cannedServer(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	return startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
}

func TestAnswersAndErrorEnvelopes(t *testing.T) {
	t.Parallel()
	type want struct {
		class    providers.Class // 0: success
		id       string
		code     string
		message  string
		retryAft time.Duration
	}
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   want
	}{
		{"data with numeric id", 200, nil, `{"data":{"id":42,"total":1}}`, want{id: "42"}},
		{"data with string id", 200, nil, `{"data":{"id":"c-9f"}}`, want{id: "c-9f"}},
		{"data without id", 200, nil, `{"data":{"total":1}}`, want{}},
		{"data as a list", 200, nil, `{"data":[]}`, want{}},
		{"data as a string", 200, nil, `{"data":"ok"}`, want{}},
		{"error object: invalid_number", 422, nil, `{"error":{"code":"invalid_number","message":"número no válido: 34600100200"}}`,
			want{class: providers.ClassRecipient, code: "invalid_number", message: "número no válido: 34…00"}},
		{"error string in Spanish about a number", 422, nil, `{"error":"El número de teléfono no es válido"}`,
			want{class: providers.ClassRecipient, message: "El número de teléfono no es válido"}},
		{"error string in English about a number", 400, nil, `{"error":"Invalid phone number"}`,
			want{class: providers.ClassRecipient, message: "Invalid phone number"}},
		{"error object: missing field", 422, nil, `{"error":{"code":"missing_field","message":"falta el campo obligatorio: numbers"}}`,
			want{class: providers.ClassRequest, code: "missing_field", message: "falta el campo obligatorio: numbers"}},
		{"error string: unknown configuration", 422, nil, `{"error":"Configuration not found"}`,
			want{class: providers.ClassRequest, message: "Configuration not found"}},
		{"error with a numeric code", 400, nil, `{"error":{"code":1001,"message":"bad request"}}`,
			want{class: providers.ClassRequest, code: "1001", message: "bad request"}},
		{"error only, with 200", 200, nil, `{"error":{"code":"invalid_number","message":"x"}}`,
			want{class: providers.ClassRecipient, code: "invalid_number", message: "x"}},
		{"not found page", 404, nil, `<html>no</html>`, want{class: providers.ClassRequest}},
		{"unexpected redirect", 302, map[string]string{"Location": "/elsewhere"}, ``, want{class: providers.ClassRequest}},
		{"401 string", 401, nil, `{"error":"Unauthenticated."}`, want{class: providers.ClassAuth, message: "Unauthenticated."}},
		{"403 object", 403, nil, `{"error":{"code":"forbidden","message":"no"}}`, want{class: providers.ClassAuth, code: "forbidden", message: "no"}},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "5"}, `{"error":"slow down"}`,
			want{class: providers.ClassRateLimited, message: "slow down", retryAft: 5 * time.Second}},
		{"503 with envelope", 503, nil, `{"error":{"code":"maintenance","message":"mantenimiento"}}`,
			want{class: providers.ClassRetryable, code: "maintenance", message: "mantenimiento"}},
		{"408", 408, nil, ``, want{class: providers.ClassRetryable}},
		{"neither data nor error", 200, nil, `{}`, want{class: providers.ClassRetryable, message: "malformed response"}},
		{"not JSON", 200, nil, `OK`, want{class: providers.ClassRetryable, message: "malformed response"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := cannedServer(t, tc.status, tc.header, tc.body)
			c := newClient(t, fixedOptions(srv.URL), providers.Deps{})
			res, err := c.Send(context.Background(), providers.Message{To: "+34600100200", Text: "hola"})
			if tc.want.class == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want.id, res.ProviderID)
				return
			}
			var pe *providers.Error
			require.True(t, errors.As(err, &pe), "want *providers.Error, got %T %v", err, err)
			require.Equal(t, tc.want.class, pe.Class, pe.Error())
			require.Equal(t, "conectaline", pe.Provider)
			require.Equal(t, tc.status, pe.HTTPStatus)
			require.Equal(t, tc.want.code, pe.Code)
			require.Equal(t, tc.want.message, pe.Message)
			require.Equal(t, tc.want.retryAft, pe.RetryAfter)
			require.False(t, errors.Is(err, token.ErrRejected), "fixed tokens are never refetched")
			require.NotContains(t, err.Error(), "34600100200")
		})
	}
}

// --- temporary tokens ------------------------------------------------------

// loginServer answers /v1/login with loginBody and accepts pushes carrying
// "Bearer tok-1"; it counts both.
func loginServer(t *testing.T, loginBody string) (srv *httptest.Server, logins, pushes *atomic.Int32) {
	logins, pushes = new(atomic.Int32), new(atomic.Int32)
	srv = startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/login" {
			logins.Add(1)
			_, _ = w.Write([]byte(loginBody))
			return
		}
		pushes.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"token"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"id":7}}`))
	}))
	return srv, logins, pushes
}

func TestLoginAnswerIsReadInBothDocumentedShapes(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"data.* (PHP samples)":      `{"data":{"token":"tok-1","expires_in":3600,"expires_at":"2030-01-01 10:00:00"}}`,
		"top level (Python sample)": `{"token":"tok-1","expires_in":3600,"expires_at":"2030-01-01 10:00:00"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, logins, pushes := loginServer(t, body)
			c := newClient(t, loginOptions(srv.URL), providers.Deps{})
			for i := 0; i < 3; i++ {
				res, err := c.Send(context.Background(), msg(i, "hola"))
				require.NoError(t, err)
				require.Equal(t, "7", res.ProviderID)
			}
			require.EqualValues(t, 1, logins.Load())
			require.EqualValues(t, 3, pushes.Load())
		})
	}
}

func TestLoginExpiryIsReadLeniently(t *testing.T) {
	t.Parallel()
	now := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		body string
		want time.Time
	}{
		{"expires_in seconds", `{"data":{"token":"t","expires_in":3600}}`, now.Add(time.Hour)},
		{"expires_in as a string", `{"data":{"token":"t","expires_in":"600"}}`, now.Add(10 * time.Minute)},
		{"expires_in preferred over expires_at", `{"data":{"token":"t","expires_in":60,"expires_at":"2030-06-01 00:00:00"}}`, now.Add(time.Minute)},
		{"expires_at datetime", `{"data":{"token":"t","expires_at":"2030-01-01 10:00:00"}}`, time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"expires_at RFC 3339", `{"data":{"token":"t","expires_at":"2030-01-01T10:00:00+01:00"}}`, time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)},
		{"expires_at without seconds", `{"data":{"token":"t","expires_at":"2030-01-01 10:00"}}`, time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"expires_at epoch seconds", `{"data":{"token":"t","expires_at":1893492000}}`, time.Unix(1893492000, 0).UTC()},
		{"expires_at epoch string", `{"data":{"token":"t","expires_at":"1893492000"}}`, time.Unix(1893492000, 0).UTC()},
		{"expires_at epoch milliseconds", `{"data":{"token":"t","expires_at":1893492000000}}`, time.Unix(1893492000, 0).UTC()},
		{"expiry already past: use until refused", `{"data":{"token":"t","expires_at":"2020-01-01 00:00:00"}}`, time.Time{}},
		{"no expiry", `{"token":"t"}`, time.Time{}},
		{"unreadable expiry", `{"token":"t","expires_in":"soon","expires_at":"tomorrow"}`, time.Time{}},
		{"empty data falls back to top level", `{"data":{},"token":"t","expires_in":10}`, now.Add(10 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := decodeLogin([]byte(tc.body), now)
			require.NoError(t, err)
			require.Equal(t, "t", tok.Value)
			require.True(t, tc.want.Equal(tok.Expiry), "want %v, got %v", tc.want, tok.Expiry)
		})
	}
	for _, body := range []string{`{"data":{"expires_in":3600}}`, `{"token":""}`, `[]`, `{"token":{}}`} {
		_, err := decodeLogin([]byte(body), now)
		require.Error(t, err, body)
	}
}

func TestLoginModeRefetchesOnceAfter401ThenGivesUp(t *testing.T) {
	t.Parallel()
	// The provider issues tok-2 but refuses every token it sees.
	srv, logins, pushes := loginServer(t, `{"data":{"token":"tok-2","expires_in":3600}}`)
	c := newClient(t, loginOptions(srv.URL), providers.Deps{})

	_, err := c.Send(context.Background(), msg(1, "hola"))
	require.ErrorIs(t, err, providers.ErrAuth)
	require.ErrorIs(t, err, token.ErrRejected)
	require.EqualValues(t, 2, logins.Load(), "one refetch after the 401")
	require.EqualValues(t, 2, pushes.Load())
	require.NotContains(t, err.Error(), "tok-2")
}

func TestBadCredentialsNeverAppearInErrors(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)

	o := loginOptions(srv.URL)
	o.Password = "s3cret-passw0rd"
	_, err := newClient(t, o, providers.Deps{}).Send(context.Background(), msg(1, "hola"))
	require.ErrorIs(t, err, providers.ErrAuth)
	var pe *providers.Error
	require.True(t, errors.As(err, &pe))
	require.Equal(t, "login", pe.Op)
	require.NotContains(t, err.Error(), "s3cret-passw0rd")

	o = fixedOptions(srv.URL)
	o.APIToken = "wrong-api-token-value"
	_, err = newClient(t, o, providers.Deps{}).Send(context.Background(), msg(1, "hola"))
	require.ErrorIs(t, err, providers.ErrAuth)
	require.False(t, errors.Is(err, token.ErrRejected))
	require.NotContains(t, err.Error(), "wrong-api-token-value")
	require.Equal(t, 1, f.Calls(fake.PathSimple), "a refused fixed token is not retried")
}

func TestTwoProcessesShareOneTemporaryToken(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	rdb := redistest.Start(t).Client()

	var senders []*Client
	for i := 0; i < 2; i++ {
		senders = append(senders, newClient(t, loginOptions(srv.URL), providers.Deps{Tokens: &token.RedisStore{Client: rdb}}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	start := make(chan struct{})
	for p, c := range senders {
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(c *Client, n int) {
				defer wg.Done()
				<-start
				_, err := c.Send(context.Background(), msg(n, "hola"))
				errs <- err
			}(c, p*100+i)
		}
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

func TestTokenIsRefreshedBeforeItExpires(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)}
	f := fake.New(fake.Options{TokenTTL: time.Hour, Now: clk.Now})
	srv := startFake(t, f)
	c := newClient(t, loginOptions(srv.URL), providers.Deps{Now: clk.Now})
	send := func() {
		t.Helper()
		_, err := c.Send(context.Background(), msg(1, "hola"))
		require.NoError(t, err)
	}

	send()
	clk.Add(50 * time.Minute)
	send()
	require.Equal(t, 1, f.Recorder().TokensIssued(), "still well within its hour")

	clk.Add(6 * time.Minute) // 4 minutes left: inside the refresh margin
	send()
	require.Equal(t, 2, f.Recorder().TokensIssued())
	require.Equal(t, 3, f.Calls(fake.PathSimple), "no call was refused and repeated")

	pushes := requestsTo(t, f, fake.PathSimple)
	require.Equal(t, pushes[0].Header.Get("Authorization"), pushes[1].Header.Get("Authorization"))
	require.NotEqual(t, pushes[1].Header.Get("Authorization"), pushes[2].Header.Get("Authorization"))
}

// --- campaigns -----------------------------------------------------------

func TestCreateCampaignWithoutPacing(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

	id, err := c.CreateCampaign(context.Background(), Campaign{Name: "Rebajas", Message: "Todo al 50%", Groups: []int{3, 4}})
	require.NoError(t, err)
	require.Equal(t, "1", id)

	reqs := requestsTo(t, f, fake.PathCampaigns)
	require.Len(t, reqs, 1)
	require.Equal(t, url.Values{
		"api_token":          {fake.DefaultAPIToken},
		"name":               {"Rebajas"},
		"configuration_name": {fake.DefaultConfigurationName},
		"message":            {"Todo al 50%"},
		"available_groups":   {"3,4"},
	}, formOf(t, reqs[0]))
	require.Equal(t, []fake.Campaign{{ID: 1, Name: "Rebajas", ConfigurationName: fake.DefaultConfigurationName, Message: "Todo al 50%", Groups: []int{3, 4}}}, f.Campaigns())
}

func TestCreateCampaignWithProviderPacing(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, loginOptions(srv.URL), providers.Deps{})

	id, err := c.CreateCampaign(context.Background(), Campaign{
		Name: "Recordatorio", Message: "Mañana cerramos", Groups: []int{2},
		StartDate: "2030-05-05 11:20", SMSPerBlock: 10, MinutesPerBlock: 15,
		Days: []int{1, 2, 3, 4, 5}, TimeIntervals: []string{"09:00-13:00", "17:00-21:00"},
	})
	require.NoError(t, err)
	require.NotEmpty(t, id)

	reqs := requestsTo(t, f, fake.PathCampaigns)
	require.Len(t, reqs, 1)
	require.True(t, strings.HasPrefix(reqs[0].Header.Get("Authorization"), "Bearer "))
	require.Equal(t, url.Values{
		"name":               {"Recordatorio"},
		"configuration_name": {fake.DefaultConfigurationName},
		"message":            {"Mañana cerramos"},
		"available_groups":   {"2"},
		"start_date":         {"2030-05-05 11:20"},
		"smsxblock":          {"10"},
		"minutesxblock":      {"15"},
		"days":               {"1,2,3,4,5"},
		"time_intervals":     {"09:00-13:00,17:00-21:00"},
	}, formOf(t, reqs[0]))
	got := f.Campaigns()
	require.Len(t, got, 1)
	require.True(t, got[0].Custom)
	require.Equal(t, []int{1, 2, 3, 4, 5}, got[0].Days)
}

func TestCreateCampaignChecksPacingLocally(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})
	base := Campaign{Name: "x", Message: "y", Groups: []int{3}}

	for _, tc := range []struct {
		name string
		edit func(*Campaign)
		want string
	}{
		{"smsxblock alone", func(c *Campaign) { c.SMSPerBlock = 10 }, "conectaline.campaign.minutesxblock: required with smsxblock"},
		{"minutesxblock alone", func(c *Campaign) { c.MinutesPerBlock = 10 }, "conectaline.campaign.smsxblock: required with minutesxblock"},
		{"days without pacing", func(c *Campaign) { c.Days = []int{1} }, "conectaline.campaign.days: only used with smsxblock and minutesxblock"},
		{"start date without pacing", func(c *Campaign) { c.StartDate = "2030-01-01 10:00" }, "conectaline.campaign.start_date"},
		{"no groups", func(c *Campaign) { c.Groups = nil }, "conectaline.campaign.available_groups: at least one"},
		{"no name", func(c *Campaign) { c.Name = " " }, "conectaline.campaign.name: required"},
	} {
		cp := base
		tc.edit(&cp)
		_, err := c.CreateCampaign(context.Background(), cp)
		require.ErrorIs(t, err, providers.ErrPermanent, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	require.Zero(t, f.Recorder().Calls(), "nothing invalid reaches the provider")
}

// --- options -------------------------------------------------------------

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	ok := Options{APIToken: "t", ConfigurationName: "c"}
	require.NoError(t, ok.Validate())
	require.NoError(t, Options{Email: "e", Password: "p", ConfigurationName: "c", MaxBatch: 1000, SimpleMax: 5000}.Validate())

	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no credentials", func(o *Options) { o.APIToken = "" }, "conectaline.api_token: required unless email and password are set"},
		{"both modes", func(o *Options) { o.Email, o.Password = "e", "p" }, "conectaline.api_token: conflicts with email/password"},
		{"token and only a password", func(o *Options) { o.Password = "p" }, "conectaline.api_token: conflicts"},
		{"email without password", func(o *Options) { o.APIToken, o.Email = "", "e" }, "conectaline.password: required with email"},
		{"password without email", func(o *Options) { o.APIToken, o.Password = "", "p" }, "conectaline.email: required with password"},
		{"no configuration", func(o *Options) { o.ConfigurationName = "" }, "conectaline.configuration_name: required"},
		{"batch over the cap", func(o *Options) { o.MaxBatch = 1001 }, "conectaline.max_batch: must be between 1 and 1000"},
		{"negative batch", func(o *Options) { o.MaxBatch = -1 }, "conectaline.max_batch"},
		{"negative simple_max", func(o *Options) { o.SimpleMax = -5 }, "conectaline.simple_max: must be at least 1"},
		{"relative base URL", func(o *Options) { o.BaseURL = "apisms.conectaline.com/v1" }, "conectaline.base_url: must be an absolute http(s) URL"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "conectaline.timeout"},
	} {
		o := ok
		tc.edit(&o)
		err := o.Validate()
		require.ErrorContains(t, err, tc.want, tc.name)
		_, nerr := New(o, providers.Deps{})
		require.Error(t, nerr, tc.name)
	}
	err := Options{MaxBatch: 5000, APIToken: "secret-token"}.Validate()
	require.ErrorContains(t, err, "conectaline.configuration_name")
	require.ErrorContains(t, err, "conectaline.max_batch")
	require.NotContains(t, err.Error(), "secret-token")
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{APIToken: "t", ConfigurationName: "c"}, providers.Deps{})
	require.Equal(t, "conectaline", c.Name())
	require.Equal(t, 1000, c.MaxBatch())
	require.Equal(t, DefaultBaseURL, c.base)
	require.Equal(t, DefaultSimpleMax, c.o.SimpleMax)
	require.Equal(t, 30*time.Second, c.http.Timeout)
}

func TestSendRefusesWhatCannotBeSentLocally(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Options{})
	srv := startFake(t, f)
	c := newClient(t, fixedOptions(srv.URL), providers.Deps{})

	for _, to := range []string{"", "+34 600 100 200", "+34-600100200", "+1234", "+1234567890123456"} {
		_, err := c.Send(context.Background(), providers.Message{To: to, Text: "hola"})
		require.ErrorIs(t, err, providers.ErrInvalidRecipient, to)
	}
	_, err := c.Send(context.Background(), providers.Message{To: "+34600100200"})
	require.ErrorIs(t, err, providers.ErrPermanent)
	require.Zero(t, f.Recorder().Calls())
}

// --- fuzzing -------------------------------------------------------------

// FuzzDecodeAnswer feeds arbitrary answers to every decoder: none may panic,
// and whatever they return must be usable.
func FuzzDecodeAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"data":{"id":42,"total":1}}`,
		`{"data":{"id":"x","rejected":["34600666666",34600666667,null,{}]}}`,
		`{"error":{"code":"invalid_number","message":"número 34600100200 no válido"}}`,
		`{"error":"Unauthenticated."}`,
		`{"error":{"code":1,"message":{"numbers":["required"]}}}`,
		`{"data":{"token":"t","expires_in":"3600","expires_at":"2030-01-01 00:00:00"}}`,
		`{"token":"t","expires_at":1e300}`,
		`{"token":"t","expires_in":-1e400}`,
		`{"data":null,"error":null}`,
		`{"status":"SENT","data":{"mess`,
		"\xff\xfe",
	} {
		f.Add(200, []byte(seed))
		f.Add(422, []byte(seed))
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Client{now: func() time.Time { return now }, src: &token.Source{}}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		if env, err := decodeEnvelope(body); err == nil {
			ae := decodeAPIError(env.Error)
			_ = recipientError(ae)
			a := decodeAnswer(env.Data)
			_ = a.rejected["1"]
		}
		if tok, err := decodeLogin(body, now); err == nil {
			require.NotEmpty(t, tok.Value)
			require.True(t, tok.Expiry.IsZero() || tok.Expiry.After(now))
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {string(body)}}}
		for _, op := range []string{opSend, opLogin} {
			if err := c.failure(op, resp, body); err != nil {
				var pe *providers.Error
				require.True(t, errors.As(err, &pe))
				require.NotZero(t, pe.Class)
				require.True(t, utf8.ValidString(pe.Message))
				require.LessOrEqual(t, len(pe.Message), 310, "provider text is bounded")
			}
		}
		_ = cleanText(string(body))
	})
}

// BenchmarkSendBatchPersonalised measures one full push/multiple call of
// 1000 personalised messages against the fake on loopback.
func BenchmarkSendBatchPersonalised(b *testing.B) {
	f := fake.New(fake.Options{})
	f.Recorder().KeepMessages(false)
	f.Recorder().MaxRequests = 1
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(fixedOptions(srv.URL), providers.Deps{})
	require.NoError(b, err)
	ms := personalised(1000, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.SendBatch(context.Background(), ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ms))/b.Elapsed().Seconds(), "msgs/s")
}
