package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// env is one scenario's world: its own directory, a private Redis, the
// sandbox hub served on loopback in this process, worker (and scheduler)
// processes, and the producer and observer clients.
type env struct {
	r     *Runner
	ws    *harness.Workspace
	redis *harness.Redis
	sb    *harness.Sandbox
	hub   *hub.Hub // sb.Hub
	fleet *harness.Fleet
	// rdb is the bench's own connection: a pool of 32, for the producers'
	// goroutines (up to 64 in the latency scenario).
	rdb    *redis.Client
	conn   asynq.RedisClientOpt
	client *tasks.Client
	ledger *ledger.Ledger
	ins    *asynq.Inspector
	guard  *throttle.Guard
	// environ is the SMSQ_* settings of every process, one entry a key; a
	// scenario may add to it before it starts processes.
	environ []string
	// pprofAddr is where the first worker serves Go's profiler, when
	// Options.Profile asks for profiles.
	pprofAddr string
}

// newEnv starts Redis and the sandbox. extra are SMSQ_* settings added to
// the base configuration (keccel and sakari enabled against the sandbox).
func (r *Runner) newEnv(ctx context.Context, name string, ho hub.Options, extra ...string) (*env, error) {
	ws, err := r.ws.Sub(name)
	if err != nil {
		return nil, err
	}
	e := &env{r: r, ws: ws}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if e.redis, err = harness.StartRedis(ctx, ws.Dir, harness.RedisOptions{}); err != nil {
		return nil, err
	}
	e.sb = harness.NewSandbox(ho)
	e.hub = e.sb.Hub
	// Keep every accepted message (with its time) but only the first
	// requests: long runs would otherwise hold every request body.
	for _, name := range e.hub.Names() {
		e.hub.Fake(name).Recorder().MaxRequests = 1000
	}
	if err := e.sb.Serve(nil); err != nil {
		return nil, err
	}

	settings := append(harness.BaseEnv(3*time.Second), "SMSQ_REDIS__URL=redis://"+e.redis.Addr+"/0", "SMSQ_LOG__LEVEL=warn")
	settings = append(settings, harness.ProviderEnv(e.sb.Root, "keccel", 0)...)
	settings = append(settings, harness.ProviderEnv(e.sb.Root, "sakari", 0)...)
	settings = append(settings, extra...)
	if r.opts.Concurrency > 0 {
		settings = append(settings, fmt.Sprintf("SMSQ_WORKER__CONCURRENCY=%d", r.opts.Concurrency))
	}
	if r.opts.LogLevel != "" {
		settings = append(settings, "SMSQ_LOG__LEVEL="+r.opts.LogLevel)
	}
	e.environ = lastWins(settings)
	cfg, err := config.Load("", e.environ)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	e.conn = asynq.RedisClientOpt{Addr: e.redis.Addr}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, PoolSize: 32})
	e.client = tasks.NewClient(e.conn, e.rdb, app.Rules(cfg), app.LedgerOptions(cfg))
	e.ledger = e.client.Ledger()
	e.ins = asynq.NewInspector(e.conn)
	e.fleet = harness.NewFleet(ws, e.ins, e.procEnv)
	if e.guard, err = app.Guard(cfg, e.rdb, zerolog.Nop()); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// sendingEnv is the usual start of a scenario that sends through the
// workers: newEnv with hubOptions, Options.Workers worker processes up,
// and delivery polls paused (see pauseDeliveryPolls).
func (r *Runner) sendingEnv(ctx context.Context, name string, extra ...string) (*env, error) {
	e, err := r.newEnv(ctx, name, hubOptions(), extra...)
	if err != nil {
		return nil, err
	}
	if err = e.startWorkers(ctx, r.opts.Workers); err == nil {
		err = e.pauseDeliveryPolls()
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// procEnv is the settings of the fleet's process label: the scenario's,
// plus Go's profiler on worker 0 when Options.Profile asks for profiles,
// and a scheduler never quieter than info (its start line is how the
// fleet sees it up).
func (e *env) procEnv(label string) []string {
	env := slices.Clone(e.environ) // appended to by parallel starts
	switch {
	case label == harness.WorkerLabel(0, 0) && e.pprofAddr != "":
		env = append(env, "SMSQ_WORKER__HTTP_ADDR="+e.pprofAddr, "SMSQ_WORKER__PPROF=true")
	case strings.HasPrefix(label, "s"):
		switch level(env) {
		case "debug", "trace":
		default:
			env = append(env, "SMSQ_LOG__LEVEL=info")
		}
	}
	return lastWins(env)
}

// conectalineEnv enables Conectaline against the sandbox served at root,
// signing in with its API token (no login call), throttle unlimited.
func conectalineEnv(root string) []string {
	return []string{
		"SMSQ_PROVIDERS__CONECTALINE__ENABLED=true",
		"SMSQ_PROVIDERS__CONECTALINE__BASE_URL=" + hub.BaseURL(root, "conectaline"),
		"SMSQ_PROVIDERS__CONECTALINE__API_TOKEN=" + sbconectaline.DefaultAPIToken,
		"SMSQ_PROVIDERS__CONECTALINE__CONFIGURATION_NAME=" + sbconectaline.DefaultConfigurationName,
	}
}

// level is the log level environ sets.
func level(environ []string) string {
	lv := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "SMSQ_LOG__LEVEL="); ok {
			lv = v
		}
	}
	return lv
}

// hubOptions are sandbox settings for long runs: credit for every message,
// final delivery states at once (no background timers), every accepted
// message kept with its time.
func hubOptions() hub.Options {
	o := hub.Options{KeepMessages: true}
	o.Keccel.Balance = 10_000_000
	o.Sakari.Balance = 10_000_000
	o.Sakari.DeliverAfter = -1
	return o
}

func (e *env) close() {
	if e.fleet != nil {
		// SIGTERM, as an operator would; a kill for those still running
		// after 15s.
		e.fleet.StopAll(15 * time.Second)
	}
	if e.sb != nil {
		e.sb.Close()
	}
	if e.client != nil {
		_ = e.client.Close()
	}
	if e.ins != nil {
		_ = e.ins.Close()
	}
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	if e.redis != nil {
		e.redis.Kill()
	}
	e.ws.Close()
}

// startWorkers starts n worker processes at once and waits until asynq
// lists each of them as a running server.
func (e *env) startWorkers(ctx context.Context, n int) error {
	if err := e.r.build(ctx, "worker"); err != nil {
		return err
	}
	first := e.fleet.Slots()
	if first == 0 && e.r.opts.Profile != "" {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		e.pprofAddr = addr
	}
	g, gctx := errgroup.WithContext(ctx)
	for slot := first; slot < first+n; slot++ {
		g.Go(func() error {
			_, err := e.fleet.StartWorker(gctx, slot)
			return err
		})
	}
	return g.Wait()
}

// workerProcs is every worker process started, by slot.
func (e *env) workerProcs() []*harness.Proc {
	var out []*harness.Proc
	for slot := range e.fleet.Slots() {
		if p, _ := e.fleet.Worker(slot); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// lastWins drops every KEY=value that a later entry overrides (programs
// differ in which duplicate they read).
func lastWins(environ []string) []string {
	last := map[string]int{}
	for i, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := make([]string, 0, len(last))
	for i, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// pauseDeliveryPolls stops the delivery queue for the whole scenario.
// Each submitted message schedules a delivery:poll 30s later; polls share
// the provider's rate on the bulk lane and would land in later
// measurements at random. The scenarios measure sends; polls wait.
func (e *env) pauseDeliveryPolls() error {
	return e.ins.PauseQueue(tasks.QueueDelivery)
}

// dropPolls deletes the delivery polls scheduled so far (see
// pauseDeliveryPolls), so that asynq does not spend a later measurement
// moving them to their paused queue.
func (e *env) dropPolls() error {
	if _, err := e.ins.DeleteAllScheduledTasks(tasks.QueueDelivery); err != nil {
		return err
	}
	_, err := e.ins.DeleteAllPendingTasks(tasks.QueueDelivery)
	return err
}

// send enqueues the requests through the producer API with a few
// goroutines, as a busy backend would.
func (e *env) send(ctx context.Context, reqs []tasks.SendRequest) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, r := range reqs {
		g.Go(func() error {
			// Duplicate is not checked: ids are fresh, and a worker that
			// takes the task before the producer's ledger write records it
			// first, which the producer then reports as a duplicate.
			if _, err := e.client.Send(ctx, r); err != nil {
				return fmt.Errorf("enqueue %s: %w", r.ID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// messages builds n send requests for provider with ids prefix-0…, each to
// its own destination.
func messages(provider, prefix string, n int) []tasks.SendRequest {
	out := make([]tasks.SendRequest, n)
	for i := range out {
		var to string
		switch provider {
		case "sakari":
			// US numbers, 415 area; the last four digits plus exchange vary.
			to = fmt.Sprintf("+1415%03d%04d", 200+i/10000, i%10000)
		default:
			// DRC (Vodacom 81x) numbers, as the Keccel fact sheet uses.
			to = fmt.Sprintf("+24381%07d", i)
		}
		out[i] = tasks.SendRequest{ID: fmt.Sprintf("%s-%d", prefix, i), Provider: provider, To: to, Text: "bench " + prefix}
	}
	return out
}

func ids(reqs []tasks.SendRequest) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.ID
	}
	return out
}

// waitAccepted waits until the named fake has accepted at least n
// messages, or timeout passes. It polls the in-process recorder only, so
// it adds nothing to Redis's command count.
func (e *env) waitAccepted(ctx context.Context, provider string, n int, timeout time.Duration) error {
	rec := e.hub.Fake(provider).Recorder()
	err := harness.WaitFor(ctx, timeout, 20*time.Millisecond, provider, func() bool { return rec.AcceptedCount() >= n })
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s accepted %d of %d messages within %s", provider, rec.AcceptedCount(), n, timeout)
	}
	return err
}

// ledgerSummary reads the ledger records of ids.
type ledgerSummary struct {
	States        map[ledger.State]int
	MaxAttempts   int
	TotalAttempts int
	Attempts      map[int]int // attempts → messages
	Missing       int
	FailedReasons []string // up to 5
}

func (e *env) summarize(ctx context.Context, ids []string) (ledgerSummary, error) {
	s := ledgerSummary{States: map[ledger.State]int{}, Attempts: map[int]int{}}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			rec, err := e.ledger.Get(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ledger.ErrNotFound) {
				s.Missing++
				return nil
			}
			if err != nil {
				return err
			}
			s.States[rec.State]++
			s.Attempts[rec.Attempts]++
			s.TotalAttempts += rec.Attempts
			s.MaxAttempts = max(s.MaxAttempts, rec.Attempts)
			if rec.State == ledger.Failed && len(s.FailedReasons) < 5 {
				s.FailedReasons = append(s.FailedReasons, rec.LastError)
			}
			return nil
		})
	}
	return s, g.Wait()
}

func (s ledgerSummary) String() string {
	states := make([]string, 0, len(s.States))
	for st, n := range s.States {
		states = append(states, fmt.Sprintf("%s %d", st, n))
	}
	sort.Strings(states)
	if s.Missing > 0 {
		states = append(states, fmt.Sprintf("missing %d", s.Missing))
	}
	return strings.Join(states, ", ")
}

func (s ledgerSummary) attemptsString() string {
	keys := make([]int, 0, len(s.Attempts))
	for k := range s.Attempts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%d", s.Attempts[k], k)
	}
	return strings.Join(parts, " ")
}

// failedTotal is asynq's count of failed task runs in q (runs that charged
// a retry); snoozes are not in it.
func (e *env) failedTotal(q string) int {
	qi, err := e.ins.GetQueueInfo(q)
	if err != nil {
		return 0
	}
	return qi.FailedTotal
}

// breakerEvent is one "circuit breaker state change" log line.
type breakerEvent struct {
	Worker, From, To string
	At               time.Time
}

// breakerEvents reads the transitions the workers logged.
func (e *env) breakerEvents() []breakerEvent {
	var out []breakerEvent
	for _, p := range e.workerProcs() {
		p.LogLines(func(line []byte) {
			var l struct {
				Message, Worker, From, To, Time string
			}
			if json.Unmarshal(line, &l) != nil || l.Message != "circuit breaker state change" {
				return
			}
			at, _ := time.Parse(time.RFC3339Nano, l.Time)
			out = append(out, breakerEvent{Worker: l.Worker, From: l.From, To: l.To, At: at})
		})
	}
	// Log times have whole seconds: keep each file's order among equals.
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// sent counts the messages the provider accepted: submitted, or already
// delivered by a report.
func (s ledgerSummary) sent() int {
	return s.States[ledger.Submitted] + s.States[ledger.Delivered]
}

// dumpTimes writes times (µs since the first) to a file in the scenario's
// directory, for study after a -keep run.
func (e *env) dumpTimes(name string, ts []time.Time) {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%d\n", t.Sub(ts[0]).Microseconds())
	}
	_ = os.WriteFile(filepath.Join(e.ws.Dir, name), []byte(b.String()), 0o644)
}

type activeStats struct {
	mean float64
	max  int
}

// sampleActive samples how many tasks of queue q are running (one LLEN
// of asynq's active list every 100ms) until ctx ends.
func (e *env) sampleActive(ctx context.Context, q string) activeStats {
	key := "asynq:{" + q + "}:active"
	var sum, n int64
	var res activeStats
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if n > 0 {
				res.mean = float64(sum) / float64(n)
			}
			return res
		case <-t.C:
			v, err := e.rdb.LLen(context.WithoutCancel(ctx), key).Result()
			if err != nil {
				continue
			}
			sum += v
			n++
			res.max = max(res.max, int(v))
		}
	}
}

// freeAddr is a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profileWorker saves a CPU profile of the first worker over d as
// <Options.Profile>/<name>.pprof. It does nothing without Options.Profile.
func (e *env) profileWorker(ctx context.Context, d time.Duration, name string) (string, error) {
	if e.pprofAddr == "" {
		return "", nil
	}
	if err := os.MkdirAll(e.r.opts.Profile, 0o755); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", e.pprofAddr, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("profile: %s", resp.Status)
	}
	path := filepath.Join(e.r.opts.Profile, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
