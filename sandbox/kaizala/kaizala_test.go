package kaizala_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/kaizala"
)

type env struct {
	fake *kaizala.Server
	srv  *httptest.Server
}

func setup(t *testing.T, o kaizala.Options) env {
	t.Helper()
	f := kaizala.New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return env{fake: f, srv: srv}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, method, u string, header map[string]string, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{status: resp.StatusCode, header: resp.Header}
	require.NoError(t, json.Unmarshal(raw, &out.body), "body %q", raw)
	return out
}

func credentials() map[string]string {
	return map[string]string{
		"applicationId":     kaizala.DefaultApplicationID,
		"applicationSecret": kaizala.DefaultApplicationSecret,
		"refreshToken":      kaizala.DefaultRefreshToken,
	}
}

func (e env) token(t *testing.T) reply {
	t.Helper()
	r := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", credentials(), "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	return r
}

func (e env) send(t *testing.T, tok, group, contentType, body string) reply {
	t.Helper()
	h := map[string]string{"Content-Type": contentType}
	if tok != "" {
		h["accessToken"] = tok
	}
	return do(t, http.MethodPost, e.srv.URL+"/v1/groups/"+group+"/messages", h, body)
}

func requireKaizalaError(t *testing.T, r reply, status int, code, category string) {
	t.Helper()
	require.Equal(t, status, r.status, r.body)
	require.NotEmpty(t, r.body["message"])
	require.Equal(t, code, r.body["errorCode"])
	require.Equal(t, category, r.body["errorCategoryKey"])
}

func TestTokenIsIssuedForTheThreeHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	e := setup(t, kaizala.Options{Now: func() time.Time { return now }})

	r := e.token(t)
	require.NotEmpty(t, r.body["accessToken"])
	require.Equal(t, e.srv.URL+"/", r.body["endpointUrl"], "endpointUrl ends in a slash, as the seed's URL building needs")
	require.EqualValues(t, now.Add(24*time.Hour).UnixMilli(), r.body["accessTokenExpiry"], "epoch milliseconds, 24 h ahead")
	require.Equal(t, "", r.body["refreshToken"], "no replacement refresh token unless rotation is on")
	require.Equal(t, "token.write", r.body["scope"])
	require.Equal(t, 1, e.fake.Recorder().TokensIssued())
}

func TestTokenServiceRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	for _, missing := range []string{"applicationId", "applicationSecret", "refreshToken"} {
		h := credentials()
		delete(h, missing)
		r := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", h, "")
		requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
	}
	for _, wrong := range []string{"applicationId", "applicationSecret", "refreshToken"} {
		h := credentials()
		h[wrong] = "not-it"
		r := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", h, "")
		requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
	}
	r := do(t, http.MethodPost, e.srv.URL+"/v1/accessToken", credentials(), "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, http.MethodGet, r.header.Get("Allow"))
	require.Zero(t, e.fake.Recorder().TokensIssued())
}

func TestRotatedRefreshTokenReplacesTheOldOne(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{RotateRefreshToken: true})

	r := e.token(t)
	next, _ := r.body["refreshToken"].(string)
	require.NotEmpty(t, next)
	require.Equal(t, next, e.fake.RefreshToken())

	old := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", credentials(), "")
	requireKaizalaError(t, old, http.StatusUnauthorized, "InvalidToken", "AuthException")

	h := credentials()
	h["refreshToken"] = next
	again := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", h, "")
	require.Equal(t, http.StatusOK, again.status)
	require.NotEqual(t, next, again.body["refreshToken"])
}

func TestSendAcceptsJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	tok := e.token(t).body["accessToken"].(string)

	r := e.send(t, tok, kaizala.DefaultGroup, "application/json",
		`{"message":"hello","sendToAllSubscribers":true,"subscribers":["+911999999999"]}`)
	require.Equal(t, http.StatusOK, r.status, r.body)
	id, _ := r.body["referenceId"].(string)
	require.Len(t, id, 36, "a GUID")

	acc := e.fake.Recorder().Accepted()
	require.Len(t, acc, 1, "one accepted record per request, whatever the subscribers")
	require.Equal(t, sandbox.Accepted{ID: id, To: kaizala.DefaultGroup, Text: "hello", At: acc[0].At}, acc[0])
}

func TestSendAcceptsTheSeedsFormBody(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	tok := e.token(t).body["accessToken"].(string)

	form := url.Values{"message": {"from python"}, "sendToAllSubscribers": {"True"}}.Encode()
	r := e.send(t, tok, "group-7", "application/x-www-form-urlencoded", form)
	require.Equal(t, http.StatusOK, r.status, r.body)

	bad := url.Values{"message": {"x"}, "sendToAllSubscribers": {"yes"}}.Encode()
	r = e.send(t, tok, "group-7", "application/x-www-form-urlencoded", bad)
	requireKaizalaError(t, r, http.StatusBadRequest, "BadRequest", "BadRequest")
	require.Equal(t, map[string]int{"group-7": 1}, e.fake.Recorder().PerDestination())
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	tok := e.token(t).body["accessToken"].(string)
	const js = "application/json"

	t.Run("missing access token", func(t *testing.T) {
		r := e.send(t, "", kaizala.DefaultGroup, js, `{"message":"x"}`)
		requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
		require.Contains(t, r.body["message"], "ACCESSTOKEN")
	})
	t.Run("unknown access token", func(t *testing.T) {
		r := e.send(t, "forged", kaizala.DefaultGroup, js, `{"message":"x"}`)
		requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
	})
	t.Run("bearer prefix is not the documented form", func(t *testing.T) {
		r := e.send(t, "Bearer "+tok, kaizala.DefaultGroup, js, `{"message":"x"}`)
		requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
	})
	t.Run("unknown group", func(t *testing.T) {
		r := e.send(t, tok, "no-such-group", js, `{"message":"x"}`)
		requireKaizalaError(t, r, http.StatusNotFound, "GroupNotFound", "NotFound")
	})
	t.Run("wrong method", func(t *testing.T) {
		r := do(t, http.MethodGet, e.srv.URL+"/v1/groups/"+kaizala.DefaultGroup+"/messages", map[string]string{"accessToken": tok}, "")
		require.Equal(t, http.StatusMethodNotAllowed, r.status)
		require.Equal(t, http.MethodPost, r.header.Get("Allow"))
	})
	t.Run("wrong content type", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, "text/plain", `message=x`)
		requireKaizalaError(t, r, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "BadRequest")
	})
	t.Run("unreadable JSON", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, js, `{"message":`)
		requireKaizalaError(t, r, http.StatusBadRequest, "BadRequest", "BadRequest")
	})
	t.Run("string where the docs want a boolean", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, js, `{"message":"x","sendToAllSubscribers":"True"}`)
		requireKaizalaError(t, r, http.StatusBadRequest, "BadRequest", "BadRequest")
	})
	t.Run("missing message", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, js, `{"sendToAllSubscribers":true}`)
		requireKaizalaError(t, r, http.StatusBadRequest, "InvalidMessage", "BadRequest")
	})
	t.Run("message over 4000 characters", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"message": strings.Repeat("é", kaizala.MaxMessageChars+1)})
		r := e.send(t, tok, kaizala.DefaultGroup, js, string(body))
		requireKaizalaError(t, r, http.StatusBadRequest, "InvalidMessage", "BadRequest")
	})
	t.Run("unreachable subscriber", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, js, `{"message":"x","subscribers":["+911999999999","+15550666666"]}`)
		requireKaizalaError(t, r, http.StatusBadRequest, kaizala.CodeInvalidSubscriber, "BadRequest")
	})
	t.Run("subscriber without country code", func(t *testing.T) {
		r := e.send(t, tok, kaizala.DefaultGroup, js, `{"message":"x","subscribers":["01999999999"]}`)
		requireKaizalaError(t, r, http.StatusBadRequest, kaizala.CodeInvalidSubscriber, "BadRequest")
	})
	require.Zero(t, e.fake.Recorder().AcceptedCount())

	body, _ := json.Marshal(map[string]string{"message": strings.Repeat("é", kaizala.MaxMessageChars)})
	r := e.send(t, tok, kaizala.DefaultGroup, js, string(body))
	require.Equal(t, http.StatusOK, r.status, "exactly 4000 characters is allowed")
}

func TestExpiredTokensAreRefused(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64 // the fake's clock runs in its handler goroutines
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	e := setup(t, kaizala.Options{TokenTTL: time.Hour, Now: func() time.Time { return start.Add(time.Duration(offset.Load())) }})
	tok := e.token(t).body["accessToken"].(string)

	require.Equal(t, http.StatusOK, e.send(t, tok, kaizala.DefaultGroup, "application/json", `{"message":"x"}`).status)
	offset.Store(int64(time.Hour))
	r := e.send(t, tok, kaizala.DefaultGroup, "application/json", `{"message":"x"}`)
	requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")

	offset.Store(0)
	tok = e.token(t).body["accessToken"].(string)
	e.fake.ExpireTokens()
	r = e.send(t, tok, kaizala.DefaultGroup, "application/json", `{"message":"x"}`)
	requireKaizalaError(t, r, http.StatusUnauthorized, "InvalidToken", "AuthException")
	e.token(t) // the refresh token still works
}

func TestEndpointMoveAnswers308(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	tok := e.token(t).body["accessToken"].(string)
	e.fake.Redirect308("/moved/")

	r := e.send(t, tok, kaizala.DefaultGroup, "application/json", `{"message":"x"}`)
	require.Equal(t, http.StatusPermanentRedirect, r.status)
	require.Equal(t, e.srv.URL+"/moved/", r.header.Get("Location"), "Location carries the new endpoint URL")

	moved := do(t, http.MethodPost, e.srv.URL+"/moved/v1/groups/"+kaizala.DefaultGroup+"/messages",
		map[string]string{"accessToken": tok, "Content-Type": "application/json"}, `{"message":"x"}`)
	require.Equal(t, http.StatusOK, moved.status)
	require.Equal(t, e.srv.URL+"/moved/", e.token(t).body["endpointUrl"], "new tokens point at the new endpoint")
	require.Equal(t, 1, e.fake.Recorder().AcceptedCount())
}

func TestTokenServiceMoveAnswers308(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	e.fake.RedirectToken308("moved")

	r := do(t, http.MethodGet, e.srv.URL+"/v1/accessToken", credentials(), "")
	require.Equal(t, http.StatusPermanentRedirect, r.status)
	require.Equal(t, e.srv.URL+"/moved/v1/accessToken", r.header.Get("Location"))
	r = do(t, http.MethodGet, e.srv.URL+"/moved/v1/accessToken", credentials(), "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, e.srv.URL+"/", r.body["endpointUrl"], "only the token service moved")
}

func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	f := kaizala.New(kaizala.Options{})
	mux := http.NewServeMux()
	mux.Handle("/kaizala/", http.StripPrefix("/kaizala", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Forwarded-Prefix", "/kaizala")
		f.ServeHTTP(w, r)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	r := do(t, http.MethodGet, srv.URL+"/kaizala/v1/accessToken", credentials(), "")
	require.Equal(t, http.StatusOK, r.status)
	ep := r.body["endpointUrl"].(string)
	require.Equal(t, srv.URL+"/kaizala/", ep)

	s := do(t, http.MethodPost, ep+"v1/groups/"+kaizala.DefaultGroup+"/messages",
		map[string]string{"accessToken": r.body["accessToken"].(string), "Content-Type": "application/json"}, `{"message":"x"}`)
	require.Equal(t, http.StatusOK, s.status)
}

func TestFaultsApplyToMessagesNotTokens(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	e.fake.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "30"})
	tok := e.token(t).body["accessToken"].(string)

	r := e.send(t, tok, kaizala.DefaultGroup, "application/json", `{"message":"x"}`)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "30", r.header.Get("Retry-After"))
	require.Equal(t, map[string]int{"429": 1}, e.fake.Faults().Injected())
	require.Equal(t, 2, e.fake.Recorder().Calls(), "both calls are recorded")
}

func TestUnknownPathIs404(t *testing.T) {
	t.Parallel()
	e := setup(t, kaizala.Options{})
	r := do(t, http.MethodGet, e.srv.URL+"/v1/groups", nil, "")
	requireKaizalaError(t, r, http.StatusNotFound, "NotFound", "NotFound")
}
