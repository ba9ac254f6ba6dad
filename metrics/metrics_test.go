package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/metrics"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// scrape GETs /metrics from h and returns every sample keyed as the text
// format prints it: name{label="value",…} (labels sorted by name).
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return parse(t, rec.Body.String())
}

func parse(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
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
	return out
}

// roundTrips counts the commands and pipelines a client sends: the Redis
// cost of a scrape as the server sees it.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

type fixture struct {
	redis *redistest.Server
	rdb   *redis.Client
	trips *roundTrips
	clock *clock
	guard *throttle.Guard
	insp  *asynq.Inspector
	asynq *asynq.Client
}

func setup(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t), trips: &roundTrips{}, clock: &clock{t: t0}}
	f.rdb = f.redis.Client()
	f.rdb.AddHook(f.trips)
	var err error
	f.guard, err = throttle.New(f.rdb, throttle.Config{Now: f.clock.Now, Providers: map[string]throttle.ProviderConfig{
		"keccel": {MinRequests: 2, FailureRatio: 0.5, OpenTimeout: time.Minute},
		"sakari": {Rate: "10/s"},
	}})
	require.NoError(t, err)
	f.insp = asynq.NewInspectorFromRedisClient(f.rdb)
	f.asynq = asynq.NewClient(f.redis.AsynqOpt())
	t.Cleanup(func() { _ = f.asynq.Close() })
	return f
}

func (f *fixture) metrics(t *testing.T, o metrics.Options) *metrics.Metrics {
	t.Helper()
	if o.Now == nil {
		o.Now = f.clock.Now
	}
	m, err := metrics.New(o)
	require.NoError(t, err)
	return m
}

func TestProviderCallsAreCountedByOutcome(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Options{Providers: []string{"keccel", "sakari"}})
	require.NoError(t, err)

	before := scrape(t, m.Handler())
	require.Contains(t, before, `smsq_messages_sent_total{provider="sakari"}`, "configured providers start at zero")
	require.Zero(t, before[`smsq_messages_failed_total{class="auth",provider="sakari"}`])
	require.Contains(t, before, `smsq_provider_request_duration_seconds_count{provider="sakari"}`)

	m.ProviderCall("keccel", 1, 120*time.Millisecond, nil)
	m.ProviderCall("keccel", 1, 80*time.Millisecond, nil)
	m.ProviderCall("keccel", 250, time.Second, nil) // one batch call
	m.ProviderCall("keccel", 1, time.Millisecond, &providers.Error{Class: providers.ClassRateLimited, Provider: "keccel"})
	m.ProviderCall("keccel", 1, time.Millisecond, providers.Errorf(providers.ClassRecipient, "keccel", "send", "bad number"))
	m.ProviderCall("keccel", 3, time.Millisecond, fmt.Errorf("wrapped: %w", providers.Errorf(providers.ClassRetryable, "keccel", "send", "503")))
	m.ProviderCall("keccel", 1, time.Millisecond, errors.New("unclassified")) // counts as retryable
	m.ProviderCall("keccel", 1, 5*time.Second, context.Canceled)              // our shutdown: not about the provider

	got := scrape(t, m.Handler())
	require.Equal(t, 252.0, got[`smsq_messages_sent_total{provider="keccel"}`])
	require.Equal(t, 1.0, got[`smsq_provider_429_total{provider="keccel"}`])
	require.Equal(t, 1.0, got[`smsq_messages_failed_total{class="recipient",provider="keccel"}`])
	require.Equal(t, 4.0, got[`smsq_messages_failed_total{class="retryable",provider="keccel"}`])
	require.Zero(t, got[`smsq_messages_failed_total{class="auth",provider="keccel"}`])
	require.NotContains(t, got, `smsq_messages_failed_total{class="rate_limited",provider="keccel"}`, "429s are not failures")
	require.Equal(t, 7.0, got[`smsq_provider_request_duration_seconds_count{provider="keccel"}`])
	require.InDelta(t, 1.204, got[`smsq_provider_request_duration_seconds_sum{provider="keccel"}`], 1e-9)
	require.Equal(t, 5.0, got[`smsq_provider_request_duration_seconds_bucket{provider="keccel",le="0.1"}`])
	require.Equal(t, 7.0, got[`smsq_provider_request_duration_seconds_bucket{provider="keccel",le="+Inf"}`])
	require.Contains(t, got, "go_goroutines", "runtime metrics are there too")
}

func TestDeliveryReportsAreCounted(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Options{})
	require.NoError(t, err)
	m.DeliveryReport("keccel", metrics.SourceCallback, "delivered")
	m.DeliveryReport("keccel", metrics.SourceCallback, "delivered")
	m.DeliveryReport("sakari", metrics.SourcePoll, "failed")
	got := scrape(t, m.Handler())
	require.Equal(t, 2.0, got[`smsq_delivery_reports_total{provider="keccel",source="callback",state="delivered"}`])
	require.Equal(t, 1.0, got[`smsq_delivery_reports_total{provider="sakari",source="poll",state="failed"}`])
}

func TestQueueSeries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := 0; i < 3; i++ {
		_, err := f.asynq.Enqueue(asynq.NewTask("message:send", []byte("{}")), asynq.Queue("transactional"))
		require.NoError(t, err)
	}
	_, err := f.asynq.Enqueue(asynq.NewTask("message:send", []byte("{}")), asynq.Queue("transactional"), asynq.ProcessIn(time.Hour))
	require.NoError(t, err)
	_, err = f.asynq.Enqueue(asynq.NewTask("campaign:block", []byte("{}")), asynq.Queue("bulk"), asynq.ProcessIn(time.Hour))
	require.NoError(t, err)
	require.NoError(t, f.insp.PauseQueue("bulk"))

	m := f.metrics(t, metrics.Options{Queues: f.insp, QueueNames: []string{"transactional", "bulk", "delivery"}})
	got := scrape(t, m.Handler())
	require.Equal(t, 4.0, got[`smsq_queue_size{queue="transactional"}`])
	require.Equal(t, 3.0, got[`smsq_queue_tasks{queue="transactional",state="pending"}`])
	require.Equal(t, 1.0, got[`smsq_queue_tasks{queue="transactional",state="scheduled"}`])
	require.Zero(t, got[`smsq_queue_tasks{queue="transactional",state="retry"}`])
	require.Contains(t, got, `smsq_queue_latency_seconds{queue="transactional"}`)
	require.Positive(t, got[`smsq_queue_memory_bytes{queue="transactional"}`])
	require.Zero(t, got[`smsq_queue_processed_total{queue="transactional"}`])
	require.Equal(t, 1.0, got[`smsq_queue_paused{queue="bulk"}`])
	require.Zero(t, got[`smsq_queue_paused{queue="transactional"}`])
	require.Equal(t, 1.0, got[`smsq_queue_tasks{queue="bulk",state="scheduled"}`])
	require.Contains(t, got, `smsq_queue_size{queue="delivery"}`, "a configured queue asynq has not seen yet is reported empty")
	require.Zero(t, got[`smsq_queue_size{queue="delivery"}`])
	require.Zero(t, got[`smsq_metrics_read_errors_total{source="queues"}`])

	// Without names, every queue asynq knows is reported.
	all := f.metrics(t, metrics.Options{Queues: f.insp})
	got = scrape(t, all.Handler())
	require.Contains(t, got, `smsq_queue_size{queue="bulk"}`)
	require.NotContains(t, got, `smsq_queue_size{queue="delivery"}`)
}

func TestThrottleAndBreakerSeries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	m := f.metrics(t, metrics.Options{Throttle: f.guard, Providers: []string{"keccel", "sakari"}, MaxAge: -1})
	ok := func(context.Context) error { return nil }
	boom := func(context.Context) error {
		return providers.Errorf(providers.ClassRetryable, "keccel", "send", "503")
	}

	require.NoError(t, f.guard.Do(ctx, throttle.Call{Provider: "keccel", Key: "a"}, ok))
	require.NoError(t, f.guard.Do(ctx, throttle.Call{Provider: "sakari", Key: "b"}, ok))
	got := scrape(t, m.Handler())
	require.Equal(t, 1.0, got[`smsq_throttle_slots_granted_total{provider="keccel"}`])
	require.Equal(t, 1.0, got[`smsq_throttle_slots_granted_total{provider="sakari"}`])
	require.Zero(t, got[`smsq_breaker_state{provider="keccel"}`], "closed")
	require.Zero(t, got[`smsq_provider_paused{provider="keccel"}`])
	require.InDelta(t, 0.1, got[`smsq_throttle_backlog_seconds{provider="sakari"}`], 1e-6, "10/s: the next slot is booked 100ms ahead")

	// One success and one failure: half the calls failed, which opens
	// keccel's breaker in this process (min_requests 2, failure_ratio 0.5).
	require.Error(t, f.guard.Do(ctx, throttle.Call{Provider: "keccel", Key: "c"}, boom))
	err := f.guard.Do(ctx, throttle.Call{Provider: "keccel", Key: "d"}, ok)
	_, snoozed := throttle.IsSnooze(err)
	require.True(t, snoozed, "the open breaker snoozes the call: %v", err)
	got = scrape(t, m.Handler())
	require.Equal(t, 2.0, got[`smsq_breaker_state{provider="keccel"}`], "open")
	require.Equal(t, 1.0, got[`smsq_throttle_snoozed_total{provider="keccel"}`])
	require.Equal(t, 2.0, got[`smsq_throttle_slots_granted_total{provider="keccel"}`])
	f.clock.Advance(time.Minute)
	got = scrape(t, m.Handler())
	require.Equal(t, 1.0, got[`smsq_breaker_state{provider="keccel"}`], "half-open once the open timeout has passed")

	require.NoError(t, f.guard.Pause(ctx, "sakari", "maintenance"))
	got = scrape(t, m.Handler())
	require.Equal(t, 1.0, got[`smsq_provider_paused{provider="sakari"}`])

	// A 429 with Retry-After holds the provider for every worker.
	err = f.guard.Do(ctx, throttle.Call{Provider: "keccel", Key: "f"}, func(context.Context) error {
		return &providers.Error{Class: providers.ClassRateLimited, Provider: "keccel", RetryAfter: 30 * time.Second}
	})
	_, snoozed = throttle.IsSnooze(err)
	require.True(t, snoozed)
	got = scrape(t, m.Handler())
	require.InDelta(t, 30, got[`smsq_provider_hold_seconds{provider="keccel"}`], 1e-6)
}

func TestScrapeCostDoesNotGrowWithTraffic(t *testing.T) {
	t.Parallel()
	f := setup(t)
	queues := []string{"transactional", "bulk"}
	m := f.metrics(t, metrics.Options{Queues: f.insp, QueueNames: queues, Throttle: f.guard,
		Providers: []string{"keccel", "sakari"}, MaxAge: -1,
		Campaigns: metrics.CampaignFunc(func(context.Context, int) ([]metrics.Campaign, error) { return nil, nil })})
	enqueue := func(n int) {
		for i := 0; i < n; i++ {
			_, err := f.asynq.Enqueue(asynq.NewTask("message:send", []byte("{}")), asynq.Queue("transactional"))
			require.NoError(t, err)
			_, err = f.asynq.Enqueue(asynq.NewTask("message:send", []byte("{}")), asynq.Queue("bulk"), asynq.ProcessIn(time.Hour))
			require.NoError(t, err)
		}
	}
	cost := func() int64 {
		before := f.trips.n.Load()
		scrape(t, m.Handler())
		return f.trips.n.Load() - before
	}
	enqueue(30)
	cost() // loads the scripts once
	small := cost()
	enqueue(2000)
	large := cost()
	require.Equal(t, small, large, "a scrape costs the same with 60 or 4060 tasks queued")
	// SMEMBERS of the queue set, 3 per queue (asynq's GetQueueInfo), 1
	// pipeline per provider.
	require.Equal(t, int64(1+3*len(queues)+2), large)
	got := scrape(t, m.Handler())
	require.Equal(t, 2030.0, got[`smsq_queue_tasks{queue="transactional",state="pending"}`])
}

func TestReadingsAreReusedWithinMaxAge(t *testing.T) {
	t.Parallel()
	f := setup(t)
	m := f.metrics(t, metrics.Options{Queues: f.insp, QueueNames: []string{"transactional"}, MaxAge: 5 * time.Second})
	enqueue := func() {
		_, err := f.asynq.Enqueue(asynq.NewTask("message:send", []byte("{}")), asynq.Queue("transactional"))
		require.NoError(t, err)
	}
	enqueue()
	require.Equal(t, 1.0, scrape(t, m.Handler())[`smsq_queue_size{queue="transactional"}`])
	enqueue()
	before := f.trips.n.Load()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		}()
	}
	wg.Wait()
	require.Equal(t, 1.0, scrape(t, m.Handler())[`smsq_queue_size{queue="transactional"}`], "within MaxAge: the earlier reading")
	require.Equal(t, before, f.trips.n.Load(), "no Redis call for scrapes within MaxAge")
	f.clock.Advance(5 * time.Second)
	require.Equal(t, 2.0, scrape(t, m.Handler())[`smsq_queue_size{queue="transactional"}`])
}

type stubCampaign struct {
	id     string
	counts map[string]int64
}

func (c stubCampaign) CampaignID() string                { return c.id }
func (c stubCampaign) RecipientCounts() map[string]int64 { return c.counts }

func TestCampaignProgress(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	src := metrics.CountedSource(func(_ context.Context, limit int) ([]stubCampaign, error) {
		asked.Store(int64(limit))
		// A source that ignores the limit and repeats itself.
		return []stubCampaign{
			{"spring", map[string]int64{"pending": 700, "submitted": 300}},
			{"spring", map[string]int64{"pending": 1}},
			{"autumn", map[string]int64{"submitted": 20, "failed": 2}},
			{"winter", map[string]int64{"pending": 5}},
		}, nil
	})
	m, err := metrics.New(metrics.Options{Campaigns: src, MaxCampaigns: 3})
	require.NoError(t, err)
	got := scrape(t, m.Handler())
	require.Equal(t, int64(3), asked.Load())
	require.Equal(t, 700.0, got[`smsq_campaign_recipients{campaign="spring",state="pending"}`])
	require.Equal(t, 300.0, got[`smsq_campaign_recipients{campaign="spring",state="submitted"}`])
	require.Equal(t, 2.0, got[`smsq_campaign_recipients{campaign="autumn",state="failed"}`])
	require.NotContains(t, got, `smsq_campaign_recipients{campaign="winter",state="pending"}`, "capped at MaxCampaigns")
}

type failingQueues struct{}

func (failingQueues) Queues() ([]string, error) { return nil, errors.New("redis down") }
func (failingQueues) GetQueueInfo(string) (*asynq.QueueInfo, error) {
	return nil, errors.New("redis down")
}

func TestAFailedReadLeavesTheRestServed(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Options{Queues: failingQueues{}, Providers: []string{"keccel"},
		Campaigns: metrics.CampaignFunc(func(context.Context, int) ([]metrics.Campaign, error) {
			return []metrics.Campaign{{ID: "c1", Recipients: map[string]int64{"pending": 1}}}, nil
		})})
	require.NoError(t, err)
	m.ProviderCall("keccel", 1, time.Millisecond, nil)
	got := scrape(t, m.Handler())
	require.Equal(t, 1.0, got[`smsq_metrics_read_errors_total{source="queues"}`])
	require.Equal(t, 1.0, got[`smsq_messages_sent_total{provider="keccel"}`])
	require.Equal(t, 1.0, got[`smsq_campaign_recipients{campaign="c1",state="pending"}`])
}

func TestOptionsNameTheBadField(t *testing.T) {
	t.Parallel()
	for want, o := range map[string]metrics.Options{
		"providers":     {Throttle: &throttle.Guard{}},
		"max_campaigns": {MaxCampaigns: -1},
		"buckets":       {Buckets: []float64{1, 0.5}},
		"timeout":       {Timeout: -time.Second},
	} {
		_, err := metrics.New(o)
		require.ErrorContains(t, err, want)
	}
}

func TestHelpAndTypesFollowConventions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	m := f.metrics(t, metrics.Options{Queues: f.insp, QueueNames: []string{"transactional"}, Throttle: f.guard,
		Providers: []string{"keccel"}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	types := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" && strings.HasPrefix(f[2], "smsq_") {
			types[f[2]] = f[3]
		}
	}
	for name, typ := range types {
		require.Contains(t, text, "# HELP "+name+" ", name)
		if typ == "counter" {
			require.True(t, strings.HasSuffix(name, "_total"), "counter %s ends in _total", name)
		} else {
			require.False(t, strings.HasSuffix(name, "_total"), "%s %s does not end in _total", typ, name)
		}
	}
	require.Equal(t, "histogram", types["smsq_provider_request_duration_seconds"])
	require.Equal(t, "gauge", types["smsq_breaker_state"])
	require.Equal(t, "counter", types["smsq_queue_processed_total"])
}

// BenchmarkScrape measures one full scrape (no reuse) of the worker's
// set: 4 queues holding 10,000 tasks, 2 providers.
func BenchmarkScrape(b *testing.B) {
	f := setup(b)
	queues := []string{"transactional", "bulk", "delivery", "events"}
	for i := 0; i < 10000; i++ {
		_, err := f.asynq.Enqueue(asynq.NewTask("message:send", []byte(`{"to":"+243812345678"}`)), asynq.Queue(queues[i%4]))
		require.NoError(b, err)
	}
	m, err := metrics.New(metrics.Options{Queues: f.insp, QueueNames: queues,
		Throttle: f.guard, Providers: []string{"keccel", "sakari"}, MaxAge: -1})
	require.NoError(b, err)
	h := m.Handler()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil)) // loads the scripts
	start := f.trips.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		require.Equal(b, http.StatusOK, rec.Code)
	}
	b.ReportMetric(float64(f.trips.n.Load()-start)/float64(b.N), "roundtrips/op")
}
