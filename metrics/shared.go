package metrics

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsq/smsq/throttle"
)

// QueueReader reads asynq queue state; *asynq.Inspector implements it.
type QueueReader interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

// ThrottleReader reads a provider's shared limiter state and this
// process's breaker; *throttle.Guard implements it.
type ThrottleReader interface {
	Status(ctx context.Context, provider string) (throttle.Status, error)
}

// Sources of scrape-time reads (the source label of read errors).
const (
	srcQueues    = "queues"
	srcThrottle  = "throttle"
	srcCampaigns = "campaigns"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// Counters read from Redis are shared by every worker: each worker's
// /metrics shows the same totals, so dashboards take max() across
// instances, not sum().
var (
	queueSize  = desc("queue_size", "Tasks in the queue, whatever their state (asynq's count).", "queue")
	queueTasks = desc("queue_tasks", "Tasks in the queue by state: pending, active, scheduled, retry, archived, "+
		"completed (kept for retention), aggregating.", "queue", "state")
	queueLatency = desc("queue_latency_seconds", "Age of the oldest pending task: how long the next task to run has "+
		"waited (0 when nothing is pending).", "queue")
	queuePaused    = desc("queue_paused", "1 when the queue is paused (no worker takes its tasks), else 0.", "queue")
	queueMemory    = desc("queue_memory_bytes", "Redis memory the queue's tasks use, estimated by asynq from a sample.", "queue")
	queueProcessed = desc("queue_processed_total", "Tasks processed from the queue, succeeded or failed; shared by all "+
		"workers (aggregate with max, not sum).", "queue")
	queueFailed = desc("queue_failed_total", "Task runs that failed (rate limits and open breakers excluded); shared by all "+
		"workers (aggregate with max, not sum).", "queue")

	breakerState = desc("breaker_state", "This process's circuit breaker for the provider: 0 closed, 1 half-open, 2 open.",
		"provider")
	slotsGranted = desc("throttle_slots_granted_total", "Send slots the rate limiter granted; shared by all workers "+
		"(aggregate with max, not sum).", "provider")
	slotsSnoozed = desc("throttle_snoozed_total", "Calls told to wait (rate limit, 429 or operator pause, open breaker) "+
		"and re-scheduled; shared by all workers (aggregate with max, not sum).", "provider")
	backlog = desc("throttle_backlog_seconds", "How far ahead send slots are booked: the wait a call booked now would "+
		"have (0 when none).", "provider")
	paused = desc("provider_paused", "1 while an operator pause holds the provider, else 0.", "provider")
	hold   = desc("provider_hold_seconds", "Time left on the provider's 429 pause (0 when none).", "provider")

	campaignRecipients = desc("campaign_recipients", "Recipients of a campaign by state.", "campaign", "state")
)

// sharedCollector reads what lives in Redis when Prometheus scrapes. One
// read serves every scrape within MaxAge; concurrent scrapes wait for the
// read in progress instead of starting their own.
type sharedCollector struct {
	o      Options
	errors *prometheus.CounterVec

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

func newSharedCollector(o Options, errs *prometheus.CounterVec) *sharedCollector {
	return &sharedCollector{o: o, errors: errs}
}

func (c *sharedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueSize, queueTasks, queueLatency, queuePaused, queueMemory, queueProcessed,
		queueFailed, breakerState, slotsGranted, slotsSnoozed, backlog, paused, hold, campaignRecipients} {
		ch <- d
	}
}

func (c *sharedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.snapshot() {
		ch <- m
	}
}

func (c *sharedCollector) snapshot() []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Now()
	if c.last != nil && c.o.MaxAge > 0 && now.Sub(c.at) < c.o.MaxAge {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	var out []prometheus.Metric
	out = c.queues(out)
	out = c.throttle(ctx, out, now)
	out = c.campaigns(ctx, out)
	c.at, c.last = now, out
	return out
}

// failed counts and logs a read that failed; about names what was read
// (a queue or provider), "" for the whole source.
func (c *sharedCollector) failed(src, about string, err error) {
	c.errors.WithLabelValues(src).Inc()
	c.o.Log.Warn().Err(err).Str("source", src).Str("about", about).Msg("metrics: cannot read shared state")
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// queues costs one SMEMBERS, then three short round trips per queue
// (asynq's GetQueueInfo: an existence check, a counting script and a
// memory estimate over a fixed sample).
func (c *sharedCollector) queues(out []prometheus.Metric) []prometheus.Metric {
	if c.o.Queues == nil {
		return out
	}
	known, err := c.o.Queues.Queues()
	if err != nil {
		c.failed(srcQueues, "", err)
		return out
	}
	names := c.o.QueueNames
	if len(names) == 0 {
		sort.Strings(known)
		names = known[:min(len(known), c.o.MaxQueues)]
	}
	for _, q := range names {
		if !slices.Contains(known, q) {
			// Never used yet: asynq has nothing for it, which means empty.
			out = appendQueue(out, &asynq.QueueInfo{Queue: q})
			continue
		}
		info, err := c.o.Queues.GetQueueInfo(q)
		if err != nil {
			c.failed(srcQueues, q, err)
			continue
		}
		out = appendQueue(out, info)
	}
	return out
}

func appendQueue(out []prometheus.Metric, i *asynq.QueueInfo) []prometheus.Metric {
	q := i.Queue
	out = append(out, gauge(queueSize, float64(i.Size), q))
	for _, s := range []struct {
		state string
		n     int
	}{{"pending", i.Pending}, {"active", i.Active}, {"scheduled", i.Scheduled}, {"retry", i.Retry},
		{"archived", i.Archived}, {"completed", i.Completed}, {"aggregating", i.Aggregating}} {
		out = append(out, gauge(queueTasks, float64(s.n), q, s.state))
	}
	return append(out,
		gauge(queueLatency, i.Latency.Seconds(), q),
		gauge(queuePaused, b2f(i.Paused), q),
		gauge(queueMemory, float64(i.MemoryUsage), q),
		counter(queueProcessed, float64(i.ProcessedTotal), q),
		counter(queueFailed, float64(i.FailedTotal), q))
}

// breakerValues maps gobreaker's state names to the gauge's values.
var breakerValues = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// throttle costs one pipelined round trip per provider.
func (c *sharedCollector) throttle(ctx context.Context, out []prometheus.Metric, now time.Time) []prometheus.Metric {
	if c.o.Throttle == nil {
		return out
	}
	ahead := func(t time.Time) float64 {
		if t.IsZero() || !t.After(now) {
			return 0
		}
		return t.Sub(now).Seconds()
	}
	for _, p := range c.o.Providers {
		s, err := c.o.Throttle.Status(ctx, p)
		if err != nil {
			c.failed(srcThrottle, p, err)
			continue
		}
		if v, ok := breakerValues[s.LocalBreaker]; ok {
			out = append(out, gauge(breakerState, v, p))
		}
		out = append(out,
			counter(slotsGranted, float64(s.Granted), p),
			counter(slotsSnoozed, float64(s.Snoozed), p),
			gauge(backlog, ahead(s.BookedUntil), p),
			gauge(paused, b2f(s.Paused), p),
			gauge(hold, ahead(s.HeldUntil), p))
	}
	return out
}
