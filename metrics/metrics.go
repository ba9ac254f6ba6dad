// Package metrics exposes smsq's Prometheus metrics. Two kinds live here:
//
//   - what this process's provider calls did, counted as they happen
//     (ProviderCall, DeliveryReport);
//   - state shared in Redis — queues, limiter counters, breakers, campaign
//     progress — read when Prometheus scrapes, with a fixed number of Redis
//     round trips per scrape (one per queue-info read, one pipelined read
//     per provider, one campaign read), whatever the traffic.
//
// A Metrics owns its registry (no global state); Handler serves it.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers"
)

const namespace = "smsq"

// Sources of delivery reports (the source label of DeliveryReport).
const (
	SourceCallback = "callback" // the provider called us
	SourcePoll     = "poll"     // we asked the provider
)

// failureClasses are the classes a failed call is counted under; 429s are
// counted apart (they are not failures: the provider asked us to wait).
var failureClasses = []providers.Class{providers.ClassRetryable, providers.ClassAuth,
	providers.ClassRecipient, providers.ClassRequest}

// defaultBuckets are the request duration histogram's bounds in seconds:
// from a fast local answer to a provider near its timeout.
var defaultBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Options configure Metrics. Every field is optional; what is left out is
// simply not reported.
type Options struct {
	// Providers are the enabled providers. Their series are created at
	// zero up front, so rate() works from the first call and a missing
	// series means "not configured". Required with Throttle. Default none.
	Providers []string
	// Queues reads queue state (*asynq.Inspector). Nil: no queue series.
	Queues QueueReader
	// QueueNames are the queues to report; a listed queue that asynq has
	// not seen yet is reported empty. Default: every queue asynq knows, at
	// most MaxQueues of them.
	QueueNames []string
	// MaxQueues caps the queues read per scrape when QueueNames is empty.
	// Default 32.
	MaxQueues int
	// Throttle reads each provider's limiter state and this process's
	// breaker (*throttle.Guard). Nil: no limiter or breaker series.
	Throttle ThrottleReader
	// Campaigns reports campaign progress. Nil: no campaign series.
	Campaigns CampaignSource
	// MaxCampaigns caps the campaigns reported per scrape, which bounds
	// both the read and the number of series. Default 50.
	MaxCampaigns int
	// Timeout bounds the Redis reads of one scrape. Default 5s.
	Timeout time.Duration
	// MaxAge lets a scrape reuse Redis readings younger than this, so that
	// several scrapers (or a scraper and a person) cost Redis one read.
	// Default 2s; negative: read on every scrape.
	MaxAge time.Duration
	// Buckets are the request duration histogram's upper bounds, in
	// seconds. Default 10ms, 25ms, … 10s, 30s.
	Buckets []float64
	// Now is the clock behind the "seconds from now" gauges and MaxAge.
	// Default time.Now.
	Now func() time.Time
	// Log receives failed Redis reads. Default: disabled.
	Log zerolog.Logger
}

// Validate reports options that cannot work, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.Throttle != nil && len(o.Providers) == 0 {
		errs = append(errs, errors.New("metrics: providers: required with throttle"))
	}
	if o.MaxQueues < 0 {
		errs = append(errs, errors.New("metrics: max_queues: must not be negative"))
	}
	if o.MaxCampaigns < 0 {
		errs = append(errs, errors.New("metrics: max_campaigns: must not be negative"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("metrics: timeout: must not be negative"))
	}
	for i := 1; i < len(o.Buckets); i++ {
		if o.Buckets[i] <= o.Buckets[i-1] {
			errs = append(errs, errors.New("metrics: buckets: must be increasing"))
			break
		}
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.MaxQueues == 0 {
		o.MaxQueues = 32
	}
	if o.MaxCampaigns == 0 {
		o.MaxCampaigns = 50
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxAge == 0 {
		o.MaxAge = 2 * time.Second
	}
	if o.Buckets == nil {
		o.Buckets = defaultBuckets
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Metrics is smsq's metric set. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	limited  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	reports  *prometheus.CounterVec
}

// New builds the metrics and registers them, with the Go runtime and
// process collectors, on a registry of their own.
func New(o Options) (*Metrics, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "messages_sent_total",
			Help: "Messages a provider accepted, from this process's provider calls."}, []string{"provider"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "messages_failed_total",
			Help: "Messages whose provider call failed, by error class: retryable (tried again) or auth, recipient, " +
				"request (not retried). Every failed attempt counts; 429s are in smsq_provider_429_total."},
			[]string{"provider", "class"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "provider_429_total",
			Help: "Provider calls answered 429 (rate limited); the provider is paused, the messages wait."}, []string{"provider"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "provider_request_duration_seconds",
			Help:    "Time a provider call took, from request to answer or failure (waits for a send slot excluded).",
			Buckets: o.Buckets}, []string{"provider"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "delivery_reports_total",
			Help: "Delivery reports handled, by provider, source (callback or poll) and the state they reported."},
			[]string{"provider", "source", "state"}),
	}
	for _, p := range o.Providers {
		m.sent.WithLabelValues(p)
		m.limited.WithLabelValues(p)
		m.duration.WithLabelValues(p)
		for _, c := range failureClasses {
			m.failed.WithLabelValues(p, c.String())
		}
	}
	readErrors := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "metrics_read_errors_total",
		Help: "Scrape-time reads of shared state that failed, by source (queues, throttle, campaigns); " +
			"the series of a failed read are missing from that scrape."}, []string{"source"})
	for _, s := range []string{srcQueues, srcThrottle, srcCampaigns} {
		readErrors.WithLabelValues(s)
	}
	shared := newSharedCollector(o, readErrors)
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.limited, m.duration, m.reports, readErrors, shared,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// ProviderCall records one provider call that carried messages messages
// (values below 1 count as 1): its duration and outcome. A call ended by
// our own cancellation (shutdown) says nothing about the provider and is
// not recorded. It implements worker.Metrics.
func (m *Metrics) ProviderCall(provider string, messages int, took time.Duration, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	n := float64(max(messages, 1))
	m.duration.WithLabelValues(provider).Observe(took.Seconds())
	switch {
	case err == nil:
		m.sent.WithLabelValues(provider).Add(n)
	case errors.Is(err, providers.ErrRateLimited):
		m.limited.WithLabelValues(provider).Inc()
	default:
		m.failed.WithLabelValues(provider, providers.ClassOf(err).String()).Add(n)
	}
}

// DeliveryReport counts one delivery report: source is SourceCallback or
// SourcePoll, state the message state it reported ("delivered", "failed",
// "expired", …). Callers pass values from small fixed sets: every
// combination is a series.
func (m *Metrics) DeliveryReport(provider, source, state string) {
	m.reports.WithLabelValues(provider, source, state).Inc()
}

// Registerer lets other parts of the process add their own collectors to
// the same /metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads the registry (tests, or a push to another system).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats. A
// collector that fails leaves its series out; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4, // scrapes are cheap but not free: never a pile of them
	})
}
