package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/tasks"
)

// rateWarmup is skipped after the first acceptance before the window
// opens: the first second is the burst of tasks that booked a slot within
// their MaxSleep on the first pass.
const rateWarmup = 2 * time.Second

// runRate: N worker processes, keccel limited to 50/s, a backlog queued up
// front; the sandbox's acceptance times give the rate it observes.
func runRate(ctx context.Context, r *Runner) (*harness.Report, error) {
	const perSec = 50.0
	o := r.opts
	// Enough messages to keep the limit busy past the window, with a 10%
	// margin for the warm-up and a slow start.
	n := int(math.Ceil(perSec * (rateWarmup + o.Window).Seconds() * 1.1))
	n = max(n, 100)
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d worker processes × concurrency %d, keccel throttle rate 50/s burst 1, %d messages queued up front, window %s after first accept + %s",
		o.Workers, r.concurrency(), n, o.Window, rateWarmup)}}

	e, err := r.sendingEnv(ctx, "rate", "SMSQ_PROVIDERS__KECCEL__THROTTLE__RATE=50/s")
	if err != nil {
		return nil, err
	}
	defer e.close()
	reqs := messages("keccel", "r", n)
	start := time.Now()
	if err := e.send(ctx, reqs); err != nil {
		return nil, err
	}
	r.logf("enqueued %d in %s; waiting for the sandbox to accept them (~%s)", n, dur(time.Since(start)),
		time.Duration(float64(n)/perSec*float64(time.Second)).Round(time.Second))
	sampling, stopSampling := context.WithCancel(ctx)
	activeCh := make(chan activeStats, 1)
	go func() { activeCh <- e.sampleActive(sampling, tasks.QueueTransactional) }()
	waitErr := e.waitAccepted(ctx, "keccel", n, time.Duration(float64(n)/perSec*float64(time.Second))+2*time.Minute)
	stopSampling()
	active := <-activeCh

	rec := e.hub.Keccel.Recorder()
	ts := times(rec.Accepted())
	if len(ts) == 0 {
		return nil, fmt.Errorf("nothing accepted: %v", waitErr)
	}
	if o.KeepLogs {
		e.dumpTimes("keccel-accepted.txt", ts)
	}
	t0 := ts[0].Add(rateWarmup)
	t1 := t0.Add(o.Window)
	inWin := countIn(ts, t0, t1)
	observed := float64(inWin) / o.Window.Seconds()
	dev := observed/perSec - 1
	covered := !ts[len(ts)-1].Before(t1)
	rep.Check(fmt.Sprintf("rate over %s", o.Window), fmt.Sprintf("%.2f/s (%d accepted, %s)", observed, inWin, pct(dev)),
		"50/s ± 2%", covered && math.Abs(dev) <= 0.02)
	if !covered {
		rep.Note("the backlog ran out before the window closed (last accept %s after first)", ts[len(ts)-1].Sub(ts[0]))
	}
	lo, hi := perSecond(ts, t0, t1)
	rep.Info("per whole second in window", "min %d, max %d", lo, hi)
	win := ts[countIn(ts, time.Time{}, t0) : countIn(ts, time.Time{}, t0)+inWin]
	rep.Info("max in any 1s window", "%d in the window, %d over the whole run", maxInWindow(win, time.Second), maxInWindow(ts, time.Second))
	rep.Info("whole run", "%d accepted in %s: %.2f/s first→last", len(ts), dur(ts[len(ts)-1].Sub(ts[0])), throughput(ts))

	rep.Info("worker slots busy (sampled every 100ms)", "mean %.1f, max %d of %d (each keccel task waits in-process, up to max_sleep, for its slot)",
		active.mean, active.max, o.Workers*r.concurrency())
	sum, err := e.summarize(ctx, ids(reqs))
	if err != nil {
		return nil, err
	}
	dups := sentTwice(rec.PerDestination())
	rep.Check("ledger", sum.String(), fmt.Sprintf("submitted (or delivered) %d", n), sum.sent() == n)
	rep.Check("destinations sent twice", fmt.Sprint(dups), "0", dups == 0)
	rep.Info("ledger attempts", "%s (count×attempts)", sum.attemptsString())
	st, err := e.guard.Status(ctx, "keccel")
	if err != nil {
		return nil, err
	}
	rep.Info("throttle counters", "granted %d, booked %d, claimed %d, snoozed %d", st.Granted, st.Booked, st.Claimed, st.Snoozed)
	rep.Check("re-schedules per message", fmt.Sprintf("%.2f (snoozed/messages)", float64(st.Snoozed)/float64(n)), "≤ 2",
		float64(st.Snoozed)/float64(n) <= 2)
	rep.Check("asynq failed runs", fmt.Sprint(e.failedTotal(tasks.QueueTransactional)), "0", e.failedTotal(tasks.QueueTransactional) == 0)
	if waitErr != nil {
		rep.Check("all accepted", waitErr.Error(), "all", false)
	}
	return rep, nil
}
