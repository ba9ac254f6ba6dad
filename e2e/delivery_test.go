package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/worker"
)

// cbSecret is the delivery.callback_secret of these tests.
const cbSecret = "e2e-callback-secret-5c1f0a9d"

// Poll schedules: "soon" polls every second; "never" leaves the first
// poll an hour away, so only a push can settle a message within a test.
var (
	pollSoon  = delivery.Schedule{Steps: []time.Duration{time.Second}, Every: time.Second}
	pollNever = delivery.Schedule{Steps: []time.Duration{time.Hour}, Every: time.Hour}
)

// dbundle is a bundle with a Sakari fake too and the worker's HTTP
// listener open before the worker starts, so the fakes can be given its
// callback URLs.
type dbundle struct {
	*bundle
	sakari *sbsakari.Server
	ln     net.Listener
	root   string // the worker's HTTP root, http://127.0.0.1:port
	dl     *app.Delivery
}

func setupDelivery(t *testing.T, ko sbkeccel.Options, so sbsakari.Options, env ...string) *dbundle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &dbundle{bundle: &bundle{redis: redistest.Start(t)}, ln: ln, root: "http://" + ln.Addr().String()}
	if ko.CallbackURL == "push" {
		ko.CallbackURL = b.callbackURL("keccel")
	}
	b.keccel, b.sakari = sbkeccel.New(ko), sbsakari.New(so)
	ks, ss := httptest.NewServer(b.keccel), httptest.NewServer(b.sakari)
	t.Cleanup(func() { ks.Close(); ss.Close(); _ = b.keccel.Close(); b.sakari.Close() })
	b.environ = append([]string{
		"SMSQ_REDIS__URL=" + b.redis.URL(),
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + ks.URL + sbkeccel.BasePath,
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		"SMSQ_PROVIDERS__SAKARI__ENABLED=true",
		"SMSQ_PROVIDERS__SAKARI__BASE_URL=" + ss.URL,
		"SMSQ_PROVIDERS__SAKARI__CLIENT_ID=" + sbsakari.DefaultClientID,
		"SMSQ_PROVIDERS__SAKARI__CLIENT_SECRET=" + sbsakari.DefaultClientSecret,
		"SMSQ_PROVIDERS__SAKARI__ACCOUNT_ID=" + sbsakari.DefaultAccountID,
		"SMSQ_DELIVERY__CALLBACK_SECRET=" + cbSecret,
		"SMSQ_SEND__RETRY_BASE=200ms",
		"SMSQ_SEND__RETRY_MAX=1s",
		"SMSQ_LOG__LEVEL=warn",
	}, env...)
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	return b
}

func (b *dbundle) callbackURL(provider string) string {
	return b.root + delivery.CallbackPath(cbSecret, provider)
}

// startWorker assembles and runs a worker as app.RunWorker does, with the
// delivery machinery wired in through app.NewDelivery and Wire.
func (b *dbundle) startWorker(t *testing.T, sched delivery.Schedule) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := app.Effective(b.cfg)
	log := app.Logger(cfg, logs)
	conn, err := app.Connect(cfg)
	require.NoError(t, err)
	senders, err := app.Senders(cfg, conn.Redis, log)
	require.NoError(t, err)
	guard, err := app.Guard(cfg, conn.Redis, log)
	require.NoError(t, err)
	led := ledger.New(conn.Redis, app.LedgerOptions(cfg))
	h := &worker.Handlers{Ledger: led, Senders: senders, Guard: guard, Suppress: suppress.New(conn.Redis, ""),
		MaxAttempts: cfg.Send.MaxAttempts, CostBy: app.CostBy(cfg), Log: log}
	b.dl, err = app.NewDelivery(cfg, conn, senders, guard, led, log, app.DeliveryOptions{Schedule: sched})
	require.NoError(t, err)
	extra := map[string]asynq.Handler{}
	mux := http.NewServeMux()
	b.dl.Wire(h, extra, mux)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.ServerOptions{Conn: conn.Asynq, Redis: conn.Redis, Handlers: h, Concurrency: 10,
			RetryBase: cfg.Send.RetryBase, RetryMax: cfg.Send.RetryMax, Listener: b.ln, Mux: mux, Extra: extra, Log: log})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30s")
		}
		_ = conn.Close()
	})
	return logs
}

func (b *dbundle) send(t *testing.T, provider, to, id string) {
	t.Helper()
	var acc tasks.Accepted
	require.Zero(t, b.enqueue(t, &acc, "send", "-p", provider, "-t", to, "-m", "delivery test", "--id", id))
	require.Equal(t, id, acc.Message.ID)
}

// providerGet calls the worker as a provider would and returns the status code.
func providerGet(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (b *dbundle) pollTask(t *testing.T, taskID string) (*asynq.TaskInfo, error) {
	t.Helper()
	return asynq.NewInspectorFromRedisClient(b.redis.Client()).GetTaskInfo(tasks.QueueDelivery, taskID)
}

func (b *dbundle) requireNoPoll(t *testing.T, taskID, why string) {
	t.Helper()
	_, err := b.pollTask(t, taskID)
	require.Error(t, err, why)
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound), "%s: %v", why, err)
}

func settledBy(t *testing.T, rec ledger.Record, src ledger.Source) {
	t.Helper()
	last := rec.History[len(rec.History)-1]
	require.Equal(t, rec.State, last.State)
	require.Equal(t, src, last.Source, "history: %+v", rec.History)
}

func TestKeccelDeliveredByPush(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{CallbackURL: "push", FailNumbers: []string{"243812345679"}}, sbsakari.Options{})
	logs := b.startWorker(t, pollNever)
	b.send(t, "keccel", "+243812345678", "kp-ok")
	b.send(t, "keccel", "+243812345679", "kp-fail")

	ok := b.waitState(t, "kp-ok", ledger.Delivered)
	settledBy(t, ok, ledger.SourceCallback)
	require.Equal(t, "DELIVERED", ok.History[len(ok.History)-1].Note)
	failed := b.waitState(t, "kp-fail", ledger.Failed)
	settledBy(t, failed, ledger.SourceCallback)
	require.Equal(t, "provider reported FAILED", failed.LastError)
	for _, r := range b.keccel.Recorder().Requests() {
		require.NotEqual(t, "/sms/v2/delivery.asp", r.Path, "no poll was needed")
	}
	require.NotContains(t, logs.String(), cbSecret)
	require.NotContains(t, logs.String(), "812345678")
}

func TestKeccelDeliveredByPullWhenPushIsOff(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{FailNumbers: []string{"243812345679"}}, sbsakari.Options{})
	b.startWorker(t, pollSoon)
	b.send(t, "keccel", "+243812345678", "kl-ok")
	b.send(t, "keccel", "+243812345679", "kl-fail")

	ok := b.waitState(t, "kl-ok", ledger.Delivered)
	settledBy(t, ok, ledger.SourcePoll)
	failed := b.waitState(t, "kl-fail", ledger.Failed)
	settledBy(t, failed, ledger.SourcePoll)
	polls := 0
	for _, r := range b.keccel.Recorder().Requests() {
		if r.Path == "/sms/v2/delivery.asp" {
			polls++
			require.Equal(t, "GET", r.Method)
		}
	}
	require.GreaterOrEqual(t, polls, 2, "both messages were polled")
}

func TestSakariDeliveredByWebhook(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{DeliverAfter: 200 * time.Millisecond, FailNumbers: []string{"+14155552672"}})
	b.startWorker(t, pollNever)

	var sub struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	require.Zero(t, b.enqueue(t, &sub, "webhooks", "subscribe", "--url", b.callbackURL("sakari")))
	require.Equal(t, []string{"message-status"}, sub.EventTypes)
	require.NotContains(t, sub.URL, cbSecret, "the callback secret is not printed")
	require.Equal(t, b.root+"/callbacks/***/sakari", sub.URL)
	require.Contains(t, b.sakari.Subscriptions(), b.callbackURL("sakari"))

	b.send(t, "sakari", "+14155552671", "sw-ok")
	b.send(t, "sakari", "+14155552672", "sw-fail")
	ok := b.waitState(t, "sw-ok", ledger.Delivered)
	settledBy(t, ok, ledger.SourceCallback)
	require.Equal(t, "delivered", ok.History[len(ok.History)-1].Note)
	failed := b.waitState(t, "sw-fail", ledger.Failed)
	settledBy(t, failed, ledger.SourceCallback)
	require.Equal(t, "MSG-019", failed.LastError)
}

func TestWebhooksCommand(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{})
	list := func() []map[string]any {
		var hooks []map[string]any
		require.Zero(t, b.enqueue(t, &hooks, "webhooks", "list"))
		return hooks
	}
	require.Empty(t, list())
	require.Zero(t, b.enqueue(t, nil, "webhooks", "subscribe", "--url", "https://example.test/hooks/a", "--event", "message-status,message-received"))
	require.Zero(t, b.enqueue(t, nil, "webhooks", "subscribe", "--url", b.callbackURL("sakari")))
	hooks := list()
	require.Len(t, hooks, 2)
	require.Equal(t, "https://example.test/hooks/a", hooks[0]["url"])
	require.Equal(t, []any{"message-status", "message-received"}, hooks[0]["event_types"])
	require.Equal(t, b.root+"/callbacks/***/sakari", hooks[1]["url"])

	var un map[string]any
	require.Zero(t, b.enqueue(t, &un, "webhooks", "unsubscribe", "--url", "https://example.test/hooks/a"))
	require.Equal(t, true, un["unsubscribed"])
	require.Len(t, list(), 1)
	require.Equal(t, map[string][]string{b.callbackURL("sakari"): {"message-status"}}, b.sakari.Subscriptions())

	var failed struct{ Error string }
	require.Equal(t, 1, b.enqueue(t, &failed, "webhooks", "unsubscribe", "--url", "https://example.test/hooks/none"))
	require.NotEmpty(t, failed.Error)
	require.Equal(t, 1, b.enqueue(t, &failed, "webhooks", "subscribe", "--url", "not a url"))
	require.Contains(t, failed.Error, "absolute")

	var out strings.Builder
	require.Zero(t, cliExecute([]string{"webhooks", "list"}, &out, b.environ))
	require.Contains(t, out.String(), "/callbacks/***/sakari\tmessage-status")
	require.NotContains(t, out.String(), cbSecret)
}

func TestSakariDeliveredByFetch(t *testing.T) {
	t.Parallel()
	// "sent" for the first 0.75 s, then delivered: the first fetch may
	// find it not final yet, and the next one settles it.
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{DeliverAfter: 1500 * time.Millisecond, FailNumbers: []string{"+14155552672"}})
	b.startWorker(t, pollSoon)
	b.send(t, "sakari", "+14155552671", "sf-ok")
	b.send(t, "sakari", "+14155552672", "sf-fail")
	ok := b.waitState(t, "sf-ok", ledger.Delivered)
	settledBy(t, ok, ledger.SourcePoll)
	failed := b.waitState(t, "sf-fail", ledger.Failed)
	settledBy(t, failed, ledger.SourcePoll)
	require.Equal(t, "MSG-019", failed.LastError)
	fetches := 0
	for _, r := range b.sakari.Recorder().Requests() {
		if r.Method == "GET" && strings.Contains(r.Path, "/messages/") {
			fetches++
		}
	}
	require.GreaterOrEqual(t, fetches, 2)
}

func TestForgedCallbackIsRefused(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{})
	logs := b.startWorker(t, pollNever)
	b.send(t, "keccel", "+243812345678", "forged")
	before := b.waitState(t, "forged", ledger.Submitted)
	pid := before.ProviderID

	query := "?messageID=" + pid + "&status=DELIVERED"
	require.Equal(t, http.StatusUnauthorized, providerGet(t, b.root+"/callbacks/wrong-secret-wrong-secret/keccel"+query))
	require.Equal(t, http.StatusUnauthorized, providerGet(t, b.root+"/callbacks/keccel"+query), "no secret")
	require.Equal(t, http.StatusUnauthorized, providerGet(t, b.root+"/callbacks//keccel"+query), "empty secret")
	resp, err := http.Post(b.root+"/callbacks/guess/sakari", "application/json",
		strings.NewReader(`{"type":"messageStatus","data":{"id":"`+pid+`","status":"delivered"}}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	after, err := ledger.New(b.redis.Client(), ledger.Options{}).Get(context.Background(), "forged")
	require.NoError(t, err)
	require.Equal(t, before, after, "nothing changed")
	require.NotContains(t, logs.String(), "wrong-secret-wrong-secret", "guesses are not logged")
}

func TestReportBeforeSubmissionIsReconciled(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{})
	b.startWorker(t, pollNever)
	// Keccel numbers messages from FirstMessageID: the report for the
	// first message arrives before it is even queued.
	pid := "1000001"
	require.Equal(t, http.StatusAccepted, providerGet(t, b.callbackURL("keccel")+"?messageID="+pid+"&status=DELIVERED"), "kept")

	b.send(t, "keccel", "+243812345678", "early")
	rec := b.waitState(t, "early", ledger.Delivered)
	require.Equal(t, pid, rec.ProviderID)
	settledBy(t, rec, ledger.SourceCallback)
	require.Equal(t, ledger.Submitted, rec.History[len(rec.History)-2].State)
	b.requireNoPoll(t, tasks.PollTaskID("early", 0), "a reconciled message needs no poll")
	require.Zero(t, b.redis.Client().Exists(context.Background(), "smsq:dl:kept:keccel:"+pid).Val(), "the kept report is gone")
}

func TestPushCancelsThePendingPoll(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{})
	b.startWorker(t, pollNever)
	b.send(t, "keccel", "+243812345678", "cancel")
	rec := b.waitState(t, "cancel", ledger.Submitted)
	taskID := tasks.PollTaskID("cancel", 0)
	require.Eventually(t, func() bool {
		info, err := b.pollTask(t, taskID)
		return err == nil && info.State == asynq.TaskStateScheduled
	}, 30*time.Second, 20*time.Millisecond, "the first poll is scheduled after submission")

	require.Equal(t, http.StatusOK, providerGet(t, b.callbackURL("keccel")+"?messageID="+rec.ProviderID+"&status=DELIVERED"))
	settledBy(t, b.waitState(t, "cancel", ledger.Delivered), ledger.SourceCallback)
	b.requireNoPoll(t, taskID, "the push deleted the pending poll")
}

func TestUndeliveredMessageExpires(t *testing.T) {
	t.Parallel()
	// Keccel keeps answering PENDING; the deadline is 3 s after submission.
	b := setupDelivery(t, sbkeccel.Options{DeliverAfter: time.Hour}, sbsakari.Options{}, "SMSQ_DELIVERY__EXPIRY=3s")
	b.startWorker(t, pollSoon)
	b.send(t, "keccel", "+243812345678", "late")
	rec := b.waitState(t, "late", ledger.Expired)
	settledBy(t, rec, ledger.SourcePoll)
	require.Contains(t, rec.History[len(rec.History)-1].Note, "no final delivery report within 3s")

	// A report after the deadline does not revive it.
	require.Equal(t, http.StatusOK, providerGet(t, b.callbackURL("keccel")+"?messageID="+rec.ProviderID+"&status=DELIVERED"))
	again := b.waitState(t, "late", ledger.Expired)
	require.Equal(t, rec.History, again.History)
}

func TestRepeatedCallbackIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{})
	b.startWorker(t, pollNever)
	b.send(t, "keccel", "+243812345678", "repeat")
	rec := b.waitState(t, "repeat", ledger.Submitted)
	url := b.callbackURL("keccel") + "?messageID=" + rec.ProviderID + "&status=DELIVERED"
	for i := 0; i < 3; i++ {
		require.Equal(t, http.StatusOK, providerGet(t, url), "report %d", i)
	}
	got := b.waitState(t, "repeat", ledger.Delivered)
	n := 0
	for _, h := range got.History {
		if h.State == ledger.Delivered {
			n++
		}
	}
	require.Equal(t, 1, n, "one transition for three reports")
	events := b.redis.Client().XRange(context.Background(), ledger.EventsKey(""), "-", "+").Val()
	delivered := 0
	for _, ev := range events {
		if ev.Values["id"] == "repeat" && ev.Values["state"] == "delivered" {
			delivered++
		}
	}
	require.Equal(t, 1, delivered, "one status event")
}

// TestEmbeddedSandboxPushesToTheWorker checks app.PointSandbox: the
// sandbox hub, as the embedded mode runs it, reports Keccel and Sakari
// deliveries to the worker by push.
func TestEmbeddedSandboxPushesToTheWorker(t *testing.T) {
	t.Parallel()
	h := hub.New(hub.Options{Sakari: sbsakari.Options{DeliverAfter: 100 * time.Millisecond}})
	hs := httptest.NewServer(h)
	t.Cleanup(func() { hs.Close(); h.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &dbundle{bundle: &bundle{redis: redistest.Start(t)}, ln: ln, root: "http://" + ln.Addr().String()}
	b.environ = append(hubEnviron(b.redis.URL(), hs.URL), "SMSQ_DELIVERY__CALLBACK_SECRET="+cbSecret)
	b.cfg, err = config.Load("", b.environ)
	require.NoError(t, err)
	b.startWorker(t, pollNever)
	require.NoError(t, b.dl.PointSandbox(context.Background(), h, hs.URL, ln.Addr().String()))
	require.Contains(t, h.Sakari.Subscriptions(), b.callbackURL("sakari"))

	b.send(t, "keccel", "+243812345678", "emb-k")
	b.send(t, "sakari", "+14155552671", "emb-s")
	settledBy(t, b.waitState(t, "emb-k", ledger.Delivered), ledger.SourceCallback)
	settledBy(t, b.waitState(t, "emb-s", ledger.Delivered), ledger.SourceCallback)
}

func TestEmbeddedModeGetsARandomCallbackSecret(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", nil)
	require.NoError(t, err)
	require.True(t, cfg.Redis.Embedded())
	a, c := app.WithCallbackSecret(cfg), app.WithCallbackSecret(cfg)
	require.NoError(t, delivery.ValidateSecret(a.Delivery.CallbackSecret))
	require.NotEmpty(t, a.Delivery.CallbackSecret)
	require.NotEqual(t, a.Delivery.CallbackSecret, c.Delivery.CallbackSecret, "random per run")

	real, err := config.Load("", []string{"SMSQ_REDIS__URL=redis://127.0.0.1:1/0", "SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__TOKEN=t", "SMSQ_PROVIDERS__KECCEL__FROM=SMSQ"})
	require.NoError(t, err)
	require.Empty(t, app.WithCallbackSecret(real).Delivery.CallbackSecret, "outside the demo an empty secret stays empty")
}
