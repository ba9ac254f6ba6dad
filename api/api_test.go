package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/api"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

const (
	keyA     = "key-a-0123456789abcdef"
	keyB     = "key-b-0123456789abcdef"
	keyAdmin = "key-ops-0123456789abcdef"
)

// bundle is an API on a real Redis, with what a test needs to look behind it.
type bundle struct {
	url    string
	insp   *asynq.Inspector
	led    *ledger.Ledger
	store  *campaign.Store
	client *tasks.Client
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func setup(t testing.TB, tweak func(*api.Options)) *bundle {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := tasks.NewClient(srv.AsynqOpt(), rdb, tasks.Rules{Providers: []string{"keccel", "sakari"}}, ledger.Options{})
	b := &bundle{insp: asynq.NewInspector(srv.AsynqOpt()), led: client.Ledger(), client: client,
		store: campaign.NewStore(rdb, campaign.StoreOptions{}), logs: &lockedBuffer{}}
	t.Cleanup(func() { _ = client.Close(); _ = b.insp.Close() })
	o := api.Options{
		Producer: client,
		Keys: []api.Key{{Name: "shop", Key: keyA, CallbackURL: "https://shop.example/sms-events"},
			{Name: "crm", Key: keyB}, {Name: "ops", Key: keyAdmin, Admin: true}},
		Campaigns:      b.store,
		CampaignOwners: api.NewOwnerStore(rdb, ""),
		MaxBatch:       3,
		Now:            func() time.Time { return time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC) },
		Log:            zerolog.New(b.logs),
	}
	if tweak != nil {
		tweak(&o)
	}
	hs := httptest.NewServer(api.New(o))
	t.Cleanup(hs.Close)
	b.url = hs.URL
	return b
}

type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

func (a answer) problem(t *testing.T) api.ErrorBody {
	t.Helper()
	var e api.ErrorBody
	a.decode(t, &e)
	require.NotEmpty(t, e.Error)
	require.Equal(t, "application/json", a.header.Get("Content-Type"))
	return e
}

// do sends a request with keyA unless headers say otherwise.
func (b *bundle) do(t testing.TB, method, path, contentType string, body io.Reader, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, b.url+path, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+keyA)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{code: resp.StatusCode, header: resp.Header, body: data}
}

func (b *bundle) postJSON(t testing.TB, path, body string, headers ...string) answer {
	t.Helper()
	return b.do(t, http.MethodPost, path, "application/json", strings.NewReader(body), headers...)
}

func (b *bundle) queuedSends(t *testing.T) int {
	t.Helper()
	list, err := b.insp.ListPendingTasks(tasks.QueueTransactional)
	if err != nil {
		return 0
	}
	return len(list)
}

func TestEveryRequestNeedsAKnownKey(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	msg := `{"provider":"keccel","to":"+243812345678","text":"hi"}`
	for name, headers := range map[string][]string{
		"no key":              {"Authorization", ""},
		"wrong bearer":        {"Authorization", "Bearer key-a-0123456789abcdeX"},
		"prefix of a key":     {"Authorization", "Bearer key-a-0123456789"},
		"wrong X-API-Key":     {"Authorization", "", "X-API-Key", "nope"},
		"basic auth":          {"Authorization", "Basic " + keyA},
		"key without scheme":  {"Authorization", keyA},
		"empty bearer":        {"Authorization", "Bearer "},
		"lowercase wrong key": {"Authorization", "bearer " + strings.ToUpper(keyA)},
	} {
		a := b.postJSON(t, "/v1/messages", msg, headers...)
		require.Equal(t, http.StatusUnauthorized, a.code, name)
		require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer", name)
		a.problem(t)
		g := b.do(t, http.MethodGet, "/v1/messages/x", "", nil, headers...)
		require.Equal(t, http.StatusUnauthorized, g.code, name)
	}
	require.Zero(t, b.queuedSends(t))

	require.Equal(t, http.StatusAccepted, b.postJSON(t, "/v1/messages", msg, "Authorization", "", "X-API-Key", keyB).code)
	require.Equal(t, http.StatusAccepted, b.postJSON(t, "/v1/messages", msg, "Authorization", "bearer "+keyB).code)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/healthz", "", nil, "Authorization", "").code, "health needs no key")

	logs := b.logs.String()
	require.NotContains(t, logs, keyA)
	require.NotContains(t, logs, keyB)
	require.Contains(t, logs, `"api_key":"crm"`)
}

func TestSendOneMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.postJSON(t, "/v1/messages", `{"id":"otp-1","provider":"KECCEL","to":"+243 81 234 5678","text":"Your code is 4321"}`)
	require.Equal(t, http.StatusAccepted, a.code, "%s", a.body)
	var acc tasks.Accepted
	a.decode(t, &acc)
	require.False(t, acc.Duplicate)
	require.Equal(t, "otp-1", acc.Message.ID)
	require.Equal(t, "keccel", acc.Message.Provider)
	require.Equal(t, "+243812345678", acc.Message.To, "the caller gets its own number back, normalised")
	require.Equal(t, ledger.Queued, acc.Message.State)
	require.Equal(t, "https://shop.example/sms-events", acc.Message.CallbackURL, "the key's callback URL when the message names none")
	require.Equal(t, 1, b.queuedSends(t))

	g := b.do(t, http.MethodGet, "/v1/messages/otp-1", "", nil)
	require.Equal(t, http.StatusOK, g.code)
	var got api.MessageResponse
	g.decode(t, &got)
	require.Equal(t, "otp-1", got.Message.ID)
	require.Equal(t, "+243812345678", got.Message.To)
	require.Len(t, got.Message.History, 1)

	own := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x","callback_url":"https://own.example/cb"}`)
	require.Equal(t, http.StatusAccepted, own.code)
	own.decode(t, &acc)
	require.Equal(t, "https://own.example/cb", acc.Message.CallbackURL, "the message's own URL wins")
	require.NotEmpty(t, acc.Message.ID, "an id is generated")

	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/messages/nope", "", nil).code)
	require.NotContains(t, b.logs.String(), "812345678", "no number in the logs")
}

func TestSameIdempotencyKeyQueuesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	msg := `{"provider":"keccel","to":"+243812345678","text":"hi"}`
	first := b.postJSON(t, "/v1/messages", msg, "Idempotency-Key", "order-77")
	second := b.postJSON(t, "/v1/messages", msg, "Idempotency-Key", "order-77")
	require.Equal(t, http.StatusAccepted, first.code)
	require.Equal(t, http.StatusAccepted, second.code)
	var a1, a2 tasks.Accepted
	first.decode(t, &a1)
	second.decode(t, &a2)
	require.Equal(t, "order-77", a1.Message.ID)
	require.False(t, a1.Duplicate)
	require.True(t, a2.Duplicate)
	require.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	require.Equal(t, 1, b.queuedSends(t))

	same := b.postJSON(t, "/v1/messages", `{"id":"order-77","provider":"keccel","to":"+243812345678","text":"hi"}`, "Idempotency-Key", "order-77")
	require.Equal(t, http.StatusAccepted, same.code)
	clash := b.postJSON(t, "/v1/messages", `{"id":"order-78","provider":"keccel","to":"+243812345678","text":"hi"}`, "Idempotency-Key", "order-77")
	require.Equal(t, http.StatusUnprocessableEntity, clash.code)
	require.Equal(t, "id", clash.problem(t).Fields[0].Field)
	bad := b.postJSON(t, "/v1/messages", msg, "Idempotency-Key", "has space")
	require.Equal(t, http.StatusUnprocessableEntity, bad.code)
	require.Equal(t, "id", bad.problem(t).Fields[0].Field)
	require.Equal(t, 1, b.queuedSends(t))
}

func TestBadRequestsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.MaxBodyBytes = 256 })
	cases := []struct {
		name        string
		contentType string
		body        string
		code        int
		field       string
	}{
		{"not JSON", "application/json", `{"provider":`, http.StatusBadRequest, "body"},
		{"syntax error", "application/json", `{"provider" "keccel"}`, http.StatusBadRequest, "body"},
		{"not an object", "application/json", `["x"]`, http.StatusBadRequest, "body"},
		{"empty", "application/json", ``, http.StatusBadRequest, ""},
		{"unknown field", "application/json", `{"provider":"keccel","to":"+243812345678","text":"x","priority":1}`, http.StatusBadRequest, "priority"},
		{"wrong type", "application/json", `{"provider":"keccel","to":243812345678,"text":"x"}`, http.StatusBadRequest, "to"},
		{"bad send_at", "application/json", `{"provider":"keccel","to":"+243812345678","text":"x","send_at":"tomorrow"}`, http.StatusBadRequest, "send_at"},
		{"trailing data", "application/json", `{"provider":"keccel","to":"+243812345678","text":"x"} {}`, http.StatusBadRequest, "body"},
		{"form body", "application/x-www-form-urlencoded", `provider=keccel`, http.StatusUnsupportedMediaType, ""},
		{"no content type", "", `{"provider":"keccel"}`, http.StatusUnsupportedMediaType, ""},
		{"too large", "application/json", `{"provider":"keccel","to":"+243812345678","text":"` + strings.Repeat("x", 300) + `"}`, http.StatusRequestEntityTooLarge, ""},
		{"missing provider", "application/json", `{"to":"+243812345678","text":"x"}`, http.StatusUnprocessableEntity, "provider"},
		{"disabled provider", "application/json", `{"provider":"kandy","to":"+243812345678","text":"x"}`, http.StatusUnprocessableEntity, "provider"},
		{"bad number", "application/json", `{"provider":"keccel","to":"+24312","text":"x"}`, http.StatusUnprocessableEntity, "to"},
		{"empty text", "application/json", `{"provider":"keccel","to":"+243812345678","text":" "}`, http.StatusUnprocessableEntity, "text"},
		{"bad callback", "application/json", `{"provider":"keccel","to":"+243812345678","text":"x","callback_url":"ftp://x"}`, http.StatusUnprocessableEntity, "callback_url"},
	}
	for _, tc := range cases {
		a := b.postJSON(t, "/v1/messages", tc.body, "Content-Type", tc.contentType)
		require.Equal(t, tc.code, a.code, "%s: %s", tc.name, a.body)
		e := a.problem(t)
		if tc.field != "" {
			require.NotEmpty(t, e.Fields, tc.name)
			require.Equal(t, tc.field, e.Fields[0].Field, tc.name)
			require.NotEmpty(t, e.Fields[0].Reason, tc.name)
		}
	}
	// A body larger than the limit sent without Content-Length (chunked).
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"provider":"keccel","text":"` + strings.Repeat("y", 1000) + `"}`))
		_ = pw.Close()
	}()
	a := b.do(t, http.MethodPost, "/v1/messages", "application/json", pr)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.code)
	require.Zero(t, b.queuedSends(t))
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.do(t, http.MethodGet, "/v1/messages", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, a.code)
	require.Equal(t, "POST", a.header.Get("Allow"))
	a.problem(t)
	a = b.do(t, http.MethodDelete, "/v1/messages/x", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, a.code)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v2/messages", "", nil).code)
	require.Equal(t, http.StatusNotFound, b.postJSON(t, "/v1/campaigns/c1/explode", "").code)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ok := b.postJSON(t, "/v1/messages", `{"messages":[
		{"id":"b-1","provider":"keccel","to":"+243812345671","text":"one"},
		{"provider":"sakari","to":"+243812345672","text":"two","callback_url":"https://own.example/cb"},
		{"id":"b-1","provider":"keccel","to":"+243812345671","text":"one"}]}`)
	require.Equal(t, http.StatusUnprocessableEntity, ok.code, "the same id twice in one batch is refused")
	e := ok.problem(t)
	require.Len(t, e.Fields, 1)
	require.Equal(t, 2, *e.Fields[0].Index)
	require.Equal(t, "messages[2].id", e.Fields[0].Field)

	ok = b.postJSON(t, "/v1/messages", `{"messages":[
		{"id":"b-1","provider":"keccel","to":"+243812345671","text":"one"},
		{"provider":"sakari","to":"+243812345672","text":"two","callback_url":"https://own.example/cb"}]}`)
	require.Equal(t, http.StatusAccepted, ok.code, "%s", ok.body)
	var res api.BatchResponse
	ok.decode(t, &res)
	require.Len(t, res.Messages, 2)
	for i, it := range res.Messages {
		require.Equal(t, i, it.Index)
		require.False(t, it.Duplicate)
		require.NotNil(t, it.Message)
		require.Equal(t, ledger.Queued, it.Message.State)
	}
	require.Equal(t, "b-1", res.Messages[0].Message.ID)
	require.Equal(t, "https://shop.example/sms-events", res.Messages[0].Message.CallbackURL)
	require.Equal(t, "https://own.example/cb", res.Messages[1].Message.CallbackURL)
	require.Equal(t, 2, b.queuedSends(t))

	again := b.postJSON(t, "/v1/messages", `{"messages":[{"id":"b-1","provider":"keccel","to":"+243812345671","text":"one"}]}`)
	require.Equal(t, http.StatusAccepted, again.code)
	again.decode(t, &res)
	require.True(t, res.Messages[0].Duplicate)
	require.Equal(t, 2, b.queuedSends(t))
}

func TestBatchWithABadMessageQueuesNothingAndNamesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.postJSON(t, "/v1/messages", `{"messages":[
		{"id":"g-0","provider":"keccel","to":"+243812345671","text":"fine"},
		{"id":"g-1","provider":"keccel","to":"+24312","text":"bad number"},
		{"id":"g-2","provider":"keccel","to":"+243812345673","text":"fine"}]}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.code, "%s", a.body)
	e := a.problem(t)
	require.Len(t, e.Fields, 1)
	require.NotNil(t, e.Fields[0].Index)
	require.Equal(t, 1, *e.Fields[0].Index)
	require.Equal(t, "messages[1].to", e.Fields[0].Field)
	require.Contains(t, e.Error, "nothing was queued")
	require.Zero(t, b.queuedSends(t))
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/messages/g-0", "", nil).code)

	a = b.postJSON(t, "/v1/messages", `{"messages":[{"provider":"keccel","to":"+243812345671","text":"x"},{"provider":"keccel","to":"+243812345671","text":"x","colour":"red"}]}`)
	require.Equal(t, http.StatusBadRequest, a.code)
	e = a.problem(t)
	require.Equal(t, 1, *e.Fields[0].Index)
	require.Equal(t, "messages[1].colour", e.Fields[0].Field)

	for name, tc := range map[string]struct {
		body    string
		code    int
		headers []string
	}{
		"too many":        {`{"messages":[{},{},{},{}]}`, http.StatusUnprocessableEntity, nil},
		"empty":           {`{"messages":[]}`, http.StatusUnprocessableEntity, nil},
		"not an array":    {`{"messages":{"to":"x"}}`, http.StatusBadRequest, nil},
		"null":            {`{"messages":null}`, http.StatusBadRequest, nil},
		"extra top field": {`{"messages":[],"dry_run":true}`, http.StatusBadRequest, nil},
		"idempotency key": {`{"messages":[{"provider":"keccel","to":"+243812345671","text":"x"}]}`, http.StatusBadRequest, []string{"Idempotency-Key", "k-1"}},
	} {
		a := b.postJSON(t, "/v1/messages", tc.body, tc.headers...)
		require.Equal(t, tc.code, a.code, "%s: %s", name, a.body)
		require.NotEmpty(t, a.problem(t).Fields, name)
	}
	require.Zero(t, b.queuedSends(t))
}

func TestBatchOfTheMaximumSize(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.MaxBatch = 1000 })
	var sb strings.Builder
	sb.WriteString(`{"messages":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"provider":"keccel","to":"+2438123%05d","text":"n %d"}`, i, i)
	}
	sb.WriteString(`]}`)
	a := b.postJSON(t, "/v1/messages", sb.String())
	require.Equal(t, http.StatusAccepted, a.code)
	var res api.BatchResponse
	a.decode(t, &res)
	require.Len(t, res.Messages, 1000)
	ids := map[string]bool{}
	for i, it := range res.Messages {
		require.Equal(t, i, it.Index)
		require.Equal(t, fmt.Sprintf("+2438123%05d", i), it.Message.To, "results keep the request order")
		ids[it.Message.ID] = true
	}
	require.Len(t, ids, 1000)
	list, err := b.insp.ListPendingTasks(tasks.QueueTransactional, asynq.PageSize(2000))
	require.NoError(t, err)
	require.Len(t, list, 1000)
}

func campaignJSON(id string) string {
	return `{"id":"` + id + `","name":"May promo","provider":"keccel","message":"Hola {{name}}",
		"pacing":{"start_date":"2099-05-04 09:00","time_zone":"Europe/Madrid","smsxblock":2,"minutesxblock":10},
		"recipients":[{"phone":"+243812345671","name":"Ana"},{"phone":"+243812345672","name":"Luis"},
		{"phone":"+243812345671","name":"Ana again"},{"phone":"12","name":"Bad"}]}`
}

func TestCampaignLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.postJSON(t, "/v1/campaigns", campaignJSON("promo-1"))
	require.Equal(t, http.StatusCreated, a.code, "%s", a.body)
	require.Equal(t, "/v1/campaigns/promo-1", a.header.Get("Location"))
	var res api.CampaignResponse
	a.decode(t, &res)
	require.Equal(t, "promo-1", res.Campaign.ID)
	require.Equal(t, campaign.Scheduled, res.Campaign.State)
	require.Equal(t, 2, res.Campaign.Sendable)
	require.Equal(t, 1, res.Report.Duplicates)
	require.Equal(t, 1, res.Report.Bad)
	require.Equal(t, 1, res.Campaign.Blocks)

	g := b.do(t, http.MethodGet, "/v1/campaigns/promo-1", "", nil)
	require.Equal(t, http.StatusOK, g.code)
	g.decode(t, &res)
	require.Equal(t, campaign.Scheduled, res.Campaign.State)
	require.NotNil(t, res.Outlook)
	require.EqualValues(t, 2, res.Outlook.Remaining)

	for _, step := range []struct {
		action string
		code   int
		state  campaign.State
	}{
		{"pause", http.StatusOK, campaign.Paused},
		{"pause", http.StatusConflict, ""},
		{"resume", http.StatusOK, campaign.Scheduled}, // no block ran yet
		{"cancel", http.StatusOK, campaign.Cancelled},
		{"resume", http.StatusConflict, ""},
	} {
		a := b.do(t, http.MethodPost, "/v1/campaigns/promo-1/"+step.action, "", nil)
		require.Equal(t, step.code, a.code, "%s: %s", step.action, a.body)
		if step.state != "" {
			a.decode(t, &res)
			require.Equal(t, step.state, res.Campaign.State, step.action)
		} else {
			a.problem(t)
		}
	}
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/campaigns/nope", "", nil).code)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/v1/campaigns/nope/pause", "", nil).code)

	dup := b.postJSON(t, "/v1/campaigns", campaignJSON("promo-1"))
	require.Equal(t, http.StatusConflict, dup.code, "%s", dup.body)
}

func TestCampaignFromACSVUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("definition", `{"id":"csv-1","provider":"keccel","message":"Hi {{first}}"}`))
	fw, err := mw.CreateFormFile("recipients", "customers.csv")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("number,first\n+243812345671,Ana\n+243812345672,Luis\n"))
	require.NoError(t, mw.Close())
	a := b.do(t, http.MethodPost, "/v1/campaigns", mw.FormDataContentType(), &body)
	require.Equal(t, http.StatusCreated, a.code, "%s", a.body)
	var res api.CampaignResponse
	a.decode(t, &res)
	require.Equal(t, 2, res.Campaign.Sendable)
	require.Equal(t, "UTC", res.Campaign.Pacing.TimeZone)
	require.Equal(t, "2026-05-04 09:00", res.Campaign.Pacing.StartDate, "no start date: now")

	// Recipients before the definition cannot be streamed.
	body.Reset()
	mw = multipart.NewWriter(&body)
	fw, _ = mw.CreateFormFile("recipients", "customers.csv")
	_, _ = fw.Write([]byte("phone\n+243812345671\n"))
	require.NoError(t, mw.WriteField("definition", `{"provider":"keccel","message":"Hi"}`))
	require.NoError(t, mw.Close())
	a = b.do(t, http.MethodPost, "/v1/campaigns", mw.FormDataContentType(), &body)
	require.Equal(t, http.StatusBadRequest, a.code)
	require.Equal(t, "definition", a.problem(t).Fields[0].Field)
}

func TestCampaignMistakes(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.MaxCampaignBytes = 2048 })
	cases := []struct {
		name  string
		body  string
		code  int
		field string
	}{
		{"no provider", `{"message":"x","recipients":[{"phone":"+243812345671"}]}`, http.StatusUnprocessableEntity, "provider"},
		{"kaizala", `{"provider":"kaizala","message":"x","recipients":[{"phone":"+243812345671"}]}`, http.StatusUnprocessableEntity, "provider"},
		{"no recipients", `{"provider":"keccel","message":"x"}`, http.StatusUnprocessableEntity, "recipients"},
		{"missing template column", `{"provider":"keccel","message":"Hi {{name}}","recipients":[{"phone":"+243812345671"}]}`, http.StatusUnprocessableEntity, "message"},
		{"half pacing", `{"provider":"keccel","message":"x","pacing":{"smsxblock":5},"recipients":[{"phone":"+243812345671"}]}`, http.StatusUnprocessableEntity, "pacing."},
		{"bad zone", `{"provider":"keccel","message":"x","pacing":{"time_zone":"Mars/Base"},"recipients":[{"phone":"+243812345671"}]}`, http.StatusUnprocessableEntity, "pacing.time_zone"},
		{"only bad rows", `{"provider":"keccel","message":"x","recipients":[{"phone":"12"}]}`, http.StatusUnprocessableEntity, "file"},
		{"unknown field", `{"provider":"keccel","message":"x","budget":3,"recipients":[{"phone":"+243812345671"}]}`, http.StatusBadRequest, "budget"},
		{"number value", `{"provider":"keccel","message":"x","recipients":[{"phone":243812345671}]}`, http.StatusBadRequest, "recipients"},
		{"too large", `{"provider":"keccel","message":"` + strings.Repeat("x", 3000) + `"}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, tc := range cases {
		a := b.postJSON(t, "/v1/campaigns", tc.body)
		require.Equal(t, tc.code, a.code, "%s: %s", tc.name, a.body)
		e := a.problem(t)
		if tc.field != "" {
			require.NotEmpty(t, e.Fields, tc.name)
			require.True(t, strings.HasPrefix(e.Fields[0].Field, tc.field), "%s: field %q", tc.name, e.Fields[0].Field)
		}
	}
	require.Equal(t, http.StatusUnsupportedMediaType, b.do(t, http.MethodPost, "/v1/campaigns", "text/csv", strings.NewReader("phone\n")).code)
}

func TestCampaignRoutesWithoutAStore(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *api.Options) { o.Campaigns = nil })
	require.Equal(t, http.StatusNotImplemented, b.postJSON(t, "/v1/campaigns", campaignJSON("x")).code)
	require.Equal(t, http.StatusNotImplemented, b.do(t, http.MethodGet, "/v1/campaigns/x", "", nil).code)
	require.Equal(t, http.StatusNotImplemented, b.do(t, http.MethodPost, "/v1/campaigns/x/pause", "", nil).code)
}

// TestRedisDownIsA503: queueing errors are not the caller's fault.
func TestRedisDownIsA503(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, srv.Client(), tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	t.Cleanup(func() { _ = client.Close() })
	hs := httptest.NewServer(api.New(api.Options{Producer: client, Keys: []api.Key{{Name: "a", Key: keyA}}, Log: zerolog.Nop()}))
	t.Cleanup(hs.Close)
	b := &bundle{url: hs.URL}
	a := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x"}`)
	require.Equal(t, http.StatusServiceUnavailable, a.code)
	a.problem(t)
	a = b.postJSON(t, "/v1/messages", `{"messages":[{"id":"r-1","provider":"keccel","to":"+243812345678","text":"x"}]}`)
	require.Equal(t, http.StatusServiceUnavailable, a.code)
	var res api.BatchResponse
	a.decode(t, &res)
	require.Contains(t, res.Messages[0].Error, "r-1")
}
