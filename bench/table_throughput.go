package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/tasks"
)

// ceilingQueue is the no-op tasks' own queue, so they never meet smsq's.
const ceilingQueue = "bench-ceiling"

// tableTasks is how many tasks the ceiling and throughput runs process.
func (r *Runner) tableTasks() int {
	if r.opts.Quick {
		return 5_000
	}
	return 20_000
}

// totalConcurrency is every worker process's slots together: the in-process
// no-op server gets as many, so both runs have the same concurrency.
func (r *Runner) totalConcurrency() int { return r.opts.Workers * r.concurrency() }

type ceilingResult struct {
	n       int
	enqueue time.Duration
	span    time.Duration // first handler start → last handler return
	rate    float64
	// cpu is redis-server's plus this process's CPU time while the
	// server drained the queue (this process also runs the sandbox, idle
	// then).
	cpu time.Duration
}

// measureCeiling enqueues n empty tasks on e's Redis, then serves them with
// an in-process asynq.Server running a handler that does nothing.
func measureCeiling(ctx context.Context, e *env, n, concurrency int) (ceilingResult, error) {
	cl := asynq.NewClient(e.conn)
	defer cl.Close()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	const producers = 32
	for p := 0; p < producers; p++ {
		g.Go(func() error {
			for i := p; i < n; i += producers {
				t := asynq.NewTask("bench:noop", nil)
				if _, err := cl.EnqueueContext(gctx, t, asynq.Queue(ceilingQueue), asynq.MaxRetry(0)); err != nil {
					return fmt.Errorf("enqueue no-op %d: %w", i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return ceilingResult{}, err
	}
	res := ceilingResult{n: n, enqueue: time.Since(start)}

	var done atomic.Int64
	var first, last atomic.Int64 // unix nanoseconds
	all := make(chan struct{})
	var once sync.Once
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		first.CompareAndSwap(0, time.Now().UnixNano())
		if done.Add(1) == int64(n) {
			last.Store(time.Now().UnixNano())
			once.Do(func() { close(all) })
		}
		return nil
	})
	srv := asynq.NewServer(e.conn, asynq.Config{
		Concurrency: concurrency,
		Queues:      map[string]int{ceilingQueue: 1},
		LogLevel:    asynq.FatalLevel,
	})
	cpu0, _ := ceilingCPU(e)
	if err := srv.Start(h); err != nil {
		return res, fmt.Errorf("start no-op server: %w", err)
	}
	defer srv.Shutdown()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		return res, fmt.Errorf("no-op server processed %d of %d in 5m", done.Load(), n)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	cpu1, _ := ceilingCPU(e)
	res.cpu = cpu1 - cpu0
	res.span = time.Duration(last.Load() - first.Load())
	if res.span > 0 {
		res.rate = float64(n) / res.span.Seconds()
	}
	return res, nil
}

// ceilingCPU is redis-server's and this process's CPU time so far.
func ceilingCPU(e *env) (time.Duration, bool) {
	self, ok1 := procCPU(os.Getpid())
	rds, ok2 := procCPU(e.redis.Proc().Pid())
	return self + rds, ok1 && ok2
}

func runCeiling(ctx context.Context, r *Runner) (*harness.Report, error) {
	n, c := r.tableTasks(), r.totalConcurrency()
	rep := &harness.Report{Setup: []string{fmt.Sprintf("in-process asynq.Server, concurrency %d (= %d workers × %d), no-op handler, %d tasks queued first by 32 parallel producers",
		c, r.opts.Workers, r.concurrency(), n)}}
	e, err := r.newEnv(ctx, "ceiling", hubOptions())
	if err != nil {
		return nil, err
	}
	defer e.close()
	res, err := measureCeiling(ctx, e, n, c)
	if err != nil {
		return nil, err
	}
	rep.Info("asynq no-op ceiling", "%.0f tasks/s (%d in %s, first start → last return)", res.rate, n, dur(res.span))
	rep.Info("CPU per task (redis-server + this process)", "%.0f µs", float64(res.cpu.Microseconds())/float64(n))
	rep.Info("enqueue (asynq.Client, 32 goroutines)", "%.0f tasks/s (%d in %s)", float64(n)/res.enqueue.Seconds(), n, dur(res.enqueue))
	rep.Note("load average at end: %s (2-core shared machine; Redis, producer and server share it)", loadAverage())
	return rep, nil
}

// runThroughput measures asynq's ceiling and then smsq's single sends on
// the same Redis in the same run: the ratio is what the target is about.
func runThroughput(ctx context.Context, r *Runner) (*harness.Report, error) {
	n, c := r.tableTasks(), r.totalConcurrency()
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d worker processes × concurrency %d vs in-process no-op asynq.Server at concurrency %d; sakari (unlimited throttle) in the sandbox; %d messages queued before the workers start; delivery polls paused",
		r.opts.Workers, r.concurrency(), c, n)}}
	e, err := r.newEnv(ctx, "throughput", hubOptions())
	if err != nil {
		return nil, err
	}
	defer e.close()
	ceil, err := measureCeiling(ctx, e, n, c)
	if err != nil {
		return nil, err
	}
	r.logf("ceiling %.0f tasks/s; enqueueing %d sends", ceil.rate, n)
	if err := e.pauseDeliveryPolls(); err != nil {
		return nil, err
	}
	reqs := messages("sakari", "t", n)
	start := time.Now()
	if err := e.send(ctx, reqs); err != nil {
		return nil, err
	}
	enq := time.Since(start)
	r.logf("enqueued %d in %s; starting workers", n, dur(enq))
	if err := e.startWorkers(ctx, r.opts.Workers); err != nil {
		return nil, err
	}
	cpu0, _ := e.cpu()
	cmd0, stats0 := commandsProcessed(ctx, e.rdb), commandStats(ctx, e.rdb, "calls")
	type profiled struct {
		path string
		err  error
	}
	prof := make(chan profiled, 1)
	go func() {
		// Most of the run: at ~1,000 msg/s the 20,000 messages take ~20s.
		d := 8 * time.Second
		if r.opts.Quick {
			d = 2 * time.Second
		}
		path, err := e.profileWorker(ctx, d, "throughput-worker-cpu")
		prof <- profiled{path, err}
	}()
	waitErr := e.waitAccepted(ctx, "sakari", n, 5*time.Minute)
	cpu1, cpuOK := e.cpu()
	cmd1, stats1 := commandsProcessed(ctx, e.rdb), commandStats(ctx, e.rdb, "calls")
	ts := times(e.hub.Sakari.Recorder().Accepted())
	if len(ts) < 2 {
		return nil, fmt.Errorf("nothing accepted: %v", waitErr)
	}
	// The ledger write follows the provider's answer: wait for the last
	// ones so the span ends at "submitted", not at the sandbox.
	ledgerDone := time.Now()
	var sum ledgerSummary
	for {
		if sum, err = e.summarize(ctx, ids(reqs)); err != nil {
			return nil, err
		}
		if sum.sent() == n || time.Since(ledgerDone) > 30*time.Second {
			break
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	span := ts[len(ts)-1].Sub(ts[0])
	rate := float64(len(ts)) / span.Seconds()
	ratio := rate / ceil.rate
	rep.Info("asynq no-op ceiling (same Redis, same run)", "%.0f tasks/s (%d in %s)", ceil.rate, n, dur(ceil.span))
	rep.Info("single sends end to end", "%.0f msg/s (%d accepted in %s, first → last sandbox accept)", rate, len(ts), dur(span))
	rep.Check("ratio to ceiling", fmt.Sprintf("%.2f", ratio), "≥ 0.60", ratio >= 0.6 && waitErr == nil)
	rep.Check("ledger", sum.String(), fmt.Sprintf("submitted %d", n), sum.sent() == n)
	if cpuOK {
		perMsg := float64((cpu1 - cpu0).Microseconds()) / float64(n)
		rep.Info("CPU per message (workers + redis-server; sandbox excluded)", "%.0f µs, vs %.0f µs per no-op task: CPU ratio %.2f",
			perMsg, float64(ceil.cpu.Microseconds())/float64(n), float64(ceil.cpu.Microseconds())/float64(n)/perMsg)
	}
	rep.Info("Redis commands per message while sending", "%.1f (top: %s)", float64(cmd1-cmd0)/float64(n), topCommands(stats0, stats1, n, 5, "%s %.1f"))
	rep.Info("producer enqueue (tasks.Client.Send, 8 goroutines)", "%.0f msg/s (%d in %s)", float64(n)/enq.Seconds(), n, dur(enq))
	rep.Check("asynq failed runs", fmt.Sprint(e.failedTotal(tasks.QueueTransactional)), "0", e.failedTotal(tasks.QueueTransactional) == 0)
	if waitErr != nil {
		rep.Check("all accepted", waitErr.Error(), "all", false)
	}
	if p := <-prof; p.err != nil {
		rep.Note("CPU profile of worker 0 failed: %v", p.err)
	} else if p.path != "" {
		rep.Note("CPU profile of worker 0: %s (go tool pprof -top %s)", p.path, p.path)
	}
	rep.Note("load average at end: %s (2-core shared machine; Redis, sandbox, producer and workers share it)", loadAverage())
	return rep, nil
}

// runLatency keeps a bulk background load going and measures transactional
// sends from the producer's call to the sandbox's acceptance.
func runLatency(ctx context.Context, r *Runner) (*harness.Report, error) {
	const bgRate, fgRate = 200, 20
	window := 30 * time.Second
	if r.opts.Quick {
		window = 10 * time.Second
	}
	rep := &harness.Report{Setup: []string{fmt.Sprintf("%d worker processes × concurrency %d; sakari unlimited; background %d/s bulk + measured %d/s transactional for %s; latency = sandbox accept − time before tasks.Client.Send",
		r.opts.Workers, r.concurrency(), bgRate, fgRate, window)}}
	e, err := r.sendingEnv(ctx, "latency")
	if err != nil {
		return nil, err
	}
	defer e.close()
	// Warm up first: each worker fetches its OAuth token and opens its
	// connections on the first sends, which is start-up, not latency.
	warm := messages("sakari", "warm", 100)
	for i := range warm {
		warm[i].To = fmt.Sprintf("+1415%03d%04d", 400, i)
	}
	if err := e.send(ctx, warm); err != nil {
		return nil, err
	}
	if err := e.waitAccepted(ctx, "sakari", len(warm), time.Minute); err != nil {
		return nil, err
	}
	nbg, nfg := bgRate*int(window.Seconds()), fgRate*int(window.Seconds())
	bg := messages("sakari", "bg", nbg)
	for i := range bg {
		bg[i].Bulk = true
	}
	fg := make([]tasks.SendRequest, nfg)
	for i := range fg {
		// Exchange 3xx: never one of the background destinations (2xx).
		fg[i] = tasks.SendRequest{ID: fmt.Sprintf("lat-%d", i), Provider: "sakari",
			To: fmt.Sprintf("+1415%03d%04d", 300+i/10000, i%10000), Text: fmt.Sprintf("lat %d", i)}
	}
	sent := make([]time.Time, nfg)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	pace := func(reqs []tasks.SendRequest, perSec int, mark []time.Time) {
		tick := time.NewTicker(time.Second / time.Duration(perSec))
		defer tick.Stop()
		for i := range reqs {
			select {
			case <-tick.C:
			case <-gctx.Done():
				return
			}
			g.Go(func() error {
				if mark != nil {
					mark[i] = time.Now()
				}
				if _, err := e.client.Send(gctx, reqs[i]); err != nil {
					return fmt.Errorf("enqueue %s: %w", reqs[i].ID, err)
				}
				return nil
			})
		}
	}
	var pacers sync.WaitGroup
	pacers.Add(2)
	go func() { defer pacers.Done(); pace(bg, bgRate, nil) }()
	go func() { defer pacers.Done(); pace(fg, fgRate, sent) }()
	pacers.Wait()
	if err := g.Wait(); err != nil {
		return nil, err
	}
	waitErr := e.waitAccepted(ctx, "sakari", len(warm)+nbg+nfg, 2*time.Minute)
	byText := map[string]sandbox.Accepted{}
	for _, a := range e.hub.Sakari.Recorder().Accepted() {
		byText[a.Text] = a
	}
	lat := make([]float64, 0, nfg)
	missing := 0
	for i, f := range fg {
		a, ok := byText[f.Text]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, float64(a.At.Sub(sent[i]))/float64(time.Millisecond))
	}
	p50, p99, pmax := quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 1)
	rep.Info("p50", "%.1f ms", p50)
	rep.Check("p99", fmt.Sprintf("%.1f ms (max %.1f ms, %d measured)", p99, pmax, len(lat)), "≤ 200 ms", p99 <= 200 && len(lat) > 0)
	rep.Check("measured sends accepted", fmt.Sprintf("%d of %d", len(lat), nfg), "all", missing == 0)
	if waitErr != nil {
		rep.Check("all accepted", waitErr.Error(), "all", false)
	}
	rep.Info("warm-up before the window", "%d sends, not measured", len(warm))
	rep.Note("load average at end: %s (2-core shared machine)", loadAverage())
	return rep, nil
}

// quantile is the q-quantile of xs (nearest rank); 0 when xs is empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sortFloats(s)
	i := int(q*float64(len(s)) + 0.5)
	i = min(max(i-1, 0), len(s)-1)
	return s[i]
}
