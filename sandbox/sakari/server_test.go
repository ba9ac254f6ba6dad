package sakari_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/sakari"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

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

// env is a fake on a test server and a raw HTTP client for it.
type env struct {
	t    *testing.T
	fake *sakari.Server
	url  string
	http *http.Client
}

func start(t *testing.T, o sakari.Options) *env {
	t.Helper()
	f := sakari.New(o)
	srv := httptest.NewServer(f)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		f.Close()
	})
	return &env{t: t, fake: f, url: srv.URL, http: &http.Client{Transport: tr}}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// code is error.code of an error envelope.
func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) data() map[string]any {
	d, _ := a.body["data"].(map[string]any)
	return d
}

func (e *env) do(method, path, ctype, auth, body string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &a.body), "answers are JSON: %s", raw)
		if resp.StatusCode >= 400 {
			require.Equal(e.t, false, a.body["success"], "error envelope has success:false")
			require.NotEmpty(e.t, a.code())
		}
	}
	return a
}

const jsonType = "application/json"

func credentials(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
	return string(b)
}

func (e *env) login() string {
	e.t.Helper()
	a := e.do(http.MethodPost, "/oauth2/token", jsonType, "", credentials(sakari.DefaultClientID, sakari.DefaultClientSecret))
	require.Equal(e.t, http.StatusOK, a.status)
	return "Bearer " + a.body["access_token"].(string)
}

var accountPath = "/v1/accounts/" + sakari.DefaultAccountID

func sendBody(template string, numbers ...string) string {
	cs := make([]map[string]any, len(numbers))
	for i, n := range numbers {
		cs[i] = map[string]any{"mobile": map[string]string{"number": n}}
	}
	b, _ := json.Marshal(map[string]any{"contacts": cs, "template": template, "type": "SMS"})
	return string(b)
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := start(t, sakari.Options{Now: clk.Now, TokenTTL: 20 * time.Minute})
	good := credentials(sakari.DefaultClientID, sakari.DefaultClientSecret)

	require.Equal(t, http.StatusMethodNotAllowed, e.do(http.MethodGet, "/oauth2/token", "", "", "").status)
	require.Equal(t, http.StatusUnsupportedMediaType, e.do(http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", "",
		"grant_type=client_credentials").status)
	require.Equal(t, "REQ-001", e.do(http.MethodPost, "/oauth2/token", jsonType, "", "{").code())
	a := e.do(http.MethodPost, "/oauth2/token", jsonType, "", `{"grant_type":"password","client_id":"x","client_secret":"y"}`)
	require.Equal(t, http.StatusBadRequest, a.status)
	a = e.do(http.MethodPost, "/oauth2/token", jsonType, "", credentials(sakari.DefaultClientID, "wrong"))
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Equal(t, "AUTH-002", a.code())
	require.Zero(t, e.fake.Recorder().TokensIssued())

	a = e.do(http.MethodPost, "/oauth2/token", "application/json; charset=utf-8", "", good)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "Bearer", a.body["token_type"])
	require.NotContains(t, a.body, "expires_in", "Sakari documents no expiry field: the adapter must read exp")
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(a.body["access_token"].(string), claims)
	require.NoError(t, err)
	require.Equal(t, "HS256", tok.Method.Alg())
	exp, err := claims.GetExpirationTime()
	require.NoError(t, err)
	require.Equal(t, clk.Now().Add(20*time.Minute).Unix(), exp.Unix(), "exp is in seconds")
	require.Equal(t, 1, e.fake.Recorder().TokensIssued())

	// Faults hit the API, never the login.
	e.fake.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	require.Equal(t, http.StatusOK, e.do(http.MethodPost, "/oauth2/token", jsonType, "", good).status)
}

func TestBearerTokenIsRequired(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	e := start(t, sakari.Options{Now: clk.Now, TokenTTL: time.Minute})
	auth := e.login()
	tok := strings.TrimPrefix(auth, "Bearer ")

	for name, h := range map[string]string{
		"missing":      "",
		"other scheme": "Basic " + tok,
		"no token":     "Bearer ",
		"tampered":     "Bearer " + tok[:len(tok)-2] + "xx",
		"not a JWT":    "Bearer abc",
	} {
		a := e.do(http.MethodGet, accountPath, "", h, "")
		require.Equal(t, http.StatusUnauthorized, a.status, name)
		require.Equal(t, "AUTH-001", a.code(), name)
	}
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, accountPath, "", "bearer "+tok, "").status,
		"the official SDK sends lowercase bearer")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, accountPath, "", "BEARER "+tok, "").status)

	clk.Advance(61 * time.Second)
	a := e.do(http.MethodGet, accountPath, "", auth, "")
	require.Equal(t, http.StatusUnauthorized, a.status, "past exp")

	auth = e.login()
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, accountPath, "", auth, "").status)
	e.fake.ExpireTokens()
	require.Equal(t, http.StatusUnauthorized, e.do(http.MethodGet, accountPath, "", auth, "").status)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, accountPath, "", e.login(), "").status, "a new token works")
}

func TestUnknownAccountAndPaths(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{})
	auth := e.login()
	a := e.do(http.MethodPost, "/v1/accounts/000000000000000000000000/messages", jsonType, auth, sendBody("hi", "+15551230001"))
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "ACCT-008", a.code())
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/accounts/"+sakari.DefaultAccountID, "", auth, "").status,
		"paths live under /v1 (the token endpoint does not)")
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, accountPath+"/campaigns", "", auth, "").status)
	a = e.do(http.MethodPut, accountPath+"/messages", jsonType, auth, "{}")
	require.Equal(t, http.StatusMethodNotAllowed, a.status)
	require.Equal(t, "GET, POST", a.header.Get("Allow"))
	require.Equal(t, http.StatusMethodNotAllowed, e.do(http.MethodDelete, accountPath, "", auth, "").status)

	req, _ := http.NewRequest(http.MethodGet, e.url+accountPath, nil)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "text/html")
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNotAcceptable, resp.StatusCode)
}

func TestSendRefusesWhatTheDocumentsForbid(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{MaxContacts: 3, MaxLength: 20})
	auth := e.login()
	path := accountPath + "/messages"
	for _, tc := range []struct {
		name   string
		ctype  string
		body   string
		status int
		code   string
	}{
		{"form body", "application/x-www-form-urlencoded", "template=hi", 415, "REQ-002"},
		{"not JSON", jsonType, "{", 400, "REQ-001"},
		{"no template", jsonType, `{"contacts":[{"mobile":{"number":"+15551230001"}}]}`, 400, "REQ-005"},
		{"no contacts", jsonType, `{"template":"hi","contacts":[]}`, 400, "REQ-005"},
		{"MMS", jsonType, `{"template":"hi","type":"MMS","contacts":[{"mobile":{"number":"+15551230001"}}]}`, 400, "REQ-005"},
		{"over the cap", jsonType, sendBody("hi", "+15551230001", "+15551230002", "+15551230003", "+15551230004"), 400, "REQ-006"},
		{"too long", jsonType, sendBody(strings.Repeat("x", 21), "+15551230001"), 400, "MSG-007"},
		{"only unreachable", jsonType, sendBody("hi", "+15550666666"), 400, "CONT-001"},
		{"not E.164", jsonType, sendBody("hi", "5551230001"), 400, "CONT-001"},
	} {
		a := e.do(http.MethodPost, path, tc.ctype, auth, tc.body)
		require.Equal(t, tc.status, a.status, tc.name)
		require.Equal(t, tc.code, a.code(), tc.name)
	}
	require.Zero(t, e.fake.Recorder().AcceptedCount())
	require.InDelta(t, sakari.DefaultBalance, e.fake.Balance(), 1e-9, "nothing charged")
}

func TestSendAcceptsValidContactsAndListsTheRest(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{OptedOut: []string{"+15551230003"}})
	auth := e.login()
	a := e.do(http.MethodPost, accountPath+"/messages", jsonType, auth,
		sendBody("Hello", "+15551230001", "+15550666666", "+15551230003", "+15551230001", "+15551230002"))
	require.Equal(t, http.StatusOK, a.status, string(a.raw))
	require.Equal(t, true, a.body["success"])
	d := a.data()
	require.EqualValues(t, 5, d["requested"])
	require.EqualValues(t, 2, d["valid"], "a repeated number is one contact")
	require.InDelta(t, 2*sakari.Price, d["estimatedPrice"], 1e-9)
	requireHex24(t, d["jobId"])

	msgs := d["messages"].([]any)
	require.Len(t, msgs, 2)
	m := msgs[0].(map[string]any)
	requireHex24(t, m["id"])
	require.Equal(t, "queued", m["status"])
	require.Equal(t, "Hello", m["message"])
	require.Equal(t, "+15551230001", m["contact"].(map[string]any)["mobile"].(map[string]any)["number"])

	inv := d["invalid"].([]any)
	require.Len(t, inv, 2)
	require.Equal(t, map[string]any{"mobile": map[string]any{"number": "+15550666666"},
		"error": map[string]any{"code": "CONT-001", "description": "Invalid mobile number"}}, inv[0])
	require.Equal(t, "CONT-010", inv[1].(map[string]any)["error"].(map[string]any)["code"])

	acc := e.fake.Recorder().Accepted()
	require.Len(t, acc, 2)
	require.Equal(t, m["id"], acc[0].ID)
	require.InDelta(t, sakari.DefaultBalance-2*sakari.Price, e.fake.Balance(), 1e-9)
}

func requireHex24(t *testing.T, v any) {
	t.Helper()
	s, _ := v.(string)
	require.Len(t, s, 24)
	_, err := hex.DecodeString(s)
	require.NoError(t, err)
}

func TestInsufficientCredit(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{Balance: 0.1})
	auth := e.login()
	a := e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hi", "+15551230001", "+15551230002", "+15551230003"))
	require.Equal(t, http.StatusPaymentRequired, a.status)
	require.Equal(t, "ACCT-006", a.code())
	require.Equal(t, http.StatusOK, e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hi", "+15551230001", "+15551230002")).status)
	require.InDelta(t, 0, e.fake.Balance(), 1e-9)
}

func TestMessageStatusProgresses(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	e := start(t, sakari.Options{Now: clk.Now, DeliverAfter: 10 * time.Second,
		FailNumbers: []string{"+15551230002"}, FailStatus: "error"})
	auth := e.login()
	a := e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hi", "+15551230001", "+15551230002"))
	msgs := a.data()["messages"].([]any)
	okID := msgs[0].(map[string]any)["id"].(string)
	badID := msgs[1].(map[string]any)["id"].(string)

	status := func(id string) (string, any) {
		a := e.do(http.MethodGet, accountPath+"/messages/"+id, "", auth, "")
		require.Equal(t, http.StatusOK, a.status)
		return a.data()["status"].(string), a.data()["error"]
	}
	s, _ := status(okID)
	require.Equal(t, "queued", s)
	clk.Advance(5 * time.Second)
	s, _ = status(okID)
	require.Equal(t, "sent", s)
	clk.Advance(5 * time.Second)
	s, errObj := status(okID)
	require.Equal(t, "delivered", s)
	require.Nil(t, errObj)
	s, errObj = status(badID)
	require.Equal(t, "error", s)
	require.Equal(t, map[string]any{"code": "MSG-033", "description": "Carrier failure"}, errObj)

	a = e.do(http.MethodGet, accountPath+"/messages/000000000000000000000000", "", auth, "")
	require.Equal(t, http.StatusNotFound, a.status)
}

func TestListsArePaginated(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{})
	auth := e.login()
	for i := 0; i < 3; i++ {
		require.Equal(t, http.StatusOK, e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hi", "+1555123000"+string(rune('1'+i)))).status)
	}
	a := e.do(http.MethodGet, accountPath+"/messages?offset=1&limit=1", "", auth, "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, map[string]any{"offset": 1.0, "limit": 1.0, "totalCount": 3.0, "hasNext": true}, a.body["pagination"])
	require.Len(t, a.body["data"], 1)
	for _, q := range []string{"limit=0", "limit=101", "offset=-1", "limit=x"} {
		a = e.do(http.MethodGet, accountPath+"/messages?"+q, "", auth, "")
		require.Equal(t, http.StatusBadRequest, a.status, q)
		require.Equal(t, "REQ-007", a.code(), q)
	}
	require.Equal(t, http.StatusBadRequest, e.do(http.MethodGet, accountPath+"/webhooks?limit=500", "", auth, "").status)
}

func TestWebhookSubscriptionsAndEvents(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 10)
	var calls sync.Mutex
	n := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			b = []byte("wrong content type")
		}
		got <- b
	}))
	defer recv.Close()

	e := start(t, sakari.Options{DeliverAfter: 30 * time.Millisecond, FailNumbers: []string{"+15551230002"}})
	auth := e.login()
	hooks := accountPath + "/webhooks"
	require.Equal(t, "REQ-005", e.do(http.MethodPost, hooks, jsonType, auth, `{"url":"not a url"}`).code())
	require.Equal(t, "REQ-005", e.do(http.MethodPost, hooks, jsonType, auth, `{"url":"https://a.example","eventTypes":["message-exploded"]}`).code())
	require.Equal(t, http.StatusUnsupportedMediaType, e.do(http.MethodPost, hooks, "text/plain", auth, `{}`).status)

	a := e.do(http.MethodPost, hooks, jsonType, auth, `{"url":"`+recv.URL+`/cb","eventTypes":["message-status"]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, map[string]any{"url": recv.URL + "/cb", "eventTypes": []any{"message-status"}}, a.data())
	a = e.do(http.MethodPost, hooks, jsonType, auth, `{"callbackUrl":"https://other.example/x?y=1","eventTypes":["contact-opt-out"]}`)
	require.Equal(t, http.StatusOK, a.status)

	a = e.do(http.MethodGet, hooks, "", auth, "")
	require.Len(t, a.body["data"], 2)

	a = e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hello", "+15551230001", "+15551230002"))
	require.Equal(t, http.StatusOK, a.status)
	ids := map[string]string{}
	for _, m := range a.data()["messages"].([]any) {
		mm := m.(map[string]any)
		ids[mm["id"].(string)] = mm["contact"].(map[string]any)["mobile"].(map[string]any)["number"].(string)
	}

	seen := map[string]map[string]any{}
	for len(seen) < 2 {
		select {
		case b := <-got:
			var ev map[string]any
			require.NoError(t, json.Unmarshal(b, &ev))
			require.Equal(t, "messageStatus", ev["type"])
			require.Equal(t, sakari.DefaultAccountID, ev["accountId"])
			requireHex24(t, ev["eventId"])
			d := ev["data"].(map[string]any)
			seen[d["id"].(string)] = d
		case <-time.After(10 * time.Second):
			t.Fatal("webhook events did not arrive")
		}
	}
	for id, d := range seen {
		require.Contains(t, ids, id)
		require.Equal(t, "hello", d["message"])
		if ids[id] == "+15551230002" {
			require.Equal(t, "undelivered", d["status"])
			require.Equal(t, "MSG-019", d["error"])
		} else {
			require.Equal(t, "delivered", d["status"])
			require.Nil(t, d["error"])
		}
	}

	del := hooks + "/" + url.PathEscape("https://other.example/x?y=1")
	require.Contains(t, del, "%2F", "the URL travels as one escaped segment")
	a = e.do(http.MethodDelete, del, "", auth, "")
	require.Equal(t, http.StatusNoContent, a.status)
	require.Empty(t, a.raw)
	require.Equal(t, http.StatusNotFound, e.do(http.MethodDelete, del, "", auth, "").status)
	require.Equal(t, map[string][]string{recv.URL + "/cb": {"message-status"}}, e.fake.Subscriptions())
}

func TestCloseStopsPendingWebhooks(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{DeliverAfter: time.Hour})
	auth := e.login()
	require.Equal(t, http.StatusOK, e.do(http.MethodPost, accountPath+"/webhooks", jsonType, auth, `{"url":"http://127.0.0.1:1/never"}`).status)
	require.Equal(t, http.StatusOK, e.do(http.MethodPost, accountPath+"/messages", jsonType, auth, sendBody("hi", "+15551230001")).status)
	e.fake.Close() // returns although an event is pending; goleak checks nothing is left
	e.fake.Close()
}

func TestFaultsApplyToAPICalls(t *testing.T) {
	t.Parallel()
	e := start(t, sakari.Options{})
	auth := e.login()
	e.fake.Faults().Set(sandbox.Faults{TooManyRate: 1})
	req, _ := http.NewRequest(http.MethodPost, e.url+accountPath+"/messages", bytes.NewReader([]byte(sendBody("hi", "+15551230001"))))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", jsonType)
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Zero(t, e.fake.Recorder().AcceptedCount())
	require.Equal(t, 1, e.fake.Faults().Injected()["429"])
}

func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	f := sakari.New(sakari.Options{})
	mux := http.NewServeMux()
	mux.Handle("/sakari/", http.StripPrefix("/sakari", f))
	srv := httptest.NewServer(mux)
	tr := &http.Transport{}
	t.Cleanup(func() { tr.CloseIdleConnections(); srv.Close(); f.Close() })
	e := &env{t: t, fake: f, url: srv.URL + "/sakari", http: &http.Client{Transport: tr}}
	auth := e.login()
	require.Equal(t, http.StatusOK, e.do(http.MethodPost, accountPath+"/webhooks", jsonType, auth, `{"url":"https://h.example/a/b"}`).status)
	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, accountPath+"/webhooks/"+url.PathEscape("https://h.example/a/b"), "", auth, "").status)
}
