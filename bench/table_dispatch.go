package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/sandbox"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
)

// dispatchCampaigns is how many campaigns the dispatch scenario sends at
// once. A campaign's blocks run strictly one after another (block k+1 is
// claimed only when block k is complete, and is a new task that a worker
// must pick up), so one campaign is one stream of 1000-recipient calls
// and reaches only a fraction of the target on its own; 25 streams keep
// both cores busy with 35 of the workers' 60 task slots left free.
const dispatchCampaigns = 25

// dispatchMessage is personalised, so every batch goes out as one
// push/multiple call of up to 1000 entries (a text shared by the whole
// batch would take push/simple instead).
const dispatchMessage = "Hola {{name}}, tu pedido está listo"

// dispatchNumbers returns n distinct DRC mobile numbers (+24381 and seven
// digits), skipping those the sandbox treats as unreachable (ending in
// 666666), so that every recipient should end submitted.
func dispatchNumbers(n int) []string {
	out := make([]string, 0, n)
	for v := 0; len(out) < n; v++ {
		s := fmt.Sprintf("+24381%07d", v)
		if sandbox.Unreachable(s) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func dispatchCSV(numbers []string) []byte {
	var b bytes.Buffer
	b.Grow(len(numbers) * 32)
	b.WriteString("phone,name\n")
	for i, n := range numbers {
		fmt.Fprintf(&b, "%s,Cliente %d\n", n, i)
	}
	return b.Bytes()
}

// procSplit is the CPU time so far of the workers, redis-server and this
// process (sandbox, scheduler, sampler).
type procSplit struct{ workers, redis, self time.Duration }

func (e *env) cpuSplit() (procSplit, bool) {
	var s procSplit
	ok := true
	for _, p := range e.workerProcs() {
		d, k := procCPU(p.Pid())
		s.workers += d
		ok = ok && k
	}
	d, k := procCPU(e.redis.Proc().Pid())
	s.redis, ok = d, ok && k
	d, k = procCPU(os.Getpid())
	s.self, ok = d, ok && k
	return s, ok
}

// runDispatch sends several unpaced Conectaline campaigns at once through
// the real workers and measures recipients per second from the sandbox's
// first accept to its last.
func runDispatch(ctx context.Context, r *Runner) (*harness.Report, error) {
	per := 1_000_000 / dispatchCampaigns
	if r.opts.Quick {
		per = 200_000 / dispatchCampaigns
	}
	n := per * dispatchCampaigns
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d unpaced conectaline campaigns × %d recipients (%d in all) created through campaign.Store.Create; "+
		"personalised text → push/multiple of 1000 per call; throttle unlimited; %d worker processes × concurrency %d; campaign scheduler in this process",
		dispatchCampaigns, per, n, r.opts.Workers, r.concurrency())}}

	// Only per-destination counts: a million kept messages would weigh on
	// this process, which serves the sandbox.
	e, err := r.newEnv(ctx, "dispatch", hub.Options{})
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.environ = lastWins(append(e.environ, append(conectalineEnv(e.sb.Root), "SMSQ_PROVIDERS__CONECTALINE__MAX_BATCH=1000")...))
	if err := e.pauseDeliveryPolls(); err != nil {
		return nil, err
	}

	numbers := dispatchNumbers(n)
	store := campaign.NewStore(e.rdb, campaign.StoreOptions{})
	ids := make([]string, dispatchCampaigns)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for j := range ids {
		ids[j] = fmt.Sprintf("dispatch-%d", j)
		g.Go(func() error {
			d := campaign.Definition{ID: ids[j], Provider: "conectaline", Message: dispatchMessage,
				// Unpaced: one block per provider batch, each next block
				// enqueued as soon as the previous one completes.
				Pacing: pacing.Spec{StartDate: "2020-01-01 00:00", TimeZone: "UTC"}}
			cr, err := store.Create(gctx, d, bytes.NewReader(dispatchCSV(numbers[j*per:(j+1)*per])), campaign.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create %s: %w", ids[j], err)
			}
			if cr.Sendable != per {
				return fmt.Errorf("create %s: %d sendable of %d (bad %d)", ids[j], cr.Sendable, per, cr.Bad)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r.logf("created %d campaigns (%d recipients) in %s; starting workers", dispatchCampaigns, n, dur(time.Since(start)))
	if err := e.startWorkers(ctx, r.opts.Workers); err != nil {
		return nil, err
	}

	rec := e.hub.Conectaline.Recorder()
	cpu0, cpuOK0 := e.cpuSplit()
	cmd0, stats0, usec0 := commandsProcessed(ctx, e.rdb), commandStats(ctx, e.rdb, "calls"), commandStats(ctx, e.rdb, "usec")

	// The campaign scheduler, as a scheduler process would run it: its
	// first tick enqueues block 0 of every campaign; the handlers chain
	// the later blocks themselves.
	sctx, stopSched := context.WithCancel(ctx)
	var sched sync.WaitGroup
	sched.Add(1)
	go func() {
		defer sched.Done()
		aq := asynq.NewClientFromRedisClient(e.rdb)
		_ = campaign.NewScheduler(store, aq, campaign.SchedulerOptions{}).Run(sctx)
	}()
	defer func() { stopSched(); sched.Wait() }()

	// First and last accept, sampled every millisecond from the in-process
	// recorder (no Redis traffic).
	var first, last time.Time
	timeout := time.After(5 * time.Minute)
	tick := time.NewTicker(time.Millisecond)
	var waitErr error
sample:
	for {
		select {
		case <-tick.C:
		case <-timeout:
			waitErr = fmt.Errorf("sandbox accepted %d of %d within 5m", rec.AcceptedCount(), n)
			break sample
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		}
		c := rec.AcceptedCount()
		now := time.Now()
		if c > 0 && first.IsZero() {
			first = now
		}
		if c >= n {
			last = now
			break sample
		}
	}
	tick.Stop()

	// The state writes follow the provider's answer: wait until every
	// campaign is done before reading the cost figures.
	var cs []*campaign.Campaign
	doneBy := time.Now().Add(30 * time.Second)
	for {
		cs = cs[:0]
		all := true
		for _, id := range ids {
			c, err := store.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
			all = all && c.State == campaign.Done
		}
		if all || time.Now().After(doneBy) {
			break
		}
		if err := harness.Sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
	cpu1, cpuOK1 := e.cpuSplit()
	cmd1, stats1, usec1 := commandsProcessed(ctx, e.rdb), commandStats(ctx, e.rdb, "calls"), commandStats(ctx, e.rdb, "usec")
	stopSched()
	sched.Wait()

	span := last.Sub(first)
	if waitErr == nil && span > 0 {
		rate := float64(n) / span.Seconds()
		rep.Check("dispatch rate", fmt.Sprintf("%.0f recipients/s (%d in %s, first → last sandbox accept; load %s)", rate, n, dur(span), loadAverage()),
			"≥ 200,000/s", rate >= 200_000)
	} else {
		rep.Check("dispatch rate", fmt.Sprint(waitErr), "≥ 200,000/s", false)
	}

	// Every recipient's own state byte, and the counters.
	states := map[campaign.RecipientState]int{}
	notDone := 0
	for j, id := range ids {
		s, err := e.rdb.Get(ctx, "smsq:c:{"+id+"}:s").Bytes()
		if err != nil {
			return nil, fmt.Errorf("states of %s: %w", id, err)
		}
		for _, b := range s {
			states[campaign.RecipientState(b)]++
		}
		states[campaign.Pending] += per - len(s)
		if cs[j].State != campaign.Done || cs[j].Counts[campaign.Submitted.String()] != int64(per) {
			notDone++
		}
	}
	var parts []string
	for _, s := range campaign.RecipientStates() {
		if states[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, states[s]))
		}
	}
	rep.Check("recipient states (state bytes)", strings.Join(parts, ", "), fmt.Sprintf("submitted %d", n), states[campaign.Submitted] == n)
	rep.Check("campaigns done with counters = recipients", fmt.Sprintf("%d of %d", dispatchCampaigns-notDone, dispatchCampaigns),
		"all", notDone == 0)

	per2 := rec.PerDestination()
	once, dup, missing := 0, 0, 0
	for _, num := range numbers {
		switch per2[num] {
		case 0:
			missing++
		case 1:
			once++
		default:
			dup++
		}
	}
	rep.Check("sandbox: each recipient received", fmt.Sprintf("once %d, twice or more %d, never %d (total accepted %d)", once, dup, missing, rec.AcceptedCount()),
		"exactly once", once == n && rec.AcceptedCount() == n)
	calls := e.hub.Conectaline.Calls(sbconectaline.PathMultiple)
	rep.Info("push/multiple calls", "%d (largest %d entries)", calls, e.hub.Conectaline.MaxRecipientsPerCall())

	if cpuOK0 && cpuOK1 {
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		w, rd, self := cpu1.workers-cpu0.workers, cpu1.redis-cpu0.redis, cpu1.self-cpu0.self
		rep.Info("CPU per recipient", "%.2f µs: workers %.2f, redis-server %.2f, this process (sandbox, scheduler) %.2f",
			us(w+rd+self), us(w), us(rd), us(self))
		if total := us(w + rd + self); total > 0 {
			rep.Info("CPU-bound ceiling (all cores ÷ CPU per recipient)", "%.0f recipients/s on %d cores, were the machine ours",
				float64(runtime.NumCPU())*1e6/total, runtime.NumCPU())
		}
	}
	// Per 1000 recipients (one provider batch): per recipient they round
	// to nothing.
	rep.Info("Redis commands per 1000 recipients", "%.0f (top: %s)", 1000*float64(cmd1-cmd0)/float64(n), topCommands(stats0, stats1, n/1000, 6, "%s %.1f"))
	rep.Info("Redis command time per recipient", "%s", topCommands(usec0, usec1, n, 5, "%s %.2f µs"))
	rep.Check("asynq failed runs (bulk queue)", fmt.Sprint(e.failedTotal("bulk")), "0", e.failedTotal("bulk") == 0)
	rep.Note("load average at end: %s (2-core shared machine; Redis, sandbox and workers share it)", loadAverage())
	return rep, nil
}
