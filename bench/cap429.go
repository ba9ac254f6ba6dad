package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/tasks"
)

// runCap429: the configured rate (50/s) is above what the sandbox accepts
// (30/s, answering 429 with Retry-After: 1 beyond it). Every 429 must
// pause the provider for all workers and cost the message nothing.
func runCap429(ctx context.Context, r *Runner) (*harness.Report, error) {
	const capPerSec = 30
	o := r.opts
	n := 900
	if o.Quick {
		n = 300
	}
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d worker processes, keccel throttle rate 50/s, sandbox accepts %d/s (429 + Retry-After: 1 beyond), %d messages queued up front",
		o.Workers, capPerSec, n)}}
	e, err := r.sendingEnv(ctx, "cap429", "SMSQ_PROVIDERS__KECCEL__THROTTLE__RATE=50/s")
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.hub.Keccel.Faults().Set(sandbox.Faults{RatePerSecond: capPerSec, RetryAfter: "1"})
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
	dups := sentTwice(rec.PerDestination())
	failedRuns := e.failedTotal(tasks.QueueTransactional)
	rep.Check("ledger", sum.String(), fmt.Sprintf("submitted (or delivered) %d", n), sum.sent() == n)
	rep.Check("failed messages", fmt.Sprint(sum.States[ledger.Failed]), "0", sum.States[ledger.Failed] == 0)
	rep.Check("asynq failed runs (retries charged)", fmt.Sprint(failedRuns), "0", failedRuns == 0)
	rep.Check("destinations sent twice", fmt.Sprint(dups), "0", dups == 0)
	rep.Info("429 answers", "%d (%.2f per accepted message)", n429, float64(n429)/float64(max(len(ts), 1)))
	rep.Info("total time", "%s from first enqueue to last accept", dur(total))
	rep.Info("accepted rate", "%.2f/s first→last (sandbox cap %d/s)", throughput(ts), capPerSec)
	rep.Info("max in any 1s window", "%d", maxInWindow(ts, time.Second))
	rep.Info("ledger attempts", "%s (count×attempts; a call answered 429 is a real call)", sum.attemptsString())
	if st, err := e.guard.Status(ctx, "keccel"); err == nil {
		rep.Info("throttle counters", "granted %d, booked %d, claimed %d, snoozed %d, rate_limited %d",
			st.Granted, st.Booked, st.Claimed, st.Snoozed, st.RateLimited)
		rep.Info("re-schedules per message", "%.2f (snoozed/messages)", float64(st.Snoozed)/float64(n))
	}
	if waitErr != nil {
		rep.Check("all accepted", waitErr.Error(), "all", false)
	}
	return rep, nil
}
