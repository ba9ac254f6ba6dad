package kandy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sandbox"
)

// answer is a decoded Kandy envelope plus the HTTP status it came with.
type answer struct {
	HTTP    int
	Status  int            `json:"status"`
	Message string         `json:"message"`
	Result  map[string]any `json:"result"`
}

type env struct {
	f   *Server
	srv *httptest.Server
}

func setup(t *testing.T, o Options) env {
	t.Helper()
	f := New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return env{f: f, srv: srv}
}

func (e env) do(t *testing.T, method, path string, q url.Values, contentType, body string) answer {
	t.Helper()
	u := e.srv.URL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), string(raw))
	a := answer{HTTP: resp.StatusCode}
	require.NoError(t, json.Unmarshal(raw, &a), string(raw))
	return a
}

func tokenQuery() url.Values {
	return url.Values{"key": {DefaultDomainAPIKey}, "domain_api_secret": {DefaultDomainAPISecret}, "user_id": {DefaultUserID}}
}

func (e env) token(t *testing.T) string {
	t.Helper()
	a := e.do(t, http.MethodGet, "/v1.2/domains/users/accesstokens", tokenQuery(), "", "")
	require.Equal(t, answer{HTTP: 200, Status: 0, Message: "success", Result: a.Result}, a)
	uat, _ := a.Result["user_access_token"].(string)
	require.Regexp(t, `^[0-9a-f]{32}$`, uat)
	return uat
}

const smsPath = "/v1.2/devices/smss"

func smsQuery(uat string) url.Values {
	return url.Values{"key": {uat}, "device_id": {DefaultDeviceID}}
}

func smsBodyJSON(src, dst, text string) string {
	b, _ := json.Marshal(map[string]any{"message": map[string]any{"source": src, "destination": dst, "message": map[string]any{"text": text}}})
	return string(b)
}

func TestUserAccessToken(t *testing.T) {
	t.Parallel()
	const path = "/v1.2/domains/users/accesstokens"

	t.Run("issued for the domain key, secret and user in the query", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		first, second := e.token(t), e.token(t)
		require.NotEqual(t, first, second)
		require.Equal(t, 2, e.f.Recorder().TokensIssued())
	})

	for _, tc := range []struct {
		name string
		edit func(url.Values)
		want answer
	}{
		{"wrong key", func(q url.Values) { q.Set("key", "DAKnope") }, answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid domain api key or secret"}},
		{"wrong secret", func(q url.Values) { q.Set("domain_api_secret", "nope") }, answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid domain api key or secret"}},
		{"unknown user", func(q url.Values) { q.Set("user_id", "bob") }, answer{HTTP: 200, Status: StatusUserNotFound, Message: "user not found"}},
		{"user with a domain suffix", func(q url.Values) { q.Set("user_id", DefaultUserID+"@example.com") }, answer{HTTP: 200, Status: StatusUserNotFound, Message: "user not found"}},
		{"missing key", func(q url.Values) { q.Del("key") }, answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"missing secret", func(q url.Values) { q.Del("domain_api_secret") }, answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"missing user", func(q url.Values) { q.Del("user_id") }, answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, Options{})
			q := tokenQuery()
			tc.edit(q)
			require.Equal(t, tc.want, e.do(t, http.MethodGet, path, q, "", ""))
			require.Zero(t, e.f.Recorder().TokensIssued())
		})
	}

	t.Run("keys in a JSON body are ignored", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		body := `{"key":"` + DefaultDomainAPIKey + `","domain_api_secret":"` + DefaultDomainAPISecret + `","user_id":"smsq"}`
		a := e.do(t, http.MethodGet, path, nil, "application/json", body)
		require.Equal(t, StatusMissingParameters, a.Status)
		require.Zero(t, e.f.Recorder().TokensIssued())
	})

	t.Run("only GET", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			a := e.do(t, m, path, tokenQuery(), "application/json", "{}")
			require.Equal(t, answer{HTTP: 405, Status: StatusMethodNotAllowed, Message: "method not allowed"}, a, m)
		}
		require.Zero(t, e.f.Recorder().TokensIssued())
	})

	t.Run("faults never hit the token endpoint", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		e.f.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
		e.token(t)
	})

	t.Run("custom credentials", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{DomainAPIKey: "k1", DomainAPISecret: "s1", UserID: "u1"})
		a := e.do(t, http.MethodGet, path, tokenQuery(), "", "")
		require.Equal(t, 401, a.HTTP)
		a = e.do(t, http.MethodGet, path, url.Values{"key": {"k1"}, "domain_api_secret": {"s1"}, "user_id": {"u1"}}, "", "")
		require.Equal(t, 0, a.Status)
	})
}

func TestTokensExpire(t *testing.T) {
	t.Parallel()

	t.Run("never by default", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		e := setup(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
		uat := e.token(t)
		mu.Lock()
		now = now.Add(10000 * time.Hour)
		mu.Unlock()
		require.Equal(t, 0, e.do(t, http.MethodGet, "/v1.2/users/devices", url.Values{"key": {uat}}, "", "").Status)
	})

	t.Run("after TokenTTL", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		e := setup(t, Options{TokenTTL: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
		uat := e.token(t)
		mu.Lock()
		now = now.Add(59 * time.Minute)
		mu.Unlock()
		require.Equal(t, 0, e.do(t, http.MethodPost, smsPath, smsQuery(uat), "application/json", smsBodyJSON("+15550001111", "+15550002222", "a")).Status)
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		a := e.do(t, http.MethodPost, smsPath, smsQuery(uat), "application/json", smsBodyJSON("+15550001111", "+15550002222", "b"))
		require.Equal(t, answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid or expired key"}, a)
		require.Equal(t, 1, e.f.Recorder().AcceptedCount())
	})

	t.Run("ExpireTokens revokes every token issued", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		a, b := e.token(t), e.token(t)
		e.f.ExpireTokens()
		for _, uat := range []string{a, b} {
			require.Equal(t, 401, e.do(t, http.MethodGet, "/v1.2/users/devices", url.Values{"key": {uat}}, "", "").HTTP)
		}
		fresh := e.token(t)
		require.Equal(t, 0, e.do(t, http.MethodGet, "/v1.2/users/devices", url.Values{"key": {fresh}}, "", "").Status)
	})
}

func TestDevices(t *testing.T) {
	t.Parallel()
	const path = "/v1.2/users/devices"

	t.Run("listed with both id and device_id", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		a := e.do(t, http.MethodGet, path, url.Values{"key": {e.token(t)}}, "", "")
		require.Equal(t, 0, a.Status)
		devs := a.Result["devices"].([]any)
		require.Len(t, devs, 1)
		d := devs[0].(map[string]any)
		require.Equal(t, DefaultDeviceID, d["id"])
		require.Equal(t, DefaultDeviceID, d["device_id"])
		for _, k := range []string{"device_native_id", "device_family", "device_name", "client_sw_version", "device_os_version"} {
			require.Contains(t, d, k)
		}
	})

	t.Run("an empty list when none is registered", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{NoDevice: true})
		a := e.do(t, http.MethodGet, path, url.Values{"key": {e.token(t)}}, "", "")
		require.Equal(t, 0, a.Status)
		require.Equal(t, []any{}, a.Result["devices"])
	})

	t.Run("registered and deleted", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{NoDevice: true})
		uat := e.token(t)
		a := e.do(t, http.MethodPost, path, url.Values{"key": {uat}}, "application/json",
			`{"device_native_id":"12345678901234","device_family":"iphone","device_name":"iphone6","client_sw_version":"0102001","device_os_version":"8.0"}`)
		require.Equal(t, 0, a.Status)
		id := a.Result["device_id"].(string)
		require.Equal(t, []string{id}, e.f.Devices())

		missing := e.do(t, http.MethodPost, path, url.Values{"key": {uat}}, "application/json", `{"device_family":"iphone"}`)
		require.Equal(t, StatusMissingParameters, missing.Status)
		notJSON := e.do(t, http.MethodPost, path, url.Values{"key": {uat}}, "text/plain", `device_native_id=1`)
		require.Equal(t, StatusInvalidFormat, notJSON.Status)

		require.Equal(t, answer{HTTP: 200, Status: StatusDeviceNotFound, Message: "device not found"},
			e.do(t, http.MethodDelete, path, url.Values{"key": {uat}, "device_id": {"nope"}}, "", ""))
		require.Equal(t, StatusMissingParameters, e.do(t, http.MethodDelete, path, url.Values{"key": {uat}}, "", "").Status)
		require.Equal(t, answer{HTTP: 200, Status: 0, Message: "Device Deleted"},
			e.do(t, http.MethodDelete, path, url.Values{"key": {uat}, "device_id": {id}}, "", ""))
		require.Empty(t, e.f.Devices())
	})

	t.Run("refuses a missing or unknown key and other methods", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		want := answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid or expired key"}
		require.Equal(t, want, e.do(t, http.MethodGet, path, nil, "", ""))
		require.Equal(t, want, e.do(t, http.MethodGet, path, url.Values{"key": {DefaultDomainAPIKey}}, "", ""), "the domain key is no user token")
		require.Equal(t, 405, e.do(t, http.MethodPut, path, url.Values{"key": {e.token(t)}}, "", "").HTTP)
	})
}

func TestSendSMS(t *testing.T) {
	t.Parallel()

	t.Run("accepted with no message id", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		a := e.do(t, http.MethodPost, smsPath, smsQuery(e.token(t)), "application/json; charset=utf-8",
			smsBodyJSON("15550001111", "+14155550123", "let's meet tonight"))
		require.Equal(t, answer{HTTP: 200, Status: 0, Message: "success"}, a)
		acc := e.f.Recorder().Accepted()
		require.Len(t, acc, 1)
		require.Equal(t, sandbox.Accepted{ID: "", To: "+14155550123", From: "+15550001111", Text: "let's meet tonight", At: acc[0].At}, acc[0])
	})

	valid := smsBodyJSON("+15550001111", "+14155550123", "hi")
	for _, tc := range []struct {
		name        string
		method      string
		query       func(uat string) url.Values
		contentType string
		body        string
		want        answer
	}{
		{"wrong method", http.MethodGet, smsQuery, "", "", answer{HTTP: 405, Status: StatusMethodNotAllowed, Message: "method not allowed"}},
		{"PUT", http.MethodPut, smsQuery, "application/json", valid, answer{HTTP: 405, Status: StatusMethodNotAllowed, Message: "method not allowed"}},
		{"no key", http.MethodPost, func(string) url.Values { return url.Values{"device_id": {DefaultDeviceID}} }, "application/json", valid,
			answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid or expired key"}},
		{"unknown key", http.MethodPost, func(string) url.Values { return smsQuery("0123456789abcdef0123456789abcdef") }, "application/json", valid,
			answer{HTTP: 401, Status: StatusInvalidKey, Message: "invalid or expired key"}},
		{"no device_id", http.MethodPost, func(uat string) url.Values { return url.Values{"key": {uat}} }, "application/json", valid,
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"unknown device", http.MethodPost, func(uat string) url.Values { return url.Values{"key": {uat}, "device_id": {"other"}} }, "application/json", valid,
			answer{HTTP: 200, Status: StatusDeviceNotFound, Message: "device not found"}},
		{"form body", http.MethodPost, smsQuery, "application/x-www-form-urlencoded", "source=%2B15550001111&destination=%2B14155550123&text=hi",
			answer{HTTP: 200, Status: StatusInvalidFormat, Message: "message in an invalid format"}},
		{"JSON without content type", http.MethodPost, smsQuery, "", valid,
			answer{HTTP: 200, Status: StatusInvalidFormat, Message: "message in an invalid format"}},
		{"broken JSON", http.MethodPost, smsQuery, "application/json", `{"message":`,
			answer{HTTP: 200, Status: StatusInvalidFormat, Message: "message in an invalid format"}},
		{"no message object", http.MethodPost, smsQuery, "application/json", `{"source":"+15550001111"}`,
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"no source", http.MethodPost, smsQuery, "application/json", smsBodyJSON("", "+14155550123", "hi"),
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"no destination", http.MethodPost, smsQuery, "application/json", smsBodyJSON("+15550001111", "", "hi"),
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"no text", http.MethodPost, smsQuery, "application/json", smsBodyJSON("+15550001111", "+14155550123", ""),
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"text at the top level", http.MethodPost, smsQuery, "application/json", `{"message":{"source":"+15550001111","destination":"+14155550123","text":"hi"}}`,
			answer{HTTP: 200, Status: StatusMissingParameters, Message: "missing parameters"}},
		{"source is no number", http.MethodPost, smsQuery, "application/json", smsBodyJSON("ACME", "+14155550123", "hi"),
			answer{HTTP: 200, Status: StatusInvalidFormat, Message: "message in an invalid format"}},
		{"destination is no number", http.MethodPost, smsQuery, "application/json", smsBodyJSON("+15550001111", "alice@example.com", "hi"),
			answer{HTTP: 200, Status: StatusInvalidDestination, Message: "invalid destination"}},
		{"unreachable destination", http.MethodPost, smsQuery, "application/json", smsBodyJSON("+15550001111", "+15550666666", "hi"),
			answer{HTTP: 200, Status: StatusInvalidDestination, Message: "invalid destination"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, Options{})
			a := e.do(t, tc.method, smsPath, tc.query(e.token(t)), tc.contentType, tc.body)
			require.Equal(t, tc.want, a)
			require.Zero(t, e.f.Recorder().AcceptedCount())
		})
	}

	t.Run("only allowed sources when Sources is set", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{Sources: []string{"15550001111"}})
		uat := e.token(t)
		a := e.do(t, http.MethodPost, smsPath, smsQuery(uat), "application/json", smsBodyJSON("+15559990000", "+14155550123", "hi"))
		require.Equal(t, answer{HTTP: 200, Status: StatusSourceNotAllowed, Message: "source number not allowed"}, a)
		a = e.do(t, http.MethodPost, smsPath, smsQuery(uat), "application/json", smsBodyJSON("+15550001111", "+14155550123", "hi"))
		require.Equal(t, 0, a.Status)
		require.Equal(t, 1, e.f.Recorder().AcceptedCount())
	})

	t.Run("faults apply after the call is recorded", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		uat := e.token(t)
		e.f.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "2"})
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+smsPath+"?"+smsQuery(uat).Encode(), strings.NewReader(valid))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "2", resp.Header.Get("Retry-After"))
		require.Equal(t, 2, e.f.Recorder().Calls())
		require.Zero(t, e.f.Recorder().AcceptedCount())
	})

	t.Run("concurrent sends are all recorded", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		uat := e.token(t)
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+smsPath+"?"+smsQuery(uat).Encode(),
					strings.NewReader(smsBodyJSON("+15550001111", fmt.Sprintf("+1415555%04d", i), "hi")))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 50, e.f.Recorder().AcceptedCount())
		require.Len(t, e.f.Recorder().PerDestination(), 50)
	})
}

func TestUnknownPaths(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{})
	for _, p := range []string{"/devices/smss", "/v1.1/devices/smss", "/v1.2/devices/smss/", "/v1.2/devices/messages"} {
		require.Equal(t, answer{HTTP: 404, Status: StatusNotFound, Message: "no such endpoint"},
			e.do(t, http.MethodPost, p, nil, "application/json", "{}"), p)
	}
}

func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	f := New(Options{})
	mux := http.NewServeMux()
	mux.Handle("/kandy/", http.StripPrefix("/kandy", f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/kandy/v1.2/domains/users/accesstokens?" + tokenQuery().Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, f.Recorder().TokensIssued())
	require.Equal(t, "kandy", f.Name())
}
