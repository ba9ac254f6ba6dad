package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/api"
	"github.com/smsq/smsq/cli"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/events"
	"github.com/smsq/smsq/ledger"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
)

const (
	shopKey       = "shop-key-0123456789abcdef"
	crmKey        = "crm-key-0123456789abcdef"
	opsKey        = "ops-key-0123456789abcdef"
	signingSecret = "e2e-signing-secret-0123456789"
)

// callbackReceiver is a producer's status endpoint: it verifies every
// signature, fails the first request of each message with 503 (so retries
// are exercised), and keeps the events it accepted.
type callbackReceiver struct {
	mu       sync.Mutex
	byID     map[string][]events.Event
	paths    map[string]string
	forged   int
	failedID map[string]bool
}

func newCallbackReceiver() *callbackReceiver {
	return &callbackReceiver{byID: map[string][]events.Event{}, paths: map[string]string{}, failedID: map[string]bool{}}
}

func (c *callbackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := events.Verify(signingSecret, r.Header.Get(events.SignatureHeader), body, time.Minute); err != nil {
		c.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !c.failedID[ev.ID] {
		c.failedID[ev.ID] = true
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	c.byID[ev.ID] = append(c.byID[ev.ID], ev)
	c.paths[ev.ID] = r.URL.RequestURI()
	w.WriteHeader(http.StatusNoContent)
}

func (c *callbackReceiver) states(id string) map[ledger.State]events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[ledger.State]events.Event{}
	for _, ev := range c.byID[id] {
		out[ev.State] = ev
	}
	return out
}

// apiBundle is a worker, the API served by `enqueue serve`, and a
// producer that only speaks HTTP.
type apiBundle struct {
	*bundle
	url      string
	receiver *callbackReceiver
	rcvURL   string
	serveLog *syncBuffer
}

// setupAPI serves the API with keys shop (its callback URL on the
// receiver), crm and ops (admin). The receiver listens on 127.0.0.1, so
// api.allow_private_callbacks is on.
func setupAPI(t *testing.T, withWorker bool) *apiBundle {
	t.Helper()
	return setupAPIWith(t, withWorker, true)
}

func setupAPIWith(t *testing.T, withWorker, allowPrivate bool) *apiBundle {
	t.Helper()
	b := &apiBundle{bundle: setup(t, sbkeccel.Options{}), receiver: newCallbackReceiver(), serveLog: &syncBuffer{}}
	rs := httptest.NewServer(b.receiver)
	t.Cleanup(rs.Close)
	b.rcvURL = rs.URL
	path := filepath.Join(t.TempDir(), "smsq.yaml")
	shopCallback := "      callback_url: " + rs.URL + "/shop\n"
	if !allowPrivate {
		shopCallback = "" // a key's private URL would be refused at load
	}
	yaml := fmt.Sprintf(`api:
  signing_secret: %s
  max_body_bytes: 2048
  max_batch: 3
  allow_private_callbacks: %t
  keys:
    - name: shop
      key: %s
%s    - name: crm
      key: %s
    - name: ops
      key: %s
      admin: true
`, signingSecret, allowPrivate, shopKey, shopCallback, crmKey, opsKey)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path, b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	b.environ = append(b.environ, "SMSQ_CONFIG="+path)
	if withWorker {
		b.startWorker(t)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Execute(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, out, b.serveLog, b.environ)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			require.Zero(t, code, "serve: %s", b.serveLog.String())
		case <-time.After(30 * time.Second):
			t.Error("enqueue serve did not stop within 30s")
		}
	})
	addr := regexp.MustCompile(`listening on (http://\S+)`)
	require.Eventually(t, func() bool {
		m := addr.FindStringSubmatch(out.String())
		if m != nil {
			b.url = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "serve never listened: %s", b.serveLog.String())
	return b
}

type httpAnswer struct {
	code   int
	header http.Header
	body   []byte
}

func (b *apiBundle) call(t *testing.T, method, path, body string, headers ...string) httpAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return httpAnswer{code: resp.StatusCode, header: resp.Header, body: data}
}

func (a httpAnswer) into(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }

// TestProducerUsesOnlyHTTP: send, read status and receive signed status
// callbacks without a line of Go on the producer's side.
func TestProducerUsesOnlyHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, true)
	msg := `{"provider":"keccel","to":"+243812345678","text":"Your code is 4321"}`

	// The shop's key carries a callback URL; its messages report there.
	first := b.call(t, "POST", "/v1/messages", msg, append(bearer(shopKey), "Idempotency-Key", "otp-http-1")...)
	require.Equal(t, http.StatusAccepted, first.code, "%s", first.body)
	var acc tasks.Accepted
	first.into(t, &acc)
	require.Equal(t, "otp-http-1", acc.Message.ID)
	require.False(t, acc.Duplicate)
	// The producer's retry of the same request is recognised.
	again := b.call(t, "POST", "/v1/messages", msg, append(bearer(shopKey), "Idempotency-Key", "otp-http-1")...)
	require.Equal(t, http.StatusAccepted, again.code)
	again.into(t, &acc)
	require.True(t, acc.Duplicate)

	// The CRM names its own callback URL per message, or none.
	own := b.call(t, "POST", "/v1/messages",
		`{"id":"otp-http-2","provider":"keccel","to":"+243812345679","text":"hi","callback_url":"`+b.rcvURL+`/own?token=t1"}`, "X-API-Key", crmKey)
	require.Equal(t, http.StatusAccepted, own.code, "%s", own.body)
	silent := b.call(t, "POST", "/v1/messages", `{"id":"otp-http-3","provider":"keccel","to":"+243812345670","text":"hi"}`, bearer(crmKey)...)
	require.Equal(t, http.StatusAccepted, silent.code, "%s", silent.body)

	// Status by polling GET, each with the key that sent it.
	var rec api.MessageResponse
	for id, key := range map[string]string{"otp-http-1": shopKey, "otp-http-2": crmKey, "otp-http-3": crmKey} {
		require.Eventually(t, func() bool {
			a := b.call(t, "GET", "/v1/messages/"+id, "", bearer(key)...)
			require.Equal(t, http.StatusOK, a.code, "%s", a.body)
			a.into(t, &rec)
			return rec.Message.State == ledger.Submitted || rec.Message.State == ledger.Delivered
		}, 60*time.Second, 20*time.Millisecond, "%s: last %+v", id, rec.Message)
	}
	a := b.call(t, "GET", "/v1/messages/otp-http-1", "", bearer(shopKey)...)
	a.into(t, &rec)
	require.Equal(t, "+243812345678", rec.Message.To)
	require.Equal(t, b.rcvURL+"/shop", rec.Message.CallbackURL)
	require.NotEmpty(t, rec.Message.ProviderID)
	require.Equal(t, "shop", rec.Message.Producer, "the record names its key, though a worker may have written it first")

	// Signed callbacks, each state once, retried past the receiver's 503.
	for id, path := range map[string]string{"otp-http-1": "/shop", "otp-http-2": "/own?token=t1"} {
		var got map[ledger.State]events.Event
		require.Eventually(t, func() bool {
			got = b.receiver.states(id)
			return len(got) >= 3
		}, 60*time.Second, 20*time.Millisecond, "%s: callbacks so far %v", id, got)
		require.Contains(t, got, ledger.Queued)
		require.Contains(t, got, ledger.Sending)
		require.Contains(t, got, ledger.Submitted)
		require.Equal(t, ledger.Queued, got[ledger.Sending].Previous)
		require.Equal(t, ledger.Sending, got[ledger.Submitted].Previous)
		require.Equal(t, "keccel", got[ledger.Submitted].Provider)
		require.NotEmpty(t, got[ledger.Submitted].ProviderID)
		require.Less(t, got[ledger.Queued].EventID, got[ledger.Submitted].EventID, "event ids order the changes")
		b.receiver.mu.Lock()
		require.Equal(t, path, b.receiver.paths[id])
		b.receiver.mu.Unlock()
	}
	require.Empty(t, b.receiver.states("otp-http-3"), "no callback URL, no callbacks")
	b.receiver.mu.Lock()
	require.Zero(t, b.receiver.forged, "every callback was correctly signed")
	b.receiver.mu.Unlock()

	require.Equal(t, 3, b.keccel.Recorder().AcceptedCount(), "the repeated request sent nothing more")
	logs := b.serveLog.String()
	require.NotContains(t, logs, "812345678", "the API never logs a number")
	require.NotContains(t, logs, shopKey)
	require.NotContains(t, logs, crmKey)
}

// TestProducerAPIRefusesWhatItCannotTake: authentication, size, syntax
// and validation, each with an answer a program can act on.
func TestProducerAPIRefusesWhatItCannotTake(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, false)
	msg := `{"provider":"keccel","to":"+243812345678","text":"hi"}`

	for name, h := range map[string][]string{
		"no key":    nil,
		"wrong key": bearer("shop-key-0123456789abcdeX"),
		"wrong X":   {"X-API-Key", "nope"},
	} {
		a := b.call(t, "POST", "/v1/messages", msg, h...)
		require.Equal(t, http.StatusUnauthorized, a.code, name)
		var e api.ErrorBody
		a.into(t, &e)
		require.NotEmpty(t, e.Error, name)
	}

	big := b.call(t, "POST", "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"`+strings.Repeat("x", 3000)+`"}`, bearer(shopKey)...)
	require.Equal(t, http.StatusRequestEntityTooLarge, big.code)

	malformed := b.call(t, "POST", "/v1/messages", `{"provider":"keccel","to":243812345678,"text":"hi"}`, bearer(shopKey)...)
	require.Equal(t, http.StatusBadRequest, malformed.code)
	var e api.ErrorBody
	malformed.into(t, &e)
	require.Equal(t, "to", e.Fields[0].Field)
	require.NotEmpty(t, e.Fields[0].Reason)

	broken := b.call(t, "POST", "/v1/messages", `{"provider":`, bearer(shopKey)...)
	require.Equal(t, http.StatusBadRequest, broken.code)

	invalid := b.call(t, "POST", "/v1/messages", `{"provider":"keccel","to":"+24312","text":"hi"}`, bearer(shopKey)...)
	require.Equal(t, http.StatusUnprocessableEntity, invalid.code)
	invalid.into(t, &e)
	require.Equal(t, "to", e.Fields[0].Field)

	batch := b.call(t, "POST", "/v1/messages", `{"messages":[`+msg+`,{"provider":"keccel","to":"+243812345678","text":""},`+msg+`]}`, bearer(shopKey)...)
	require.Equal(t, http.StatusUnprocessableEntity, batch.code, "%s", batch.body)
	batch.into(t, &e)
	require.Len(t, e.Fields, 1)
	require.Equal(t, 1, *e.Fields[0].Index)
	require.Equal(t, "messages[1].text", e.Fields[0].Field)

	tooMany := b.call(t, "POST", "/v1/messages", `{"messages":[`+msg+`,`+msg+`,`+msg+`,`+msg+`]}`, bearer(shopKey)...)
	require.Equal(t, http.StatusUnprocessableEntity, tooMany.code)

	require.Empty(t, b.redis.Client().Keys(context.Background(), "asynq:*pending").Val(), "nothing was queued")
}

// TestCampaignOverHTTP: create, read, pause, resume and cancel.
func TestCampaignOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, false)
	created := b.call(t, "POST", "/v1/campaigns", `{"id":"spring","provider":"keccel","message":"Hola {{name}}",
		"pacing":{"start_date":"2099-03-20 09:00","time_zone":"Europe/Madrid","smsxblock":1,"minutesxblock":5},
		"recipients":[{"phone":"+243812345671","name":"Ana"},{"phone":"+243812345672","name":"Luis"}]}`, bearer(shopKey)...)
	require.Equal(t, http.StatusCreated, created.code, "%s", created.body)
	var res api.CampaignResponse
	created.into(t, &res)
	require.Equal(t, 2, res.Campaign.Blocks)

	for _, step := range []struct {
		method, path string
		code         int
		state        string
	}{
		{"GET", "/v1/campaigns/spring", http.StatusOK, "scheduled"},
		{"POST", "/v1/campaigns/spring/pause", http.StatusOK, "paused"},
		{"POST", "/v1/campaigns/spring/resume", http.StatusOK, "scheduled"},
		{"POST", "/v1/campaigns/spring/cancel", http.StatusOK, "cancelled"},
		{"POST", "/v1/campaigns/spring/pause", http.StatusConflict, ""},
		{"GET", "/v1/campaigns/autumn", http.StatusNotFound, ""},
	} {
		a := b.call(t, step.method, step.path, "", bearer(shopKey)...)
		require.Equal(t, step.code, a.code, "%s %s: %s", step.method, step.path, a.body)
		if step.state != "" {
			a.into(t, &res)
			require.EqualValues(t, step.state, res.Campaign.State, step.path)
		}
	}
}

func TestAPIConfigMistakesNameTheField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := func(name, k string) string { return "    - name: " + name + "\n      key: " + k + "\n" }
	for name, tc := range map[string]struct{ yaml, want string }{
		"short key":        {"api:\n  keys:\n" + key("shop", "short"), "api.keys[0].key"},
		"nameless key":     {"api:\n  keys:\n" + key("", shopKey), "api.keys[0].name"},
		"same name twice":  {"api:\n  keys:\n" + key("shop", shopKey) + key("shop", crmKey), "api.keys[1].name"},
		"same key twice":   {"api:\n  keys:\n" + key("shop", shopKey) + key("crm", shopKey), "api.keys[1].key"},
		"bad callback":     {"api:\n  keys:\n" + key("shop", shopKey) + "      callback_url: ftp://x\n", "api.keys[0].callback_url"},
		"private callback": {"api:\n  keys:\n" + key("shop", shopKey) + "      callback_url: http://10.0.0.5/x\n", "api.keys[0].callback_url"},
		"short secret":     {"api:\n  signing_secret: abc\n", "api.signing_secret"},
		"huge batch":       {"api:\n  max_batch: 100000\n", "api.max_batch"},
		"negative body":    {"api:\n  max_body_bytes: -1\n", "api.max_body_bytes"},
		"unknown api key":  {"api:\n  rate: 5\n", "rate"},
		"zero attempts ok": {"api:\n  callback_attempts: 0\n", ""},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o600))
		cfg, err := config.Load(p, nil)
		if tc.want == "" {
			require.NoError(t, err, name)
			require.Equal(t, 10, cfg.API.CallbackAttempts, name)
			require.EqualValues(t, 1<<20, cfg.API.MaxBodyBytes, name)
			require.Equal(t, 1000, cfg.API.MaxBatch, name)
			require.Equal(t, "127.0.0.1:8090", cfg.API.Addr, name)
			continue
		}
		require.Error(t, err, name)
		require.Contains(t, err.Error(), tc.want, name)
		require.NotContains(t, err.Error(), shopKey, name)
	}
}
