// Package bench holds smsq's bench scenarios: whole-system measurements
// with a private redis-server, the provider sandbox served in this
// process, and real worker processes built from cmd/worker. Each scenario
// prints a table of figures with their targets; a missed target makes the
// run fail. cmd/bench is the command-line front.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/smsq/smsq/internal/harness"
)

// Options tune a bench run. Zero fields take the defaults named.
type Options struct {
	// RunOptions: Quick shortens every scenario (windows of 10s, smaller
	// backlogs) for a smoke run, the figures of record coming from full
	// runs; Root, Dir, KeepLogs (each scenario's worker and Redis logs),
	// Markdown and Out as documented there.
	harness.RunOptions `koanf:",squash"`
	// Workers is how many worker processes each scenario starts. Default 3.
	Workers int `koanf:"workers"`
	// Concurrency is worker.concurrency of each worker process. Default
	// 0: the configuration's default (20).
	Concurrency int `koanf:"concurrency"`
	// Window is the rate scenario's steady measuring window. Default 60s
	// (10s quick).
	Window time.Duration `koanf:"window"`
	// Outage is how long the breaker scenario's provider fails. Default
	// 30s (10s quick).
	Outage time.Duration `koanf:"outage"`
	// Backlog is the starvation scenario's queue for the 1/s provider.
	// Default 10,000 (2,000 quick).
	Backlog int `koanf:"backlog"`
	// Fast is how many messages the starvation scenario sends through the
	// unlimited provider per round. Default 3,000 (1,000 quick).
	Fast int `koanf:"fast"`
	// Rounds is how many baseline/backlog pairs the starvation scenario
	// runs; the median of the pairs' ratios is judged. Default 11 (1
	// quick).
	Rounds int `koanf:"rounds"`
	// LogLevel is the workers' log level. Default "warn" (the breaker
	// scenario raises it to "info" to see breaker closings).
	LogLevel string `koanf:"log_level"`
	// Profile is a directory for CPU profiles: the throughput scenario
	// serves Go's profiler on its first worker and saves a profile of it
	// while the messages go out. Default "": no profiles.
	Profile string `koanf:"profile"`
}

func (o Options) withDefaults() Options {
	pick := func(full, quick time.Duration) time.Duration {
		if o.Quick {
			return quick
		}
		return full
	}
	pickN := func(full, quick int) int {
		if o.Quick {
			return quick
		}
		return full
	}
	if o.Workers == 0 {
		o.Workers = 3
	}
	if o.Window == 0 {
		o.Window = pick(60*time.Second, 10*time.Second)
	}
	if o.Outage == 0 {
		o.Outage = pick(30*time.Second, 10*time.Second)
	}
	if o.Backlog == 0 {
		o.Backlog = pickN(10_000, 2_000)
	}
	if o.Fast == 0 {
		o.Fast = pickN(3_000, 1_000)
	}
	if o.Rounds == 0 {
		o.Rounds = pickN(11, 1)
	}
	o.Out = o.Output()
	return o
}

// Validate names the first bad option.
func (o Options) Validate() error {
	switch {
	case o.Workers < 0 || o.Workers > 64:
		return errors.New("workers: want 1..64")
	case o.Concurrency < 0:
		return errors.New("concurrency: must not be negative")
	case o.Window < 0:
		return errors.New("window: must not be negative")
	case o.Outage < 0:
		return errors.New("outage: must not be negative")
	case o.Backlog < 0, o.Fast < 0, o.Rounds < 0:
		return errors.New("backlog, fast, rounds: must not be negative")
	}
	return nil
}

// Scenario is one named measurement.
type Scenario struct {
	Name string
	// Doc says in one line what the scenario proves.
	Doc string
	run func(ctx context.Context, r *Runner) (*harness.Report, error)
}

// Scenarios lists every scenario in the order "all" runs them.
func Scenarios() []Scenario {
	return append([]Scenario{
		{"rate", "3 worker processes share one 50/s limit: the sandbox sees 50/s ± 2% over the window", runRate},
		{"cap429", "sandbox caps at 30/s below the configured 50/s: 429s are honoured, nothing fails", runCap429},
		{"starvation", "a 1/s provider with a large backlog does not slow an unlimited one (≥ 95%)", runStarvation},
		{"breaker", "a provider failing 100% for a while: breaker opens, no attempts burnt, all delivered after", runBreaker},
	}, TableScenarios()...)
}

// Errors matched with errors.Is.
var (
	// ErrTargetMissed is returned by Run when a figure misses its target.
	ErrTargetMissed = errors.New("bench: a target was missed")
	// ErrNoScenario is returned by Run when no scenario is named.
	ErrNoScenario = errors.New("bench: name a scenario")
	// ErrNoRedis: no redis-server on PATH.
	ErrNoRedis = harness.ErrNoRedis
)

// Runner runs scenarios in one workspace, where it builds each command
// once.
type Runner struct {
	opts Options
	ws   *harness.Workspace

	mu    sync.Mutex
	built map[string]error // commands built (or tried), and the outcome
}

// Run runs the named scenarios ("all" for every one), printing a table
// for each. It returns ErrTargetMissed (after running them all) when a
// target is missed, or the first error that stopped a scenario.
func Run(ctx context.Context, o Options, names []string) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	o = o.withDefaults()
	var todo []Scenario
	for _, n := range names {
		if n == "all" {
			todo = append(todo, Scenarios()...)
			continue
		}
		s, ok := lookup(n)
		if !ok {
			return fmt.Errorf("bench: unknown scenario %q (have: %s, all)", n, strings.Join(scenarioNames(), ", "))
		}
		todo = append(todo, s)
	}
	if len(todo) == 0 {
		return fmt.Errorf("%w (%s, all)", ErrNoScenario, strings.Join(scenarioNames(), ", "))
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("bench: %w", ErrNoRedis)
	}
	ws, err := harness.NewWorkspace("bench", o.RunOptions)
	if err != nil {
		return err
	}
	defer ws.Close()
	r := &Runner{opts: o, ws: ws, built: map[string]error{}}
	fmt.Fprintf(o.Out, "machine: %d cores (GOMAXPROCS %d), %s, %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	missed := false
	for _, s := range todo {
		fmt.Fprintf(o.Out, "\n== %s: %s\n", s.Name, s.Doc)
		start := time.Now()
		rep, err := s.run(ctx, r)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", s.Name, err)
		}
		rep.Elapsed = time.Since(start)
		rep.Print(o.Out, harness.PrintOptions{Markdown: o.Markdown, Missed: "MISSED"})
		status := "all targets met"
		if !rep.OK() {
			status, missed = "TARGET MISSED", true
		}
		fmt.Fprintf(o.Out, "%s: %s in %s\n", s.Name, status, rep.Elapsed.Round(time.Second))
	}
	if missed {
		return ErrTargetMissed
	}
	return nil
}

func lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func scenarioNames() []string {
	var out []string
	for _, s := range Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.opts.Out, "  "+format+"\n", args...)
}

// build builds the named commands (cmd/<name>) that are not built yet,
// in one go build; a failed build is not tried again.
func (r *Runner) build(ctx context.Context, names ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var todo []string
	for _, n := range names {
		err, done := r.built[n]
		if !done {
			todo = append(todo, n)
		} else if err != nil {
			return err
		}
	}
	err := r.ws.Build(ctx, todo...)
	for _, n := range todo {
		r.built[n] = err
	}
	return err
}

// concurrency is each worker's task concurrency, for the reports.
func (r *Runner) concurrency() int {
	if r.opts.Concurrency > 0 {
		return r.opts.Concurrency
	}
	return 20 // worker.concurrency's default
}
