package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

// env is one scenario's world: a private Redis, the sandbox hub served on
// loopback in this process, worker processes, and the producer and
// observer clients.
type env struct {
	r       *Runner
	dir     string
	redis   *redisServer
	hub     *hub.Hub
	hubSrv  *http.Server
	rdb     *redis.Client
	conn    asynq.RedisClientOpt
	client  *tasks.Client
	ledger  *ledger.Ledger
	ins     *asynq.Inspector
	guard   *throttle.Guard
	environ []string
	workers []*workerProc
	// pprofAddr is where the first worker serves Go's profiler, when
	// Options.Profile asks for profiles.
	pprofAddr string
}

// newEnv starts Redis and the sandbox. extra are SMSQ_* settings added to
// the base configuration (keccel and sakari enabled against the sandbox).
func (r *Runner) newEnv(ctx context.Context, name string, ho hub.Options, extra ...string) (*env, error) {
	dir, err := os.MkdirTemp(r.dir, name+"-")
	if err != nil {
		return nil, err
	}
	e := &env{r: r, dir: dir}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if e.redis, err = startRedis(ctx, dir); err != nil {
		return nil, err
	}
	e.hub = hub.New(ho)
	// Keep every accepted message (with its time) but only the first
	// requests: long runs would otherwise hold every request body.
	for _, name := range e.hub.Names() {
		e.hub.Fake(name).Recorder().MaxRequests = 1000
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.hubSrv = &http.Server{Handler: e.hub, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.hubSrv.Serve(ln) }()
	root := "http://" + ln.Addr().String()

	settings := append(baseEnviron("redis://"+e.redis.Addr+"/0", root), extra...)
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
	if e.guard, err = app.Guard(cfg, e.rdb, zerolog.Nop()); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// baseEnviron configures keccel and sakari against the sandbox hub served
// at root, by base URL and credentials, as a user would.
func baseEnviron(redisURL, root string) []string {
	return []string{
		"SMSQ_REDIS__URL=" + redisURL,
		"SMSQ_WORKER__HTTP_ADDR=-",
		"SMSQ_WORKER__SHUTDOWN_TIMEOUT=3s",
		"SMSQ_LOG__LEVEL=warn",
		"SMSQ_LOG__FORMAT=json",
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + hub.BaseURL(root, "keccel"),
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		"SMSQ_PROVIDERS__SAKARI__ENABLED=true",
		"SMSQ_PROVIDERS__SAKARI__BASE_URL=" + hub.BaseURL(root, "sakari"),
		"SMSQ_PROVIDERS__SAKARI__CLIENT_ID=" + sbsakari.DefaultClientID,
		"SMSQ_PROVIDERS__SAKARI__CLIENT_SECRET=" + sbsakari.DefaultClientSecret,
		"SMSQ_PROVIDERS__SAKARI__ACCOUNT_ID=" + sbsakari.DefaultAccountID,
	}
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
	e.stopWorkers()
	if e.hubSrv != nil {
		_ = e.hubSrv.Close()
	}
	if e.hub != nil {
		e.hub.Close()
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
		e.redis.Close()
	}
	if !e.r.opts.KeepLogs {
		_ = os.RemoveAll(e.dir)
	}
}

// workerProc is one cmd/worker process.
type workerProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startWorkers starts n worker processes and waits until asynq lists them
// all as running servers.
func (e *env) startWorkers(ctx context.Context, n int) error {
	bin, err := e.r.workerBinary(ctx)
	if err != nil {
		return err
	}
	env := withoutSMSQ(os.Environ())
	env = append(env, e.environ...)
	for i := 0; i < n; i++ {
		logPath := filepath.Join(e.dir, fmt.Sprintf("worker-%d.log", len(e.workers)))
		f, err := os.Create(logPath)
		if err != nil {
			return err
		}
		cmd := exec.Command(bin)
		cmd.Env = env
		if len(e.workers) == 0 && e.r.opts.Profile != "" {
			addr, err := freeAddr()
			if err != nil {
				f.Close()
				return err
			}
			e.pprofAddr = addr
			cmd.Env = append(slices.Clone(env), "SMSQ_WORKER__HTTP_ADDR="+addr, "SMSQ_WORKER__PPROF=true")
		}
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			return fmt.Errorf("start worker: %w", err)
		}
		w := &workerProc{cmd: cmd, log: logPath, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); f.Close(); close(w.done) }()
		e.workers = append(e.workers, w)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		srvs, err := e.ins.Servers()
		if err == nil && len(srvs) >= len(e.workers) {
			return nil
		}
		for _, w := range e.workers {
			select {
			case <-w.done:
				return fmt.Errorf("worker exited at start: %s", tailFile(w.log, 2000))
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workers not up after 30s (have %d of %d)", len(srvs), len(e.workers))
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// stopWorkers asks every worker to stop (SIGTERM), as an operator would,
// and kills those still running after 15s.
func (e *env) stopWorkers() {
	for _, w := range e.workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range e.workers {
		select {
		case <-w.done:
		case <-time.After(15 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
	e.workers = nil
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

func withoutSMSQ(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "SMSQ_") {
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
	deadline := time.Now().Add(timeout)
	for rec.AcceptedCount() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s accepted %d of %d messages within %s", provider, rec.AcceptedCount(), n, timeout)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
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
	for _, w := range e.workersLogs() {
		f, err := os.Open(w)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Message, Worker, From, To, Time string
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Message != "circuit breaker state change" {
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, l.Time)
			out = append(out, breakerEvent{Worker: l.Worker, From: l.From, To: l.To, At: at})
		}
		f.Close()
	}
	// Log times have whole seconds: keep each file's order among equals.
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (e *env) workersLogs() []string {
	m, _ := filepath.Glob(filepath.Join(e.dir, "worker-*.log"))
	return m
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
	_ = os.WriteFile(filepath.Join(e.dir, name), []byte(b.String()), 0o644)
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
