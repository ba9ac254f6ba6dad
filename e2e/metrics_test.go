package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
)

// startWorkerHTTP runs app.RunWorker in this process with its HTTP
// endpoints on a free loopback port, and returns their root URL.
func (b *bundle) startWorkerHTTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- app.RunWorker(ctx, b.cfg, logs, app.WorkerOptions{Listener: ln}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30s")
		}
	})
	root := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		resp, err := http.Get(root + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	return root
}

// withEnv reloads b's configuration with more environment settings.
func (b *bundle) withEnv(t *testing.T, env ...string) {
	t.Helper()
	b.environ = append(b.environ, env...)
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
}

// scrapeMetrics returns every sample of GET /metrics keyed as the text
// format prints it: name{label="value",…}.
func scrapeMetrics(t *testing.T, root string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(root + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /metrics: app.RunWorker mounts app.WorkerMetrics there")
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// eventuallyMetric waits for a scrape-time series (read from Redis, and
// reused for up to 2s) to reach want.
func eventuallyMetric(t *testing.T, root, series string, want float64) {
	t.Helper()
	var last map[string]float64
	require.Eventually(t, func() bool {
		last = scrapeMetrics(t, root)
		v, ok := last[series]
		return ok && v == want
	}, 30*time.Second, 50*time.Millisecond, "%s never reached %v (last: %v)", series, want, last[series])
}

func TestMetricsCountSendsRateLimitsAndFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	root := b.startWorkerHTTP(t)

	const n = 3
	for i := 0; i < n; i++ {
		id := "met-" + strconv.Itoa(i)
		require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+24381234560"+strconv.Itoa(i), "-m", "hi", "--id", id))
		b.waitState(t, id, ledger.Submitted)
	}
	got := scrapeMetrics(t, root)
	require.Equal(t, float64(n), got[`smsq_messages_sent_total{provider="keccel"}`])
	require.Equal(t, float64(n), got[`smsq_provider_request_duration_seconds_count{provider="keccel"}`])
	for _, class := range []string{"retryable", "auth", "recipient", "request"} {
		require.Zero(t, got[`smsq_messages_failed_total{class="`+class+`",provider="keccel"}`], class)
	}
	require.Zero(t, got[`smsq_provider_429_total{provider="keccel"}`])
	eventuallyMetric(t, root, `smsq_throttle_slots_granted_total{provider="keccel"}`, n)
	eventuallyMetric(t, root, `smsq_breaker_state{provider="keccel"}`, 0)
	eventuallyMetric(t, root, `smsq_queue_processed_total{queue="transactional"}`, n)
	got = scrapeMetrics(t, root)
	for _, q := range []string{tasks.QueueTransactional, tasks.QueueBulk, tasks.QueueDelivery, tasks.QueueEvents} {
		require.Contains(t, got, `smsq_queue_size{queue="`+q+`"}`, q)
		require.Contains(t, got, `smsq_queue_latency_seconds{queue="`+q+`"}`, q)
		require.Contains(t, got, `smsq_queue_tasks{queue="`+q+`",state="pending"}`, q)
	}

	// A number the provider refuses: a permanent failure of class recipient.
	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243810666666", "-m", "hi", "--id", "met-bad"))
	b.waitState(t, "met-bad", ledger.Rejected)
	got = scrapeMetrics(t, root)
	require.Equal(t, 1.0, got[`smsq_messages_failed_total{class="recipient",provider="keccel"}`])
	require.Equal(t, float64(n), got[`smsq_messages_sent_total{provider="keccel"}`])

	// A 429: counted as such, not as a failure; the message goes out after.
	b.keccel.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "1"})
	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243812345699", "-m", "hi", "--id", "met-429"))
	require.Eventually(t, func() bool { return b.keccel.Faults().Injected()["429"] >= 1 }, 30*time.Second, 10*time.Millisecond)
	b.keccel.Faults().Set(sandbox.Faults{})
	b.waitState(t, "met-429", ledger.Submitted)
	n429 := float64(b.keccel.Faults().Injected()["429"])
	got = scrapeMetrics(t, root)
	require.Equal(t, n429, got[`smsq_provider_429_total{provider="keccel"}`])
	require.Equal(t, float64(n+1), got[`smsq_messages_sent_total{provider="keccel"}`])
	require.Zero(t, got[`smsq_messages_failed_total{class="retryable",provider="keccel"}`], "a 429 is not a failure")
	calls := float64(n+1+1) + n429
	require.Equal(t, calls, got[`smsq_provider_request_duration_seconds_count{provider="keccel"}`])
	require.Equal(t, float64(b.keccel.Recorder().Calls()), calls, "one observation per call the fake saw")
	eventuallyMetric(t, root, `smsq_throttle_slots_granted_total{provider="keccel"}`, calls)
}

// monitoringEnv protects the UI with basic auth and a token and makes it
// view-only.
var monitoringEnv = []string{
	"SMSQ_MONITORING__USERNAME=ops",
	"SMSQ_MONITORING__PASSWORD=ops-pa55word",
	"SMSQ_MONITORING__TOKEN=0123456789abcdef-e2e",
	"SMSQ_MONITORING__READ_ONLY=true",
}

func TestMonitoringUIMasksNumbersHidesSecretsAndIsProtected(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	b.withEnv(t, monitoringEnv...)
	root := b.startWorkerHTTP(t)

	// A message for later: it waits in the scheduled set, where the UI
	// lists it. Its text carries the provider's token, as a careless
	// producer might; the UI must not show it.
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243 81 234 5678", "--send-at", at,
		"-m", "key "+sbkeccel.DefaultToken, "--id", "later-1"))

	call := func(method, path string, auth func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, root+path, nil)
		require.NoError(t, err)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	ops := basic("ops", "ops-pa55word")
	const list = "/monitoring/api/queues/transactional/scheduled_tasks"

	for name, auth := range map[string]func(*http.Request){"none": nil, "wrong password": basic("ops", "guess"),
		"wrong token": func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-e2f") }} {
		for _, path := range []string{list, "/monitoring/"} {
			resp, body := call("GET", path, auth)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s", name, path)
			require.Contains(t, resp.Header.Values("WWW-Authenticate"), `Basic realm="smsq monitoring", charset="UTF-8"`)
			require.NotContains(t, body, "later-1")
		}
	}

	resp, body := call("GET", "/monitoring/", ops)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "<html")

	for _, auth := range []func(*http.Request){ops,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-e2e") }} {
		resp, body = call("GET", list, auth)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var page struct {
			Tasks []struct {
				ID      string `json:"id"`
				Payload string `json:"payload"`
			} `json:"tasks"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		require.Len(t, page.Tasks, 1)
		require.Equal(t, "later-1", page.Tasks[0].ID)
		require.Contains(t, page.Tasks[0].Payload, `"to":"+243*******78"`)
		require.Contains(t, page.Tasks[0].Payload, `"text":"key ***"`)
		require.NotContains(t, body, "812345678")
		require.NotContains(t, body, sbkeccel.DefaultToken)
	}

	// Read-only: the API refuses to delete, and the task stays.
	resp, body = call("DELETE", list+"/later-1", ops)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, body)
	insp := asynq.NewInspectorFromRedisClient(b.redis.Client())
	info, err := insp.GetTaskInfo(tasks.QueueTransactional, "later-1")
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStateScheduled, info.State)

	// /metrics is not behind the UI's credentials and sees the task.
	eventuallyMetric(t, root, `smsq_queue_tasks{queue="transactional",state="scheduled"}`, 1)
}

func TestMonitoringSettingsAreValidated(t *testing.T) {
	t.Parallel()
	for field, env := range map[string][]string{
		"monitoring.password": {"SMSQ_MONITORING__USERNAME=ops"},
		"monitoring.username": {"SMSQ_MONITORING__PASSWORD=ops-pa55word"},
		"monitoring.token":    {"SMSQ_MONITORING__TOKEN=short"},
	} {
		_, err := config.Load("", env)
		require.ErrorContains(t, err, field)
		require.NotContains(t, err.Error(), "ops-pa55word", "no secret in the error")
	}
	cfg, err := config.Load("", monitoringEnv)
	require.NoError(t, err)
	require.True(t, cfg.Monitoring.ReadOnly)
	require.True(t, cfg.Monitoring.Protected())
}

func TestProfilerIsServedOnlyWhenAskedFor(t *testing.T) {
	t.Parallel()
	get := func(root, path string) int {
		t.Helper()
		resp, err := http.Get(root + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	off := setup(t, sbkeccel.Options{})
	root := off.startWorkerHTTP(t)
	require.Equal(t, http.StatusNotFound, get(root, "/debug/pprof/"), "worker.pprof defaults to off")
	require.Equal(t, http.StatusNotFound, get(root, "/debug/pprof/heap"))

	on := setup(t, sbkeccel.Options{})
	on.withEnv(t, "SMSQ_WORKER__PPROF=true")
	root = on.startWorkerHTTP(t)
	require.Equal(t, http.StatusOK, get(root, "/debug/pprof/"))
	require.Equal(t, http.StatusOK, get(root, "/debug/pprof/heap?debug=1"))
	require.Equal(t, http.StatusOK, get(root, "/debug/pprof/profile?seconds=1"))
}
