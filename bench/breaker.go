package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/tasks"
)

// breakerMinRequests is the workers' breaker setting here (the default):
// each process trips after this many finished calls, half of them failed.
const breakerMinRequests = 10

// maxAttempts is send.max_attempts (the default): a message charged this
// many attempts fails.
const maxAttempts = 8

// runBreaker: the sandbox answers every keccel call 503 for Outage, then
// recovers. The messages queued at the start must all be submitted after
// recovery, none failed, and the only attempts charged are the calls that
// tripped each worker's breaker and its failed half-open probes.
func runBreaker(ctx context.Context, r *Runner) (*harness.Report, error) {
	o := r.opts
	const n = 200
	// A third of the outage: the first probes fail and re-open the
	// breaker, a later one finds the provider back.
	openFor := (o.Outage / 3).Round(time.Second)
	openFor = max(openFor, time.Second)
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d worker processes, keccel 50/s, breaker min_requests %d, failure_ratio 0.5, open_timeout %s; sandbox answers 503 to every call for %s; %d messages queued at the start",
		o.Workers, breakerMinRequests, openFor, o.Outage, n)}}
	e, err := r.sendingEnv(ctx, "breaker",
		"SMSQ_LOG__LEVEL=info", // breaker closings are logged at info
		"SMSQ_PROVIDERS__KECCEL__THROTTLE__RATE=50/s",
		fmt.Sprintf("SMSQ_PROVIDERS__KECCEL__THROTTLE__MIN_REQUESTS=%d", breakerMinRequests),
		"SMSQ_PROVIDERS__KECCEL__THROTTLE__OPEN_TIMEOUT="+openFor.String())
	if err != nil {
		return nil, err
	}
	defer e.close()
	faults := e.hub.Keccel.Faults()
	faults.Set(sandbox.Faults{ServerErrorRate: 1})
	outageStart := time.Now()
	reqs := messages("keccel", "k", n)
	if err := e.send(ctx, reqs); err != nil {
		return nil, err
	}
	r.logf("enqueued %d while keccel answers 503; recovering in %s", n, o.Outage)

	// Watch the published breaker state until the outage ends.
	var published []string
	lastAt := time.Time{}
	for time.Since(outageStart) < o.Outage {
		if st, err := e.guard.Status(ctx, "keccel"); err == nil && st.Breaker.State != "" && !st.Breaker.At.Equal(lastAt) {
			lastAt = st.Breaker.At
			published = append(published, fmt.Sprintf("%s→%s", st.Breaker.From, st.Breaker.State))
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	faults.Set(sandbox.Faults{})
	recovered := time.Now()
	fails := faults.Injected()["5xx"]
	sumDuring, err := e.summarize(ctx, ids(reqs))
	if err != nil {
		return nil, err
	}
	r.logf("recovered after %d answers 503; waiting for every message", fails)
	waitErr := e.waitAccepted(ctx, "keccel", n, 3*openFor+2*time.Minute)
	drained := time.Since(recovered)
	// The ledger write follows the provider's answer; let it land.
	_ = harness.Sleep(ctx, 500*time.Millisecond)

	sum, err := e.summarize(ctx, ids(reqs))
	if err != nil {
		return nil, err
	}
	events := e.breakerEvents()
	opens, probesFailed := 0, 0
	perWorker := map[string][]string{}
	for _, ev := range events {
		perWorker[ev.Worker] = append(perWorker[ev.Worker], ev.To)
		if ev.To == "open" {
			opens++
			if ev.From == "half-open" {
				probesFailed++
			}
		}
	}
	var lines []string
	for w, seq := range perWorker {
		lines = append(lines, fmt.Sprintf("[%s] closed→%s", shortWorker(w), strings.Join(seq, "→")))
	}
	sort.Strings(lines)
	charged := sum.TotalAttempts - sum.sent()
	// A worker trips after min_requests failed calls; a call already on
	// the wire when it trips cannot be recalled (one per worker allowed);
	// each failed half-open probe is one more.
	allowed := o.Workers*(breakerMinRequests+1) + probesFailed
	failedRuns := e.failedTotal(tasks.QueueTransactional)

	rep.Check("breaker opened", fmt.Sprintf("%d times (%d after a failed probe)", opens, probesFailed), "≥ 1 per worker", opens >= o.Workers)
	rep.Info("transitions logged", "%s", strings.Join(lines, "; "))
	if len(published) > 0 {
		rep.Info("published state (Status, polled)", "%s", strings.Join(published, ", "))
	}
	rep.Info("503 answers during the outage", "%d", fails)
	rep.Info("ledger during the outage", "%s", sumDuring.String())
	rep.Check("ledger after recovery", sum.String(), fmt.Sprintf("submitted (or delivered) %d", n), sum.sent() == n)
	rep.Check("failed messages", fmt.Sprint(sum.States[ledger.Failed]), "0", sum.States[ledger.Failed] == 0)
	rep.Check("attempts charged beyond one per message", fmt.Sprintf("%d (= calls answered 503)", charged),
		fmt.Sprintf("≤ %d (workers × (min_requests+1) + failed probes)", allowed), charged <= allowed && charged == fails)
	rep.Check("max ledger attempts of a message", fmt.Sprint(sum.MaxAttempts), fmt.Sprintf("< send.max_attempts (%d)", maxAttempts),
		sum.MaxAttempts < maxAttempts)
	rep.Info("attempts", "%s (count×attempts)", sum.attemptsString())
	rep.Info("asynq failed runs", "%d (each a call answered 503)", failedRuns)
	rep.Info("all submitted", "%s after recovery", dur(drained))
	if st, err := e.guard.Status(ctx, "keccel"); err == nil {
		rep.Info("re-schedules per message", "%.2f (snoozed %d / %d)", float64(st.Snoozed)/n, st.Snoozed, n)
	}
	if waitErr != nil {
		rep.Check("all accepted", waitErr.Error(), "all", false)
	}
	return rep, nil
}

// shortWorker keeps the pid of a "<host>:<pid>" worker id.
func shortWorker(w string) string {
	if i := strings.LastIndexByte(w, ':'); i >= 0 {
		return "pid " + w[i+1:]
	}
	return w
}
