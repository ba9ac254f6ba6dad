package app

import (
	"net"
	"sort"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/metrics"
	"github.com/smsq/smsq/metrics/monitoring"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// WorkerMetrics builds a worker's Prometheus metrics: its provider calls
// (set it as worker.Handlers.Metrics) and delivery reports
// (DeliveryOptions.Metrics), smsq's queues, each enabled provider's
// limiter and breaker state, and the recipients of running and paused
// campaigns (when campaigns is not nil), read from Redis when scraped.
func WorkerMetrics(cfg config.Config, conn *Conn, guard *throttle.Guard, campaigns *campaign.Store, log zerolog.Logger) (*metrics.Metrics, error) {
	queues := make([]string, 0, len(tasks.QueueWeights()))
	for q := range tasks.QueueWeights() {
		queues = append(queues, q)
	}
	sort.Strings(queues)
	o := metrics.Options{
		Providers: cfg.Providers.Names(),
		// Shares the worker's Redis client: nothing to close.
		Queues:     asynq.NewInspectorFromRedisClient(conn.Redis),
		QueueNames: queues,
		Throttle:   guard,
		Log:        log.With().Str("component", "metrics").Logger(),
	}
	if campaigns != nil {
		o.Campaigns = metrics.CountedSource(campaigns.Active)
	}
	return metrics.New(o)
}

// MonitoringUI builds the queue UI served at /monitoring: payloads and
// results with phone numbers masked and secrets blanked, view-only when
// monitoring.read_only or readOnly (the worker's -ui-read-only flag) says
// so, behind the credentials of the monitoring section if any. Close it
// when the worker stops.
func MonitoringUI(cfg config.Config, conn *Conn, readOnly bool, log zerolog.Logger) (*monitoring.Handler, error) {
	m := cfg.Monitoring
	secrets := Secrets(cfg)
	secrets.Add(m.Password, m.Token)
	h, err := monitoring.New(monitoring.Options{Conn: conn.Asynq, RootPath: "/monitoring",
		ReadOnly: m.ReadOnly || readOnly, Username: m.Username, Password: m.Password, Token: m.Token, Secrets: secrets})
	if err != nil {
		return nil, err
	}
	if !h.Protected() && !loopbackOnly(cfg.Worker.HTTPAddr) {
		log.Warn().Str("addr", cfg.Worker.HTTPAddr).Msg("the monitoring UI has no credentials and is reachable beyond " +
			"this machine: anyone who reaches it can delete tasks; set monitoring.username and monitoring.password, " +
			"or monitoring.token")
	}
	return h, nil
}

// loopbackOnly reports whether addr (host:port) is reachable from this
// machine only; "-" (no HTTP server) counts as such.
func loopbackOnly(addr string) bool {
	if addr == "-" || addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
