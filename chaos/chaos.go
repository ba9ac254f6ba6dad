// Package chaos is smsq's chaos run: a large campaign and a stream of
// single sends go out through worker processes while workers are
// SIGKILLed at random, Redis (AOF on, appendfsync always) is killed and
// restarted, and the provider sandbox serves storms of 429s and 5xx
// answers. Afterwards it counts, per recipient and per message, what the
// sandbox received against what smsq recorded: nothing may be lost, and a
// message may reach the provider twice only when a worker died while
// sending it and smsq marked it "unknown".
//
// cmd/chaos is its command-line front; docs/chaos.md records the figures
// of a full run.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/tasks"
)

// Errors matched with errors.Is.
var (
	// ErrNoRedis: no redis-server on PATH.
	ErrNoRedis = harness.ErrNoRedis
	// ErrFailed: the run completed and a check failed; the report says
	// which.
	ErrFailed = errors.New("chaos: a check failed")
)

// Options configure a run. Zero fields take the default named; defaults
// in brackets are those of Quick.
type Options struct {
	// RunOptions: Quick runs a small version (a smoke run for tests and
	// CI); Root, Dir, KeepLogs, Markdown and Out as documented there.
	harness.RunOptions `koanf:",squash"`
	// Recipients is the campaign's size (Conectaline push/multiple, 1000
	// per call), 1 to 1,000,000. Default 50,000 [3,000].
	Recipients int `koanf:"recipients"`
	// Singles is how many single sends go out beside it through
	// tasks.Client, alternately Keccel and Sakari. Default 2,000 [200];
	// negative: none.
	Singles int `koanf:"singles"`
	// Kills is how many times a random worker is SIGKILLed (and restarted
	// a second later). Default 5 [2]; negative: none.
	Kills int `koanf:"kills"`
	// RedisRestarts is how many times redis-server is SIGKILLed and
	// started again on its port and data. Default 1 [1]; negative: none.
	RedisRestarts int `koanf:"redis_restarts"`
	// Storms is how many 429 storms, and as many 5xx storms, the sandbox
	// serves. Default 2 [1]; negative: none.
	Storms int `koanf:"storms"`
	// StormLength is how long each storm lasts. Default 4s [2s].
	StormLength time.Duration `koanf:"storm_length"`
	// Workers is how many worker processes run, 1 to 16. Default 3.
	Workers int `koanf:"workers"`
	// Seed makes the disruption times and targets repeatable. Default 0:
	// drawn from the clock (the report prints it).
	Seed uint64 `koanf:"seed"`
	// CampaignRate is Conectaline's limit in messages per second.
	// Default 1000 [300].
	CampaignRate int `koanf:"campaign_rate"`
	// SingleRate is Keccel's and Sakari's limit, each, in requests per
	// second. Default 25 [20].
	SingleRate int `koanf:"single_rate"`
	// Hold is how long the sandbox holds its answer to a single send
	// after accepting it (a provider's round trip): the time a kill can
	// land in. Default 150ms.
	Hold time.Duration `koanf:"hold"`
	// BatchHold is Hold for a batch call (Conectaline push/multiple, up
	// to 1000 recipients). Default 500ms.
	BatchHold time.Duration `koanf:"batch_hold"`
	// RedisDown is how long redis-server stays down between its SIGKILL
	// and its start: long enough for clients' own retries to run out.
	// Default 2s.
	RedisDown time.Duration `koanf:"redis_down"`
	// Window is the span, from the start of the traffic, in which the
	// disruptions and storms happen and the single sends are enqueued.
	// Default: the campaign's length at CampaignRate, at least 10s.
	Window time.Duration `koanf:"window"`
	// Timeout bounds the wait, from the start of the traffic, for every
	// message to settle. Default 15m [110s].
	Timeout time.Duration `koanf:"timeout"`
}

func (o Options) withDefaults() Options {
	pick := func(v *int, full, quick int) {
		switch {
		case *v < 0:
			*v = 0
		case *v == 0 && o.Quick:
			*v = quick
		case *v == 0:
			*v = full
		}
	}
	pick(&o.Recipients, 50_000, 3_000)
	pick(&o.Singles, 2_000, 200)
	pick(&o.Kills, 5, 2)
	pick(&o.RedisRestarts, 1, 1)
	pick(&o.Storms, 2, 1)
	pick(&o.Workers, 3, 3)
	pick(&o.CampaignRate, 1000, 300)
	pick(&o.SingleRate, 25, 20)
	if o.StormLength == 0 {
		o.StormLength = 4 * time.Second
		if o.Quick {
			o.StormLength = 2 * time.Second
		}
	}
	if o.Hold == 0 {
		o.Hold = 150 * time.Millisecond
	}
	if o.BatchHold == 0 {
		o.BatchHold = 500 * time.Millisecond
	}
	if o.RedisDown == 0 {
		o.RedisDown = 2 * time.Second
	}
	if o.Window == 0 {
		o.Window = max(10*time.Second, time.Duration(float64(o.Recipients)/float64(o.CampaignRate)*float64(time.Second)))
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
		if o.Quick {
			o.Timeout = 110 * time.Second
		}
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	o.Out = o.Output()
	return o
}

// Validate names the first bad option.
func (o Options) Validate() error {
	switch {
	case o.Recipients < 0 || o.Recipients > 1_000_000:
		return errors.New("chaos: recipients: want 1 to 1,000,000")
	case o.Singles > 1_000_000:
		return errors.New("chaos: singles: at most 1,000,000")
	case o.Kills > 100:
		return errors.New("chaos: kills: at most 100")
	case o.RedisRestarts > 10:
		return errors.New("chaos: redis_restarts: at most 10")
	case o.Storms > 20:
		return errors.New("chaos: storms: at most 20")
	case o.Workers < 0 || o.Workers > 16:
		return errors.New("chaos: workers: want 1 to 16")
	case o.CampaignRate < 0:
		return errors.New("chaos: campaign_rate: must be positive")
	case o.SingleRate < 0:
		return errors.New("chaos: single_rate: must be positive")
	case o.Hold < 0:
		return errors.New("chaos: hold: must not be negative")
	case o.BatchHold < 0:
		return errors.New("chaos: batch_hold: must not be negative")
	case o.RedisDown < 0:
		return errors.New("chaos: redis_down: must not be negative")
	case o.StormLength < 0:
		return errors.New("chaos: storm_length: must not be negative")
	case o.Window < 0:
		return errors.New("chaos: window: must not be negative")
	case o.Timeout < 0:
		return errors.New("chaos: timeout: must not be negative")
	}
	return nil
}

// environ is the configuration (SMSQ_* variables) of every process.
func environ(redisURL, root string, o Options) []string {
	env := append(harness.BaseEnv(5*time.Second),
		"SMSQ_REDIS__URL="+redisURL,
		"SMSQ_SEND__RETRY_BASE=500ms",
		"SMSQ_SEND__RETRY_MAX=5s")
	env = append(env, harness.ProviderEnv(root, "conectaline", o.CampaignRate)...)
	env = append(env, harness.ProviderEnv(root, "keccel", o.SingleRate)...)
	return append(env, harness.ProviderEnv(root, "sakari", o.SingleRate)...)
}

// inFlight is what smsq had in "sending" at a disruption: the most a
// worker that died could have left half done.
type inFlight struct {
	what string
	at   time.Time // when the SIGKILL was sent
	// campaign and singles were "sending" (or already "unknown": a fast
	// rerun may have marked them) when looked at right after.
	campaign []int
	singles  []string
}

// restartFigures describe one Redis restart.
type restartFigures struct {
	down     time.Duration // from SIGKILL to the first PING answered
	probeAck int64         // last INCR of the probe key Redis acknowledged
	probeGot int64         // the key's value after the restart
}

// run is one chaos run.
type run struct {
	o  Options
	ws *harness.Workspace
	t0 time.Time // traffic start

	rs        *harness.Redis
	redisDown atomic.Bool
	fr        *front
	conn      *harness.Conn
	fl        *fleet
	watch     *unknownWatch

	campaignID, statesKey string
	numbers               []string // campaign recipients, in file order
	singles               []tasks.SendRequest
	sent                  atomic.Int64 // singles accepted so far, in order
	enqRetries            atomic.Int64

	mu       sync.Mutex
	events   []string
	inflight []inFlight
	restarts []restartFigures
	kills    int
}

// event logs a line and keeps it for the report's timeline, stamped with
// the time since the traffic started.
func (r *run) event(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	at := "setup"
	if !r.t0.IsZero() {
		at = fmt.Sprintf("%.1fs", time.Since(r.t0).Seconds())
	}
	r.mu.Lock()
	r.events = append(r.events, at+"  "+msg)
	r.mu.Unlock()
	r.ws.Logf("%s", msg)
}

// Run makes a chaos run and prints its report. It returns the result and
// ErrFailed when a check failed, or another error when the run could not
// be made.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	ws, err := harness.NewWorkspace("chaos", o.RunOptions)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	r := &run{o: o, ws: ws}
	fmt.Fprintf(o.Out, "chaos run (seed %d): building cmd/worker and cmd/scheduler…\n", o.Seed)
	if err := ws.Build(ctx, "worker", "scheduler"); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	res, err := r.execute(ctx)
	if err != nil {
		return nil, err
	}
	printReport(o.Out, res.Report, o.Markdown)
	if !res.Report.OK() {
		return res, ErrFailed
	}
	return res, nil
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	o := r.o
	// AOF on with appendfsync always: every write Redis acknowledged is on
	// disk before the acknowledgement, so what survives its SIGKILL is
	// exactly what clients were told. A restart reloads the whole AOF
	// before it answers PING, hence the long start timeout.
	var err error
	if r.rs, err = harness.StartRedis(ctx, r.ws.Dir, harness.RedisOptions{AppendFsync: "always", StartTimeout: 30 * time.Second}); err != nil {
		return nil, err
	}
	defer func() { r.rs.Stop(syscall.SIGTERM, 10*time.Second) }()
	if r.fr, err = startFront(o.Hold, o.BatchHold); err != nil {
		return nil, err
	}
	defer r.fr.Close()
	env := environ("redis://"+r.rs.Addr+"/0", r.fr.Root, o)
	if r.conn, err = harness.Connect(env); err != nil {
		return nil, err
	}
	defer r.conn.Close()
	r.ws.Logf("redis-server %s at %s (AOF on, appendfsync always); sandbox at %s", r.rs.Version(ctx), r.rs.Addr, r.fr.Root)

	r.fl = &fleet{Fleet: harness.NewFleet(r.ws, r.conn.Inspector, func(string) []string { return env }), redisDown: &r.redisDown}
	defer r.fl.StopAll(10 * time.Second)
	for i := 0; i < o.Workers; i++ {
		if _, err := r.fl.StartWorker(ctx, i); err != nil {
			return nil, err
		}
	}
	if _, err := r.fl.StartScheduler(ctx); err != nil {
		return nil, err
	}
	r.ws.Logf("%d worker processes and 1 scheduler process up", o.Workers)

	// The campaign, created as `enqueue campaign create` does.
	r.numbers = make([]string, o.Recipients)
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range r.numbers {
		r.numbers[i] = sms.ExampleNumber("ES", i)
		fmt.Fprintf(&csv, "%s,Cliente %d\n", r.numbers[i], i)
	}
	for i := 0; i < o.Singles; i++ {
		req := tasks.SendRequest{ID: fmt.Sprintf("chaos-%06d", i), Provider: "keccel", To: sms.ExampleNumber("CD", i/2),
			Text: fmt.Sprintf("Your code is %04d", i%10000)}
		if i%2 == 1 {
			req.Provider, req.To = "sakari", sms.ExampleNumber("US", i/2)
		}
		r.singles = append(r.singles, req)
	}

	// The unknown-mark watch must listen before the first block runs.
	wctx, stopWatch := context.WithCancel(ctx)
	var watchDone sync.WaitGroup
	defer func() { stopWatch(); watchDone.Wait() }()
	id := campaign.NewID(time.Now())
	r.campaignID, r.statesKey = id, "smsq:c:{"+id+"}:s"
	r.watch = newUnknownWatch(r.rs.Addr, r.statesKey)
	ready := make(chan struct{})
	watchDone.Add(1)
	go func() { defer watchDone.Done(); r.watch.run(wctx, ready) }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		return nil, errors.New("chaos: MONITOR connection not up within 10s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	t := time.Now()
	rep, err := r.conn.CreateCampaign(ctx, campaign.Definition{
		ID: id, Name: "chaos", Provider: "conectaline", Message: "Hola {{name}}, esto es una prueba",
	}, csv.String())
	if err != nil {
		return nil, fmt.Errorf("chaos: create campaign: %w", err)
	}
	if rep.Sendable != o.Recipients {
		return nil, fmt.Errorf("chaos: create campaign: %d of %d recipients sendable", rep.Sendable, o.Recipients)
	}
	if n, err := r.conn.Redis.StrLen(ctx, r.statesKey).Result(); err != nil || int(n) != o.Recipients {
		// The watch and the snapshots read this key (campaign/doc.go).
		return nil, fmt.Errorf("chaos: campaign state string %s: length %d, want %d (%v): has the campaign key layout changed?", r.statesKey, n, o.Recipients, err)
	}
	r.ws.Logf("campaign %s: %d recipients in %d blocks (%s)", rep.ID, rep.Sendable, rep.Blocks, time.Since(t).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(o.Seed, o.Seed>>1|1))
	pl := makePlan(rng, o.Window, o.Kills, o.RedisRestarts, o.Workers, o.Storms, o.StormLength)
	r.t0 = time.Now()
	r.event("traffic starts: campaign running, %d single sends to enqueue over %s", len(r.singles), o.Window)

	bg, bgctx := errgroup.WithContext(ctx)
	supCtx, stopSup := context.WithCancel(ctx)
	var supDone sync.WaitGroup
	supDone.Add(1)
	go func() { defer supDone.Done(); r.fl.supervise(supCtx, r.event) }()
	defer func() { stopSup(); supDone.Wait() }()
	bg.Go(func() error { return r.produce(bgctx) })
	bg.Go(func() error { return r.storms(bgctx, pl.Storms) })
	bg.Go(func() error { return r.disrupt(bgctx, pl.Disruptions) })
	if err := bg.Wait(); err != nil {
		return nil, err
	}
	r.event("disruptions over; every single send enqueued (%d enqueue attempts retried)", r.enqRetries.Load())

	stuck, waitErr := r.settle(ctx)
	if errors.Is(waitErr, context.Canceled) {
		return nil, waitErr
	}
	if waitErr == nil {
		r.event("every recipient and single send settled")
	} else {
		r.event("%v", waitErr)
	}
	stopSup()
	supDone.Wait()
	r.fl.StopAll(10 * time.Second)
	stopWatch()
	watchDone.Wait()
	return r.tally(ctx, stuck, waitErr)
}

// produce enqueues the single sends evenly over the window through
// tasks.Client, as a backend would. An enqueue that fails (Redis down) is
// retried with the same id, which makes the retry safe.
func (r *run) produce(ctx context.Context) error {
	n := len(r.singles)
	for i, req := range r.singles {
		due := r.t0.Add(time.Duration(i) * r.o.Window / time.Duration(n))
		if err := harness.Sleep(ctx, time.Until(due)); err != nil {
			return err
		}
		for {
			_, err := r.conn.Client.Send(ctx, req)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Since(due) > 2*time.Minute {
				return fmt.Errorf("chaos: enqueue %s: still failing after 2m: %w", req.ID, err)
			}
			r.enqRetries.Add(1)
			if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
		r.sent.Store(int64(i + 1))
	}
	return nil
}

// storms switches the sandbox's storms on and off as planned.
func (r *run) storms(ctx context.Context, storms []storm) error {
	defer r.fr.storm(sandbox.Faults{})
	for _, s := range storms {
		if err := harness.Sleep(ctx, time.Until(r.t0.Add(s.At))); err != nil {
			return err
		}
		r.fr.storm(s.Faults())
		r.event("%s storm on for %s: %s", s.Kind, s.For, s.describe())
		if err := harness.Sleep(ctx, s.For); err != nil {
			return err
		}
		r.fr.storm(sandbox.Faults{})
		r.event("%s storm off", s.Kind)
	}
	return nil
}

// disrupt makes the planned kills and Redis restarts, one after another:
// a kill's replacement is up before the next disruption starts.
func (r *run) disrupt(ctx context.Context, ds []disruption) error {
	for _, d := range ds {
		if err := harness.Sleep(ctx, time.Until(r.t0.Add(d.At))); err != nil {
			return err
		}
		switch d.Kind {
		case "kill":
			at := time.Now()
			lbl, pid := r.fl.kill(d.Slot)
			f := r.snapshot(ctx, fmt.Sprintf("SIGKILL %s (pid %d)", lbl, pid), at)
			r.mu.Lock()
			r.kills++
			r.mu.Unlock()
			r.event("SIGKILL worker %s (pid %d); in \"sending\" right after: %d campaign recipients, %d single sends",
				lbl, pid, len(f.campaign), len(f.singles))
			if err := harness.Sleep(ctx, time.Second); err != nil {
				return err
			}
			if _, err := r.fl.StartWorker(ctx, d.Slot); err != nil {
				return err
			}
			r.event("started worker %s", r.fl.current(d.Slot))
		case "redis":
			if err := r.restartRedis(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// restartRedis SIGKILLs redis-server and starts it again on the same port
// and data directory. A probe increments a counter right up to the kill:
// the value after the restart must be at least the last one Redis
// acknowledged (appendfsync always fsyncs before it answers).
func (r *run) restartRedis(ctx context.Context) error {
	pc := r.rs.Client()
	defer pc.Close()
	var ack atomic.Int64
	stop := make(chan struct{})
	var probeDone sync.WaitGroup
	probeDone.Add(1)
	go func() {
		defer probeDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if v, err := pc.Incr(ctx, "chaos:probe").Result(); err == nil {
				ack.Store(v)
			} else if ctx.Err() != nil {
				return
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	if err := harness.Sleep(ctx, 300*time.Millisecond); err != nil {
		close(stop)
		probeDone.Wait()
		return err
	}
	r.redisDown.Store(true)
	t := time.Now()
	r.rs.Kill()
	close(stop)
	probeDone.Wait()
	r.event("SIGKILL redis-server; starting it again in %s", r.o.RedisDown)
	if err := harness.Sleep(ctx, r.o.RedisDown); err != nil {
		r.redisDown.Store(false)
		return err
	}
	err := r.rs.Relaunch(ctx)
	down := time.Since(t)
	r.redisDown.Store(false)
	if err != nil {
		return fmt.Errorf("chaos: redis restart: %w", err)
	}
	f := r.snapshot(ctx, "Redis restart", t)
	got, gerr := pc.Get(ctx, "chaos:probe").Int64()
	if gerr != nil {
		got = -1
	}
	rf := restartFigures{down: down, probeAck: ack.Load(), probeGot: got}
	r.mu.Lock()
	r.restarts = append(r.restarts, rf)
	r.mu.Unlock()
	r.event("redis-server back after %s (AOF reloaded; probe acknowledged %d, found %d); in \"sending\": %d campaign recipients, %d single sends",
		down.Round(time.Millisecond), rf.probeAck, rf.probeGot, len(f.campaign), len(f.singles))
	return nil
}

// snapshot records what smsq has in "sending" now, after a disruption at
// at: the campaign's state bytes, and the ledger state of every single
// send enqueued so far. "unknown" counts too: only a rerun finding a
// message in "sending" marks it so, and one may already have run.
func (r *run) snapshot(ctx context.Context, what string, at time.Time) inFlight {
	f := inFlight{what: what, at: at}
	if b, err := r.conn.Redis.Get(ctx, r.statesKey).Bytes(); err == nil {
		for i, s := range b {
			if st := campaign.RecipientState(s); st == campaign.Sending || st == campaign.Unknown {
				f.campaign = append(f.campaign, i)
			}
		}
	}
	n := int(r.sent.Load())
	// The producer may be inside the Send of the next one.
	n = min(n+1, len(r.singles))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, req := range r.singles[:n] {
		g.Go(func() error {
			rec, err := r.conn.Client.Ledger().Get(gctx, req.ID)
			if err == nil && (rec.State == ledger.Sending || rec.State == ledger.Unknown) {
				mu.Lock()
				f.singles = append(f.singles, req.ID)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	r.mu.Lock()
	r.inflight = append(r.inflight, f)
	r.mu.Unlock()
	return f
}

// settle waits until the campaign is done with every recipient settled
// and every single send is submitted or final, or until the timeout. It
// returns what is still unsettled then.
func (r *run) settle(ctx context.Context) ([]string, error) {
	deadline := r.t0.Add(r.o.Timeout)
	open := map[string]bool{}
	for _, req := range r.singles {
		open[req.ID] = true
	}
	campaignDone := false
	for {
		if !campaignDone {
			if c, err := r.conn.Store.Get(ctx, r.campaignID); err == nil && c.State == campaign.Done &&
				c.Counts[campaign.Pending.String()]+c.Counts[campaign.Sending.String()]+c.Counts[campaign.Unknown.String()] == 0 {
				campaignDone = true
			}
		}
		ids := make([]string, 0, len(open))
		for id := range open {
			ids = append(ids, id)
		}
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for _, id := range ids {
			g.Go(func() error {
				rec, err := r.conn.Client.Ledger().Get(gctx, id)
				if err == nil && settled(rec.State) {
					mu.Lock()
					delete(open, id)
					mu.Unlock()
				}
				return nil
			})
		}
		_ = g.Wait()
		if campaignDone && len(open) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			var stuck []string
			if !campaignDone {
				stuck = append(stuck, "campaign not done")
			}
			for id := range open {
				stuck = append(stuck, id)
			}
			return stuck, fmt.Errorf("not everything settled within %s of the traffic start", r.o.Timeout)
		}
		if err := harness.Sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// settled: the message reached the provider as far as smsq knows, or
// smsq gave it up.
func settled(s ledger.State) bool { return s == ledger.Submitted || s.Final() }
