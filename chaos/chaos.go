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
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/sandbox"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/tasks"
)

// Errors matched with errors.Is.
var (
	// ErrNoRedis: no redis-server on PATH.
	ErrNoRedis = errors.New("chaos: redis-server not found on PATH: install it (Debian: apt-get install -y redis-server)")
	// ErrFailed: the run completed and a check failed; the report says
	// which.
	ErrFailed = errors.New("chaos: a check failed")
)

// Options configure a run. Zero fields take the default named; defaults
// in brackets are those of Quick.
type Options struct {
	// Quick runs a small version (a smoke run for tests and CI); the
	// figures of record come from full runs. Default false.
	Quick bool `koanf:"quick"`
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
	// Root is the module root where cmd/worker and cmd/scheduler are
	// built. Default "": found with `go env GOMOD`.
	Root string `koanf:"root"`
	// Dir keeps the binaries, Redis data and process logs. Default "": a
	// temporary directory, removed afterwards unless KeepLogs.
	Dir string `koanf:"dir"`
	// KeepLogs keeps the temporary directory. Default false.
	KeepLogs bool `koanf:"keep_logs"`
	// Markdown prints the table as Markdown. Default false: aligned text.
	Markdown bool `koanf:"markdown"`
	// Out receives progress lines and the report. Default os.Stdout.
	Out io.Writer `koanf:"-"`
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
	if o.Out == nil {
		o.Out = os.Stdout
	}
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
	return []string{
		"SMSQ_REDIS__URL=" + redisURL,
		"SMSQ_WORKER__HTTP_ADDR=-",
		"SMSQ_WORKER__SHUTDOWN_TIMEOUT=5s",
		"SMSQ_LOG__LEVEL=info",
		"SMSQ_LOG__FORMAT=json",
		"SMSQ_SEND__RETRY_BASE=500ms",
		"SMSQ_SEND__RETRY_MAX=5s",
		"SMSQ_PROVIDERS__CONECTALINE__ENABLED=true",
		"SMSQ_PROVIDERS__CONECTALINE__BASE_URL=" + hub.BaseURL(root, "conectaline"),
		"SMSQ_PROVIDERS__CONECTALINE__EMAIL=" + sbconectaline.DefaultEmail,
		"SMSQ_PROVIDERS__CONECTALINE__PASSWORD=" + sbconectaline.DefaultPassword,
		"SMSQ_PROVIDERS__CONECTALINE__CONFIGURATION_NAME=" + sbconectaline.DefaultConfigurationName,
		fmt.Sprintf("SMSQ_PROVIDERS__CONECTALINE__THROTTLE__RATE=%d/s", o.CampaignRate),
		"SMSQ_PROVIDERS__CONECTALINE__THROTTLE__COST_BY=message",
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + hub.BaseURL(root, "keccel"),
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		fmt.Sprintf("SMSQ_PROVIDERS__KECCEL__THROTTLE__RATE=%d/s", o.SingleRate),
		"SMSQ_PROVIDERS__SAKARI__ENABLED=true",
		"SMSQ_PROVIDERS__SAKARI__BASE_URL=" + hub.BaseURL(root, "sakari"),
		"SMSQ_PROVIDERS__SAKARI__CLIENT_ID=" + sbsakari.DefaultClientID,
		"SMSQ_PROVIDERS__SAKARI__CLIENT_SECRET=" + sbsakari.DefaultClientSecret,
		"SMSQ_PROVIDERS__SAKARI__ACCOUNT_ID=" + sbsakari.DefaultAccountID,
		fmt.Sprintf("SMSQ_PROVIDERS__SAKARI__THROTTLE__RATE=%d/s", o.SingleRate),
	}
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
	o     Options
	dir   string
	start time.Time
	t0    time.Time // traffic start

	rs        *redisServer
	redisDown atomic.Bool
	fr        *front
	conn      *app.Conn
	client    *tasks.Client
	ins       *asynq.Inspector
	store     *campaign.Store
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

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Out, "  [%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
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
	r.logf("%s", msg)
}

// Run makes a chaos run and prints its report. It returns the result and
// ErrFailed when a check failed, or another error when the run could not
// be made.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	r := &run{o: o, start: time.Now()}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "smsq-chaos-")
		if err != nil {
			return nil, err
		}
		dir = d
		defer func() {
			if o.KeepLogs {
				fmt.Fprintf(o.Out, "logs and data kept in %s\n", dir)
				return
			}
			_ = os.RemoveAll(dir)
		}()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r.dir = dir
	fmt.Fprintf(o.Out, "chaos run (seed %d): building cmd/worker and cmd/scheduler…\n", o.Seed)
	if err := build(ctx, o.Root, dir, "worker", "scheduler"); err != nil {
		return nil, err
	}
	res, err := r.execute(ctx)
	if err != nil {
		return nil, err
	}
	res.Report.Print(o.Out, o.Markdown)
	if !res.Report.OK() {
		return res, ErrFailed
	}
	return res, nil
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	o := r.o
	var err error
	if r.rs, err = startRedis(ctx, r.dir); err != nil {
		return nil, err
	}
	defer func() { r.rs.p.stop(10 * time.Second) }()
	if r.fr, err = startFront(o.Hold, o.BatchHold); err != nil {
		return nil, err
	}
	defer r.fr.close()
	redisURL := "redis://" + r.rs.addr + "/0"
	env := environ(redisURL, r.fr.root, o)
	cfg, err := config.Load("", env)
	if err != nil {
		return nil, err
	}
	if r.conn, err = app.Connect(cfg); err != nil {
		return nil, err
	}
	defer r.conn.Close()
	r.client = tasks.NewClient(r.conn.Asynq, r.conn.Redis, app.Rules(cfg), app.LedgerOptions(cfg))
	defer r.client.Close()
	r.ins = asynq.NewInspector(r.conn.Asynq)
	defer r.ins.Close()
	r.store = campaign.NewStore(r.conn.Redis, campaign.StoreOptions{})
	r.logf("redis-server %s at %s (AOF on, appendfsync always); sandbox at %s", r.rs.version(ctx), r.rs.addr, r.fr.root)

	// Every process gets the driver's environment minus any SMSQ_ setting
	// of the caller's, plus the run's own.
	procEnv := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SMSQ_") {
			procEnv = append(procEnv, kv)
		}
	}
	r.fl = &fleet{dir: r.dir, binDir: filepath.Join(r.dir, "bin"), env: append(procEnv, env...), ins: r.ins, redisDown: &r.redisDown}
	defer r.fl.stopAll(10 * time.Second)
	for i := 0; i < o.Workers; i++ {
		if _, err := r.fl.startWorker(ctx, i); err != nil {
			return nil, err
		}
	}
	if err := r.fl.startScheduler(ctx); err != nil {
		return nil, err
	}
	r.logf("%d worker processes and 1 scheduler process up", o.Workers)

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
	r.watch = newUnknownWatch(r.rs.addr, r.statesKey)
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
	rep, err := r.store.Create(ctx, campaign.Definition{
		ID: id, Name: "chaos", Provider: "conectaline", Message: "Hola {{name}}, esto es una prueba",
		Pacing: pacing.Spec{StartDate: time.Now().UTC().Format("2006-01-02 15:04"), TimeZone: "UTC"},
	}, strings.NewReader(csv.String()), campaign.CreateOptions{
		ImportOptions: campaign.ImportOptions{MaxSegments: cfg.Send.MaxSegments, Suppress: suppress.New(r.conn.Redis, "")},
		Providers:     cfg.Providers.Names(),
		BlockSize:     app.CampaignBlockSize(cfg, r.conn, "conectaline"),
	})
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
	r.logf("campaign %s: %d recipients in %d blocks (%s)", rep.ID, rep.Sendable, rep.Blocks, time.Since(t).Round(time.Millisecond))

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
	r.fl.stopAll(10 * time.Second)
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
		if err := sleep(ctx, time.Until(due)); err != nil {
			return err
		}
		for {
			_, err := r.client.Send(ctx, req)
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
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
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
		if err := sleep(ctx, time.Until(r.t0.Add(s.At))); err != nil {
			return err
		}
		r.fr.storm(s.Faults())
		r.event("%s storm on for %s: %s", s.Kind, s.For, s.describe())
		if err := sleep(ctx, s.For); err != nil {
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
		if err := sleep(ctx, time.Until(r.t0.Add(d.At))); err != nil {
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
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			if _, err := r.fl.startWorker(ctx, d.Slot); err != nil {
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
	pc := r.rs.client()
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
	if err := sleep(ctx, 300*time.Millisecond); err != nil {
		close(stop)
		probeDone.Wait()
		return err
	}
	r.redisDown.Store(true)
	t := time.Now()
	r.rs.p.kill()
	close(stop)
	probeDone.Wait()
	r.event("SIGKILL redis-server; starting it again in %s", r.o.RedisDown)
	if err := sleep(ctx, r.o.RedisDown); err != nil {
		r.redisDown.Store(false)
		return err
	}
	err := r.rs.launch(ctx)
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
			rec, err := r.client.Ledger().Get(gctx, req.ID)
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
			if c, err := r.store.Get(ctx, r.campaignID); err == nil && c.State == campaign.Done &&
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
				rec, err := r.client.Ledger().Get(gctx, id)
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
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// settled: the message reached the provider as far as smsq knows, or
// smsq gave it up.
func settled(s ledger.State) bool { return s == ledger.Submitted || s.Final() }
