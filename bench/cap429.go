package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/tasks"
)

// runCap429: the configured rate (50/s) is above what the sandbox accepts
// (30/s, answering 429 with Retry-After: 1 beyond it). Every 429 must
// pause the provider for all workers and cost the message nothing.
func runCap429(ctx context.Context, r *Runner) (*Report, error) {
	const capPerSec = 30
	o := r.opts
	n := 900
	if o.Quick {
		n = 300
	}
	rep := &Report{Scenario: "cap429", Setup: fmt.Sprintf("%d worker processes, keccel throttle rate 50/s, sandbox accepts %d/s (429 + Retry-After: 1 beyond), %d messages queued up front",
		o.Workers, capPerSec, n)}
	e, err := r.newEnv(ctx, "cap429", hubOptions(), "SMSQ_PROVIDERS__KECCEL__THROTTLE__RATE=50/s")
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.hub.Keccel.Faults().Set(sandbox.Faults{RatePerSecond: capPerSec, RetryAfter: "1"})
	if err := e.startWorkers(ctx, o.Workers); err != nil {
		return nil, err
	}
	if err := e.pauseDeliveryPolls(); err != nil {
		return nil, err
	}
	reqs := messages("keccel", "c", n)
	start := time.Now()
	if err := e.send(ctx, reqs); err != nil {
		return nil, err
	}
	r.logf("enqueued %d; waiting for the sandbox to accept them (≥ %s at its cap)", n, time.Duration(n/capPerSec)*time.Second)
	waitErr := e.waitAccepted(ctx, "keccel", n, time.Duration(n/capPerSec)*time.Second*4+time.Minute)
	total := time.Since(start)

	rec := e.hub.Keccel.Recorder()
	ts := times(rec.Accepted())
	n429 := e.hub.Keccel.Faults().Injected()["429"]
	sum, err := e.summarize(ctx, ids(reqs))
	if err != nil {
		return nil, err
	}
	dups := 0
	for _, c := range rec.PerDestination() {
		if c > 1 {
			dups++
		}
	}
	failedRuns := e.failedTotal(tasks.QueueTransactional)
	rep.check("ledger", sum.String(), fmt.Sprintf("submitted (or delivered) %d", n), sum.sent() == n)
	rep.check("failed messages", fmt.Sprint(sum.States[ledger.Failed]), "0", sum.States[ledger.Failed] == 0)
	rep.check("asynq failed runs (retries charged)", fmt.Sprint(failedRuns), "0", failedRuns == 0)
	rep.check("destinations sent twice", fmt.Sprint(dups), "0", dups == 0)
	rep.info("429 answers", "%d (%.2f per accepted message)", n429, float64(n429)/float64(max(len(ts), 1)))
	rep.info("total time", "%s from first enqueue to last accept", dur(total))
	rep.info("accepted rate", "%.2f/s first→last (sandbox cap %d/s)", throughput(ts), capPerSec)
	rep.info("max in any 1s window", "%d", maxInWindow(ts, time.Second))
	rep.info("ledger attempts", "%s (count×attempts; a call answered 429 is a real call)", sum.attemptsString())
	if st, err := e.guard.Status(ctx, "keccel"); err == nil {
		rep.info("throttle counters", "granted %d, booked %d, claimed %d, snoozed %d, rate_limited %d",
			st.Granted, st.Booked, st.Claimed, st.Snoozed, st.RateLimited)
		rep.info("re-schedules per message", "%.2f (snoozed/messages)", float64(st.Snoozed)/float64(n))
	}
	if waitErr != nil {
		rep.check("all accepted", waitErr.Error(), "all", false)
	}
	return rep, nil
}
