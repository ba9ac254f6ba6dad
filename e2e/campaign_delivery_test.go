package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/ledger"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/worker"
)

// campaignStatus is what `enqueue campaign status --json` prints.
type campaignStatus struct {
	State   campaign.State   `json:"state"`
	Counts  map[string]int64 `json:"counts"`
	Outlook campaign.Outlook `json:"outlook"`
}

// recipientsFile writes a recipients CSV of n numbers after base.
func recipientsFile(t *testing.T, base string, n int) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("phone,name\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%02d,Person %d\n", base, i, i)
	}
	path := filepath.Join(t.TempDir(), "recipients.csv")
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o600))
	return path
}

// startScheduler runs app.RunScheduler until the test ends.
func (b *bundle) startScheduler(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunScheduler(ctx, b.cfg, &syncBuffer{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("scheduler did not stop within 30s")
		}
	})
}

// waitCampaign polls `campaign status --json` until done says so.
func (b *bundle) waitCampaign(t *testing.T, id string, done func(campaignStatus) bool) campaignStatus {
	t.Helper()
	var st campaignStatus
	require.Eventually(t, func() bool {
		st = campaignStatus{}
		return b.enqueue(t, &st, "campaign", "status", id) == 0 && done(st)
	}, 60*time.Second, 50*time.Millisecond, "campaign %s: last status %+v", id, st)
	return st
}

// TestCampaignRecipientsDeliveredByPushThroughTheWorker runs the worker as
// the worker command does (app.RunWorker): a Keccel campaign's recipients
// reach delivered or failed by Keccel's push to the worker's callback,
// the campaign status shows it, and /metrics counts the campaign's sends,
// the reports, and the recipients of a paused campaign.
func TestCampaignRecipientsDeliveredByPushThroughTheWorker(t *testing.T) {
	t.Parallel()
	// The pushes come a little after acceptance, as a real network's do.
	b := setup(t, sbkeccel.Options{DeliverAfter: 300 * time.Millisecond, FailNumbers: []string{"+243812345603"}})
	b.withEnv(t, "SMSQ_DELIVERY__CALLBACK_SECRET="+cbSecret)
	root := b.startWorkerHTTP(t)
	b.keccel.SetCallbackURL(root + delivery.CallbackPath(cbSecret, "keccel"))
	b.startScheduler(t)

	const n = 6
	var created campaign.Report
	require.Zero(t, b.enqueue(t, &created, "campaign", "create", "--id", "push", "-p", "keccel",
		"--file", recipientsFile(t, "+2438123456", n), "-m", "Hola {{name}}"))
	require.Equal(t, n, created.Sendable)
	st := b.waitCampaign(t, "push", func(st campaignStatus) bool {
		return st.Outlook.Delivered+st.Outlook.Failed == n
	})
	require.Equal(t, campaign.Done, st.State)
	require.Equal(t, int64(n-1), st.Outlook.Delivered)
	require.Equal(t, int64(1), st.Outlook.Failed)
	require.Zero(t, st.Outlook.AwaitingReport)
	require.InDelta(t, float64(n-1)/n, st.Outlook.DeliveryRate, 1e-9)
	require.Equal(t, int64(n-1), st.Counts["delivered"])
	for _, r := range b.keccel.Recorder().Requests() {
		require.NotEqual(t, "/sms/v2/delivery.asp", r.Path, "no poll was needed")
	}

	got := scrapeMetrics(t, root)
	require.Equal(t, float64(n), got[`smsq_messages_sent_total{provider="keccel"}`], "campaign sends are counted")
	require.Equal(t, float64(n), got[`smsq_provider_request_duration_seconds_count{provider="keccel"}`])
	require.Equal(t, float64(n-1), got[`smsq_delivery_reports_total{provider="keccel",source="callback",state="delivered"}`])
	require.Equal(t, 1.0, got[`smsq_delivery_reports_total{provider="keccel",source="callback",state="failed"}`])

	// A paused campaign is watched; a finished one is not.
	require.Zero(t, b.enqueue(t, nil, "campaign", "create", "--id", "later", "-p", "keccel",
		"--file", recipientsFile(t, "+2438123466", 4), "-m", "Hola {{name}}", "--start-date", "2099-01-01 09:00"))
	require.Zero(t, b.enqueue(t, nil, "campaign", "pause", "later"))
	eventuallyMetric(t, root, `smsq_campaign_recipients{campaign="later",state="pending"}`, 4)
	require.NotContains(t, scrapeMetrics(t, root), `smsq_campaign_recipients{campaign="push",state="delivered"}`)
}

// startCampaignWorker assembles a worker as app.RunWorker does — campaign
// store, metrics, delivery with the campaign poller, campaign handlers —
// with a poll schedule of the test's choosing.
func (b *dbundle) startCampaignWorker(t *testing.T, sched delivery.Schedule) {
	t.Helper()
	cfg := app.Effective(b.cfg)
	log := app.Logger(cfg, &syncBuffer{})
	conn, err := app.Connect(cfg)
	require.NoError(t, err)
	senders, err := app.Senders(cfg, conn.Redis, log)
	require.NoError(t, err)
	guard, err := app.Guard(cfg, conn.Redis, log)
	require.NoError(t, err)
	led := ledger.New(conn.Redis, app.LedgerOptions(cfg))
	store := campaign.NewStore(conn.Redis, campaign.StoreOptions{})
	met, err := app.WorkerMetrics(cfg, conn, guard, store, log)
	require.NoError(t, err)
	h := &worker.Handlers{Ledger: led, Senders: senders, Guard: guard, Suppress: suppress.New(conn.Redis, ""),
		MaxAttempts: cfg.Send.MaxAttempts, CostBy: app.CostBy(cfg), Metrics: met, Log: log}
	b.dl, err = app.NewDelivery(cfg, conn, senders, guard, led, log, app.DeliveryOptions{Schedule: sched, Campaigns: store, Metrics: met})
	require.NoError(t, err)
	extra := app.CampaignHandlers(cfg, conn, senders, guard, log)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler())
	b.dl.Wire(h, extra, mux)
	require.Contains(t, extra, campaign.TypePoll)

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
}

// TestCampaignRecipientsDeliveredByPollThroughTheWorker: a Sakari
// campaign with no webhook is settled by the block's polls, one poll task
// per block.
func TestCampaignRecipientsDeliveredByPollThroughTheWorker(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t, sbkeccel.Options{}, sbsakari.Options{DeliverAfter: 200 * time.Millisecond,
		FailNumbers: []string{"+14155552601"}})
	b.startCampaignWorker(t, pollSoon)
	b.startScheduler(t)

	const n = 5
	require.Zero(t, b.enqueue(t, nil, "campaign", "create", "--id", "pull", "-p", "sakari",
		"--file", recipientsFile(t, "+141555526", n), "-m", "Hi {{name}}"))
	st := b.waitCampaign(t, "pull", func(st campaignStatus) bool {
		return st.Outlook.Delivered+st.Outlook.Failed == n
	})
	require.Equal(t, int64(n-1), st.Outlook.Delivered)
	require.Equal(t, int64(1), st.Outlook.Failed)
	require.InDelta(t, float64(n-1)/n, st.Outlook.DeliveryRate, 1e-9)

	polls := 0
	for _, r := range b.sakari.Recorder().Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/messages/") {
			polls++
		}
	}
	require.GreaterOrEqual(t, polls, n, "every recipient was polled")
	got := scrapeMetrics(t, b.root)
	require.Equal(t, float64(n-1), got[`smsq_delivery_reports_total{provider="sakari",source="poll",state="delivered"}`])
	require.Equal(t, float64(n), got[`smsq_messages_sent_total{provider="sakari"}`])
	// The round is over: nothing left to poll, nothing left indexed.
	require.Eventually(t, func() bool {
		return len(b.redis.Client().Keys(context.Background(), "smsq:dlx:*").Val()) == 0
	}, 30*time.Second, 20*time.Millisecond)
}
