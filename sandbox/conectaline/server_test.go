package conectaline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/conectaline"
)

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

func setup(t *testing.T, o conectaline.Options) (*conectaline.Server, *httptest.Server) {
	t.Helper()
	f := conectaline.New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// answer is a decoded reply.
type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (a answer) errCode() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a answer) errMessage() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (a answer) data() map[string]any {
	d, _ := a.Body["data"].(map[string]any)
	return d
}

func do(t *testing.T, method, u, contentType string, body io.Reader, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), "body: %s", raw)
	require.NoError(t, json.Unmarshal(raw, &a.Body), "body: %s", raw)
	return a
}

// postForm sends form urlencoded, optionally with a Bearer token.
func postForm(t *testing.T, srv *httptest.Server, path string, form url.Values, bearer string) answer {
	t.Helper()
	h := map[string]string{}
	if bearer != "" {
		h["Authorization"] = "Bearer " + bearer
	}
	return do(t, http.MethodPost, srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), h)
}

func withToken(fields map[string]string) url.Values {
	v := url.Values{"api_token": {conectaline.DefaultAPIToken}}
	for k, x := range fields {
		v.Set(k, x)
	}
	return v
}

func simpleForm(numbers string) url.Values {
	return withToken(map[string]string{
		"configuration_name": conectaline.DefaultConfigurationName,
		"message":            "Hola",
		"numbers":            numbers,
	})
}

func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	a := postForm(t, srv, conectaline.PathLogin, url.Values{"email": {conectaline.DefaultEmail}, "password": {conectaline.DefaultPassword}}, "")
	require.Equal(t, http.StatusOK, a.Status)
	tok, _ := a.data()["token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

func numbersFrom(start, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("34600%06d", start+i)
	}
	return strings.Join(parts, ",")
}

func multipleJSON(start, n int) string {
	type e struct {
		Number  string `json:"number"`
		Message string `json:"message"`
	}
	es := make([]e, n)
	for i := range es {
		es[i] = e{fmt.Sprintf("34600%06d", start+i), fmt.Sprintf("Mensaje %d", start+i)}
	}
	b, _ := json.Marshal(es)
	return string(b)
}

// --- login and auth ------------------------------------------------------

func TestLoginIssuesATemporaryTokenInTheDataShape(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2030, 2, 3, 10, 0, 0, 0, time.UTC)}
	f, srv := setup(t, conectaline.Options{TokenTTL: 90 * time.Minute, Now: clk.Now})

	a := postForm(t, srv, conectaline.PathLogin, url.Values{"email": {conectaline.DefaultEmail}, "password": {conectaline.DefaultPassword}}, "")
	require.Equal(t, http.StatusOK, a.Status)
	d := a.data()
	require.Len(t, d, 3)
	require.NotEmpty(t, d["token"])
	require.Equal(t, float64(5400), d["expires_in"])
	require.Equal(t, "2030-02-03 11:30:00", d["expires_at"])
	require.Equal(t, 1, f.Recorder().TokensIssued())

	tok := d["token"].(string)
	form := simpleForm("34600100200")
	form.Del("api_token")
	require.Equal(t, http.StatusOK, postForm(t, srv, conectaline.PathSimple, form, tok).Status)

	clk.Add(90 * time.Minute)
	a = postForm(t, srv, conectaline.PathSimple, form, tok)
	require.Equal(t, http.StatusUnauthorized, a.Status, "expired by the clock")
	require.Equal(t, conectaline.CodeUnauthorized, a.errCode())
}

func TestLoginRefusesBadOrMissingCredentials(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})

	a := postForm(t, srv, conectaline.PathLogin, url.Values{"email": {conectaline.DefaultEmail}, "password": {"nope"}}, "")
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.Equal(t, conectaline.CodeInvalidCredentials, a.errCode())
	require.NotEmpty(t, a.errMessage())

	a = postForm(t, srv, conectaline.PathLogin, url.Values{"email": {conectaline.DefaultEmail}}, "")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status)
	require.Equal(t, conectaline.CodeMissingField, a.errCode())
	require.Contains(t, a.errMessage(), "password")

	a = do(t, http.MethodPost, srv.URL+conectaline.PathLogin, "application/json",
		strings.NewReader(`{"email":"`+conectaline.DefaultEmail+`","password":"`+conectaline.DefaultPassword+`"}`), nil)
	require.Equal(t, http.StatusUnsupportedMediaType, a.Status)
	require.Zero(t, f.Recorder().TokensIssued())
}

func TestPushRefusesMissingOrInvalidCredentials(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	tok := login(t, srv)
	noToken := simpleForm("34600100200")
	noToken.Del("api_token")

	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		path   string
	}{
		{"no credentials", noToken, nil, conectaline.PathSimple},
		{"wrong api_token", withToken(map[string]string{"api_token": "nope", "configuration_name": conectaline.DefaultConfigurationName, "message": "x", "numbers": "34600100200"}), nil, conectaline.PathSimple},
		{"unknown bearer", noToken, map[string]string{"Authorization": "Bearer abc"}, conectaline.PathSimple},
		{"not a bearer", noToken, map[string]string{"Authorization": "Token " + tok}, conectaline.PathSimple},
		{"empty bearer", noToken, map[string]string{"Authorization": "Bearer "}, conectaline.PathMultiple},
		{"no credentials on campaigns", url.Values{"name": {"x"}}, nil, conectaline.PathCampaigns},
	} {
		a := do(t, http.MethodPost, srv.URL+tc.path, "application/x-www-form-urlencoded", strings.NewReader(tc.form.Encode()), tc.header)
		require.Equal(t, http.StatusUnauthorized, a.Status, tc.name)
		require.Equal(t, conectaline.CodeUnauthorized, a.errCode(), tc.name)
	}

	// api_token is a body field: in the query string it does not count.
	a := postForm(t, srv, conectaline.PathSimple+"?api_token="+conectaline.DefaultAPIToken, noToken, "")
	require.Equal(t, http.StatusUnauthorized, a.Status)

	// ExpireTokens retires issued tokens; the fixed token keeps working.
	require.Equal(t, http.StatusOK, postForm(t, srv, conectaline.PathSimple, noToken, tok).Status)
	f.ExpireTokens()
	require.Equal(t, http.StatusUnauthorized, postForm(t, srv, conectaline.PathSimple, noToken, tok).Status)
	require.Equal(t, http.StatusOK, postForm(t, srv, conectaline.PathSimple, simpleForm("34600100200"), "").Status)
	require.Equal(t, 2, f.Recorder().AcceptedCount())
}

// --- methods, content types, paths --------------------------------------

func TestOnlyFormPostsAreServed(t *testing.T) {
	t.Parallel()
	_, srv := setup(t, conectaline.Options{})

	a := do(t, http.MethodGet, srv.URL+conectaline.PathSimple+"?"+simpleForm("34600100200").Encode(), "", nil, nil)
	require.Equal(t, http.StatusMethodNotAllowed, a.Status)
	require.Equal(t, "POST", a.Header.Get("Allow"))
	require.Equal(t, conectaline.CodeMethodNotAllowed, a.errCode())

	js, _ := json.Marshal(map[string]string{"api_token": conectaline.DefaultAPIToken, "configuration_name": conectaline.DefaultConfigurationName, "message": "x", "numbers": "34600100200"})
	for _, ct := range []string{"application/json", "text/plain", ""} {
		a = do(t, http.MethodPost, srv.URL+conectaline.PathSimple, ct, bytes.NewReader(js), nil)
		require.Equal(t, http.StatusUnsupportedMediaType, a.Status, ct)
		require.Equal(t, conectaline.CodeUnsupportedMedia, a.errCode())
	}

	a = postForm(t, srv, "/v1/push/unknown", simpleForm("34600100200"), "")
	require.Equal(t, http.StatusNotFound, a.Status)
	a = postForm(t, srv, "/push/simple", simpleForm("34600100200"), "")
	require.Equal(t, http.StatusNotFound, a.Status, "the version segment is part of the path")
}

func TestMultipartBodiesAreAcceptedEverywhere(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	multipartPost := func(path string, fields map[string]string) answer {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			require.NoError(t, mw.WriteField(k, v))
		}
		require.NoError(t, mw.Close())
		return do(t, http.MethodPost, srv.URL+path, mw.FormDataContentType(), &buf, nil)
	}

	a := multipartPost(conectaline.PathLogin, map[string]string{"email": conectaline.DefaultEmail, "password": conectaline.DefaultPassword})
	require.Equal(t, http.StatusOK, a.Status)
	a = multipartPost(conectaline.PathSimple, map[string]string{"api_token": conectaline.DefaultAPIToken, "configuration_name": conectaline.DefaultConfigurationName, "message": "hola", "numbers": "34600100100,34600100200"})
	require.Equal(t, http.StatusOK, a.Status)
	a = multipartPost(conectaline.PathMultiple, map[string]string{"api_token": conectaline.DefaultAPIToken, "configuration_name": conectaline.DefaultConfigurationName, "messages": multipleJSON(1, 2)})
	require.Equal(t, http.StatusOK, a.Status)
	a = multipartPost(conectaline.PathCampaigns, map[string]string{"api_token": conectaline.DefaultAPIToken, "configuration_name": conectaline.DefaultConfigurationName, "name": "c", "message": "m", "available_groups": "3,4"})
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, 4, f.Recorder().AcceptedCount())
}

// --- push/simple ---------------------------------------------------------

func TestPushSimpleAcceptsEveryNumber(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	a := postForm(t, srv, conectaline.PathSimple, simpleForm("34600100100,34600100200,34600100300"), "")
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, map[string]any{"id": float64(1), "total": float64(3)}, a.data())
	acc := f.Recorder().Accepted()
	require.Len(t, acc, 3)
	for _, m := range acc {
		require.Equal(t, "Hola", m.Text)
		require.Empty(t, m.ID, "the API returns no message ids")
	}
	require.Equal(t, "+34600100200", acc[1].To)
}

func TestPushSimpleRefusesWhatTheDocumentsForbid(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		code  string
		about string
	}{
		{"no configuration_name", func(v url.Values) { v.Del("configuration_name") }, conectaline.CodeMissingField, "configuration_name"},
		{"no message", func(v url.Values) { v.Set("message", "") }, conectaline.CodeMissingField, "message"},
		{"no numbers", func(v url.Values) { v.Del("numbers") }, conectaline.CodeMissingField, "numbers"},
		{"unknown configuration", func(v url.Values) { v.Set("configuration_name", "otra") }, conectaline.CodeInvalidConfiguration, "configuración"},
		{"spaces between numbers", func(v url.Values) { v.Set("numbers", "34600100100, 34600100200") }, conectaline.CodeInvalidField, "numbers"},
		{"a leading plus", func(v url.Values) { v.Set("numbers", "+34600100100") }, conectaline.CodeInvalidField, "numbers"},
		{"an empty element", func(v url.Values) { v.Set("numbers", "34600100100,,34600100200") }, conectaline.CodeInvalidField, "numbers"},
	} {
		form := simpleForm("34600100100,34600100200")
		tc.edit(form)
		a := postForm(t, srv, conectaline.PathSimple, form, "")
		require.Equal(t, http.StatusUnprocessableEntity, a.Status, tc.name)
		require.Equal(t, tc.code, a.errCode(), tc.name)
		require.Contains(t, a.errMessage(), tc.about, tc.name)
	}
	require.Zero(t, f.Recorder().AcceptedCount())
}

func TestPushSimpleCapIsOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	f.Recorder().KeepMessages(false)
	a := postForm(t, srv, conectaline.PathSimple, simpleForm(numbersFrom(1, 1500)), "")
	require.Equal(t, http.StatusOK, a.Status, "no cap is documented for push/simple")
	require.Equal(t, 1500, f.Recorder().AcceptedCount())
	require.Equal(t, 1500, f.MaxRecipientsPerCall())

	capped, csrv := setup(t, conectaline.Options{SimpleCap: 1000})
	a = postForm(t, csrv, conectaline.PathSimple, simpleForm(numbersFrom(1, 1001)), "")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status)
	require.Equal(t, conectaline.CodeTooManyRecipients, a.errCode())
	require.Zero(t, capped.Recorder().AcceptedCount())
	require.Equal(t, http.StatusOK, postForm(t, csrv, conectaline.PathSimple, simpleForm(numbersFrom(1, 1000)), "").Status)
}

// --- push/multiple -------------------------------------------------------

func multipleForm(messages string) url.Values {
	return withToken(map[string]string{"configuration_name": conectaline.DefaultConfigurationName, "messages": messages})
}

func TestPushMultipleSendsEachItsOwnText(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	a := postForm(t, srv, conectaline.PathMultiple, multipleForm(
		`[{"number":"34600100200","message":"Message 2"},{"number":34600100202,"message":"Message 3"}]`), "")
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, float64(2), a.data()["total"])
	acc := f.Recorder().Accepted()
	require.Len(t, acc, 2)
	require.Equal(t, "+34600100200", acc[0].To)
	require.Equal(t, "Message 2", acc[0].Text)
	require.Equal(t, "+34600100202", acc[1].To, "a bare JSON integer is read as the number")
	require.Equal(t, "Message 3", acc[1].Text)
}

func TestPushMultipleHoldsTheThousandRecipientCap(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	f.Recorder().KeepMessages(false)

	a := postForm(t, srv, conectaline.PathMultiple, multipleForm(multipleJSON(1, 1001)), "")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status)
	require.Equal(t, conectaline.CodeTooManyRecipients, a.errCode())
	require.Zero(t, f.Recorder().AcceptedCount(), "an over-cap call is refused whole")
	require.Equal(t, 1001, f.MaxRecipientsPerCall(), "the cap test sees what was attempted")

	a = postForm(t, srv, conectaline.PathMultiple, multipleForm(multipleJSON(1, 1000)), "")
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, 1000, f.Recorder().AcceptedCount())
	require.Equal(t, 2, f.Calls(conectaline.PathMultiple))
}

func TestPushMultipleRefusesMalformedLists(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	for _, tc := range []struct {
		name, messages, code string
	}{
		{"not JSON", `[{"number":"34600100200",`, conectaline.CodeInvalidJSON},
		{"an object, not a list", `{"number":"34600100200","message":"x"}`, conectaline.CodeInvalidJSON},
		{"an entry that is not an object", `["34600100200"]`, conectaline.CodeInvalidJSON},
		{"an empty list", `[]`, conectaline.CodeInvalidField},
		{"an entry without message", `[{"number":"34600100200"}]`, conectaline.CodeMissingField},
		{"an entry without number", `[{"message":"x"}]`, conectaline.CodeMissingField},
		{"an empty message", `[{"number":"34600100200","message":""}]`, conectaline.CodeMissingField},
		{"a number with a plus", `[{"number":"+34600100200","message":"x"}]`, conectaline.CodeInvalidField},
		{"a number with spaces", `[{"number":"34 600 100 200","message":"x"}]`, conectaline.CodeInvalidField},
	} {
		a := postForm(t, srv, conectaline.PathMultiple, multipleForm(tc.messages), "")
		require.Equal(t, http.StatusUnprocessableEntity, a.Status, tc.name)
		require.Equal(t, tc.code, a.errCode(), tc.name)
	}
	a := postForm(t, srv, conectaline.PathMultiple, withToken(map[string]string{"configuration_name": conectaline.DefaultConfigurationName}), "")
	require.Equal(t, conectaline.CodeMissingField, a.errCode())
	require.Contains(t, a.errMessage(), "messages")
	require.Zero(t, f.Recorder().AcceptedCount())
}

// --- invalid recipients --------------------------------------------------

func TestUnreachableNumbersAreInvalidRecipients(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})

	a := postForm(t, srv, conectaline.PathSimple, simpleForm("34600666666"), "")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status)
	require.Equal(t, conectaline.CodeInvalidNumber, a.errCode())

	a = postForm(t, srv, conectaline.PathMultiple, multipleForm(`[{"number":"34611666666","message":"a"},{"number":"12ab","message":"b"}]`), "")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status, "every number is bad")
	require.Equal(t, conectaline.CodeInvalidNumber, a.errCode())

	a = postForm(t, srv, conectaline.PathSimple, simpleForm("34600100100,34600666666,123"), "")
	require.Equal(t, http.StatusOK, a.Status, "good numbers of a mixed call are accepted")
	require.Equal(t, float64(1), a.data()["total"])
	require.Equal(t, []any{"34600666666", "123"}, a.data()["rejected"])
	require.Equal(t, map[string]int{"+34600100100": 1}, f.Recorder().PerDestination())
}

// --- campaigns -----------------------------------------------------------

func campaignForm(extra map[string]string) url.Values {
	v := withToken(map[string]string{
		"name":               "Campaña",
		"configuration_name": conectaline.DefaultConfigurationName,
		"message":            "Hola",
		"available_groups":   "3,4",
	})
	for k, x := range extra {
		if x == "" {
			v.Del(k)
		} else {
			v.Set(k, x)
		}
	}
	return v
}

func TestCampaignsValidateTheDocumentedFields(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	paced := map[string]string{"smsxblock": "10", "minutesxblock": "10"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range base {
			if a != k {
				out[a] = b
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		extra map[string]string
		code  string
	}{
		{"no name", map[string]string{"name": ""}, conectaline.CodeMissingField},
		{"no groups", map[string]string{"available_groups": ""}, conectaline.CodeMissingField},
		{"unknown configuration", map[string]string{"configuration_name": "otra"}, conectaline.CodeInvalidConfiguration},
		{"unknown group", map[string]string{"available_groups": "3,99"}, conectaline.CodeInvalidGroup},
		{"groups with spaces", map[string]string{"available_groups": "3, 4"}, conectaline.CodeInvalidField},
		{"smsxblock alone", map[string]string{"smsxblock": "10"}, conectaline.CodeMissingField},
		{"minutesxblock alone", map[string]string{"minutesxblock": "10"}, conectaline.CodeMissingField},
		{"zero smsxblock", with(paced, "smsxblock", "0"), conectaline.CodeInvalidField},
		{"non-numeric minutesxblock", with(paced, "minutesxblock", "diez"), conectaline.CodeInvalidField},
		{"day 8", with(paced, "days", "1,8"), conectaline.CodeInvalidField},
		{"repeated day", with(paced, "days", "1,1"), conectaline.CodeInvalidField},
		{"days with spaces", with(paced, "days", "1, 2"), conectaline.CodeInvalidField},
		{"interval ending before it starts", with(paced, "time_intervals", "13:00-09:00"), conectaline.CodeInvalidField},
		{"interval badly written", with(paced, "time_intervals", "9:00-13:00"), conectaline.CodeInvalidField},
		{"intervals with spaces", with(paced, "time_intervals", "09:00-13:00, 17:00-21:00"), conectaline.CodeInvalidField},
		{"start date in another format", map[string]string{"start_date": "05/05/2016 11:20"}, conectaline.CodeInvalidDate},
	} {
		a := postForm(t, srv, conectaline.PathCampaigns, campaignForm(tc.extra), "")
		require.Equal(t, http.StatusUnprocessableEntity, a.Status, tc.name)
		require.Equal(t, tc.code, a.errCode(), tc.name)
	}
	require.Empty(t, f.Campaigns())

	// Without both pacing fields, days and time_intervals are ignored.
	a := postForm(t, srv, conectaline.PathCampaigns, campaignForm(map[string]string{"days": "9,9", "time_intervals": "nope"}), "")
	require.Equal(t, http.StatusOK, a.Status)
	require.NotNil(t, a.data()["id"])

	a = postForm(t, srv, conectaline.PathCampaigns, campaignForm(map[string]string{
		"start_date": "2016-05-05 11:20", "smsxblock": "10", "minutesxblock": "15",
		"days": "1,2,3,4,5", "time_intervals": "09:00-13:00,17:00-21:00",
	}), "")
	require.Equal(t, http.StatusOK, a.Status)
	got := f.Campaigns()
	require.Len(t, got, 2)
	require.False(t, got[0].Custom)
	require.Empty(t, got[0].Days)
	require.Equal(t, conectaline.Campaign{
		ID: got[1].ID, Name: "Campaña", ConfigurationName: conectaline.DefaultConfigurationName, Message: "Hola",
		Groups: []int{3, 4}, StartDate: "2016-05-05 11:20", Custom: true, SMSPerBlock: 10, MinutesPerBlock: 15,
		Days: []int{1, 2, 3, 4, 5}, TimeIntervals: []string{"09:00-13:00", "17:00-21:00"},
	}, got[1])
	require.Zero(t, f.Recorder().AcceptedCount(), "campaigns go to agenda groups, not to recorded numbers")
}

// --- faults and bookkeeping -----------------------------------------------

func TestFaultsHitApiCallsButNotLogin(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	f.Faults().Set(sandbox.Faults{ServerErrorRate: 1})

	tok := login(t, srv)
	require.NotEmpty(t, tok)
	resp, err := http.PostForm(srv.URL+conectaline.PathSimple, simpleForm("34600100200"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, 1, f.Faults().Injected()["5xx"])
	require.Zero(t, f.Recorder().AcceptedCount())
}

func TestEveryCallIsRecordedAndCountedPerEndpoint(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	login(t, srv)
	postForm(t, srv, conectaline.PathSimple, simpleForm("34600100200"), "")
	postForm(t, srv, conectaline.PathSimple, simpleForm("+34600100200"), "") // refused, still counted
	postForm(t, srv, conectaline.PathMultiple, multipleForm(multipleJSON(1, 3)), "")

	require.Equal(t, 1, f.Calls(conectaline.PathLogin))
	require.Equal(t, 2, f.Calls(conectaline.PathSimple))
	require.Equal(t, 1, f.Calls(conectaline.PathMultiple))
	require.Zero(t, f.Calls(conectaline.PathCampaigns))
	require.Equal(t, 4, f.Recorder().Calls())
	require.Equal(t, 3, f.MaxRecipientsPerCall())
	reqs := f.Recorder().Requests()
	require.Len(t, reqs, 4)
	require.Equal(t, conectaline.PathMultiple, reqs[3].Path)
	require.Contains(t, string(reqs[3].Body), "messages=")
	require.Equal(t, "conectaline", f.Name())
}

func TestConcurrentLoginsAndPushes(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, conectaline.Options{})
	// Raw calls only in the goroutines: assertions stay on the test goroutine.
	post := func(path string, form url.Values, bearer string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	statuses := make([]int, 16)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			form := simpleForm(fmt.Sprintf("34600%06d", i))
			bearer := ""
			if i%2 == 0 {
				code, body := post(conectaline.PathLogin, url.Values{"email": {conectaline.DefaultEmail}, "password": {conectaline.DefaultPassword}}, "")
				var a struct {
					Data struct{ Token string } `json:"data"`
				}
				if code != http.StatusOK || json.Unmarshal(body, &a) != nil {
					statuses[i] = code
					return
				}
				form.Del("api_token")
				bearer = a.Data.Token
			}
			statuses[i], _ = post(conectaline.PathSimple, form, bearer)
		}(i)
	}
	wg.Wait()
	for i, code := range statuses {
		require.Equal(t, http.StatusOK, code, "caller %d", i)
	}
	require.Equal(t, 8, f.Recorder().TokensIssued())
	require.Equal(t, 16, f.Recorder().AcceptedCount())
}
