package monitoring_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/metrics/monitoring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	secret = "s3cr3t-provider-token"
	token  = "0123456789abcdef-ops"
)

type fixture struct {
	redis *redistest.Server
	url   string
	id    string
}

// setup serves the UI with o (Conn filled in) over one real Redis holding
// one scheduled task whose payload has a phone number and a secret.
func setup(t *testing.T, o monitoring.Options) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t)}
	c := asynq.NewClient(f.redis.AsynqOpt())
	t.Cleanup(func() { _ = c.Close() })
	payload := `{"to":"+243812345678","text":"key ` + secret + `"}`
	info, err := c.Enqueue(asynq.NewTask("message:send", []byte(payload)), asynq.Queue("transactional"),
		asynq.ProcessIn(time.Hour))
	require.NoError(t, err)
	f.id = info.ID

	o.Conn = f.redis.AsynqOpt()
	h, err := monitoring.New(o)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); _ = h.Close() })
	f.url = srv.URL + "/monitoring"
	return f
}

func (f *fixture) do(t *testing.T, method, path string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	require.NoError(t, err)
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func secrets() *mask.Secrets {
	s := &mask.Secrets{}
	s.Add(secret)
	return s
}

func TestScheduledTaskIsShownMaskedWithoutSecrets(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{Secrets: secrets()})
	resp, body := f.do(t, "GET", "/api/queues/transactional/scheduled_tasks", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var out struct {
		Tasks []struct {
			ID      string `json:"id"`
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Tasks, 1)
	require.Equal(t, f.id, out.Tasks[0].ID, "task ids stay usable")
	require.Contains(t, out.Tasks[0].Payload, `"to":"+243`, "the number is recognisable")
	require.NotContains(t, body, "812345678", "but not readable")
	require.NotContains(t, body, secret)
	require.Contains(t, out.Tasks[0].Payload, "key ***")

	// The single-task view goes through the same formatter.
	_, body = f.do(t, "GET", "/api/queues/transactional/tasks/"+f.id, nil)
	require.Contains(t, body, f.id)
	require.NotContains(t, body, "812345678")
	require.NotContains(t, body, secret)
}

func TestNoCredentialsConfiguredMeansOpen(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{})
	resp, _ := f.do(t, "GET", "/api/queues", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := f.do(t, "GET", "/", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "<html", "the UI page itself is served")
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{Username: "ops", Password: "pa55word"})
	for name, auth := range map[string]func(*http.Request){
		"none":           nil,
		"wrong password": basic("ops", "pa55wordx"),
		"wrong user":     basic("root", "pa55word"),
		"empty":          basic("", ""),
		"token instead":  bearer(token),
		"garbage":        func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") },
	} {
		for _, path := range []string{"/", "/api/queues"} {
			resp, body := f.do(t, "GET", path, auth)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s", name, path)
			require.Equal(t, `Basic realm="smsq monitoring", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"), name)
			require.NotContains(t, body, "transactional", name)
		}
	}
	resp, body := f.do(t, "GET", "/api/queues", basic("ops", "pa55word"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "transactional")
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{Token: token})
	resp, _ := f.do(t, "GET", "/api/queues", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="smsq monitoring"`, resp.Header.Get("WWW-Authenticate"))
	resp, _ = f.do(t, "GET", "/api/queues", bearer(token+"x"))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = f.do(t, "GET", "/api/queues", bearer(token[:len(token)-1]))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = f.do(t, "GET", "/api/queues", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) })
	require.Equal(t, http.StatusOK, resp.StatusCode, "the scheme is case-insensitive")
}

func TestBasicAndTokenTogether(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{Username: "ops", Password: "pa55word", Token: token})
	resp, _ := f.do(t, "GET", "/api/queues", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.ElementsMatch(t, []string{`Basic realm="smsq monitoring", charset="UTF-8"`, `Bearer realm="smsq monitoring"`},
		resp.Header.Values("WWW-Authenticate"))
	for _, auth := range []func(*http.Request){basic("ops", "pa55word"), bearer(token)} {
		resp, _ = f.do(t, "GET", "/api/queues", auth)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

func TestReadOnlyRefusesDelete(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{ReadOnly: true})
	path := "/api/queues/transactional/scheduled_tasks/" + f.id
	resp, body := f.do(t, "DELETE", path, nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, body)
	require.Contains(t, body, "read-only")
	i := asynq.NewInspector(f.redis.AsynqOpt())
	t.Cleanup(func() { _ = i.Close() })
	_, err := i.GetTaskInfo("transactional", f.id)
	require.NoError(t, err, "the task is still there")
}

func TestWritableUIDeletes(t *testing.T) {
	t.Parallel()
	f := setup(t, monitoring.Options{})
	resp, body := f.do(t, "DELETE", "/api/queues/transactional/scheduled_tasks/"+f.id, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
	i := asynq.NewInspector(f.redis.AsynqOpt())
	t.Cleanup(func() { _ = i.Close() })
	_, err := i.GetTaskInfo("transactional", f.id)
	require.ErrorIs(t, err, asynq.ErrTaskNotFound)
}

func TestFormat(t *testing.T) {
	t.Parallel()
	h, err := monitoring.New(monitoring.Options{Conn: asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, Secrets: secrets()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	require.Equal(t, `{"to":"+243*******78","k":"***"}`, h.Format([]byte(`{"to":"+243812345678","k":"`+secret+`"}`)))
	require.Equal(t, "non-printable bytes", h.Format([]byte{0xff, 0xfe}))
	require.Equal(t, `{"id":"2026-01-02T15:04:05Z"}`, h.Format([]byte(`{"id":"2026-01-02T15:04:05Z"}`)))
}

func TestOptionsNameTheBadField(t *testing.T) {
	t.Parallel()
	for want, o := range map[string]monitoring.Options{
		"conn":      {},
		"root_path": {Conn: asynq.RedisClientOpt{}, RootPath: "monitoring"},
		"password":  {Conn: asynq.RedisClientOpt{}, Username: "ops"},
		"username":  {Conn: asynq.RedisClientOpt{}, Username: "a:b", Password: "x"},
	} {
		_, err := monitoring.New(o)
		require.ErrorContains(t, err, want)
	}
}
