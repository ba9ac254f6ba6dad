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
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Options tune a bench run. Zero fields take the defaults named.
type Options struct {
	// Quick shortens every scenario (windows of 10s, smaller backlogs) for
	// a smoke run; the figures of record come from full runs.
	Quick bool
	// Workers is how many worker processes each scenario starts. Default 3.
	Workers int
	// Concurrency is worker.concurrency of each worker process. Default
	// 0: the configuration's default (20).
	Concurrency int
	// Window is the rate scenario's steady measuring window. Default 60s
	// (10s quick).
	Window time.Duration
	// Outage is how long the breaker scenario's provider fails. Default
	// 30s (10s quick).
	Outage time.Duration
	// Backlog is the starvation scenario's queue for the 1/s provider.
	// Default 10,000 (2,000 quick).
	Backlog int
	// Fast is how many messages the starvation scenario sends through the
	// unlimited provider per round. Default 3,000 (1,000 quick).
	Fast int
	// Rounds is how many baseline/backlog pairs the starvation scenario
	// runs; the median of the pairs' ratios is judged. Default 11 (1
	// quick).
	Rounds int
	// Root is the module root, where cmd/worker is built. Default: found
	// with `go env GOMOD`.
	Root string
	// KeepLogs keeps each scenario's directory (worker and Redis logs).
	KeepLogs bool
	// LogLevel is the workers' log level. Default "warn" (the breaker
	// scenario raises it to "info" to see breaker closings).
	LogLevel string
	// Markdown prints tables as Markdown.
	Markdown bool
	// Profile is a directory for CPU profiles: the throughput scenario
	// serves Go's profiler on its first worker and saves a profile of it
	// while the messages go out. Default "": no profiles.
	Profile string
	// Out receives the tables and progress lines. Default os.Stdout.
	Out io.Writer
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
	if o.Out == nil {
		o.Out = os.Stdout
	}
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
	run func(ctx context.Context, r *Runner) (*Report, error)
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

// ErrTargetMissed is returned by Run when a figure misses its target.
var ErrTargetMissed = errors.New("bench: a target was missed")

// Runner runs scenarios; it builds the worker binary once.
type Runner struct {
	opts Options
	dir  string

	buildOnce sync.Once
	bin       string
	buildErr  error
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
		return fmt.Errorf("bench: name a scenario (%s, all)", strings.Join(scenarioNames(), ", "))
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("bench: %w", ErrNoRedis)
	}
	dir, err := os.MkdirTemp("", "smsq-bench-")
	if err != nil {
		return err
	}
	r := &Runner{opts: o, dir: dir}
	defer func() {
		if o.KeepLogs {
			fmt.Fprintf(o.Out, "logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	fmt.Fprintf(o.Out, "machine: %d cores (GOMAXPROCS %d), %s, %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	missed := false
	for _, s := range todo {
		fmt.Fprintf(o.Out, "\n== %s: %s\n", s.Name, s.Doc)
		start := time.Now()
		rep, err := s.run(ctx, r)
		if err != nil {
			return fmt.Errorf("bench %s: %w", s.Name, err)
		}
		rep.Elapsed = time.Since(start)
		rep.Print(o.Out, o.Markdown)
		missed = missed || !rep.OK()
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

// workerBinary builds cmd/worker once per run.
func (r *Runner) workerBinary(ctx context.Context) (string, error) {
	r.buildOnce.Do(func() {
		root := r.opts.Root
		if root == "" {
			out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
			if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
				r.buildErr = fmt.Errorf("cannot find the smsq module root: run from inside the repository or pass -root")
				return
			}
			root = filepath.Dir(strings.TrimSpace(string(out)))
		}
		r.bin = filepath.Join(r.dir, "worker")
		if runtime.GOOS == "windows" {
			r.bin += ".exe"
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", r.bin, "./cmd/worker")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			r.buildErr = fmt.Errorf("go build ./cmd/worker: %v: %s", err, out)
		}
	})
	return r.bin, r.buildErr
}

// concurrency is each worker's task concurrency, for the reports.
func (r *Runner) concurrency() int {
	if r.opts.Concurrency > 0 {
		return r.opts.Concurrency
	}
	return 20 // worker.concurrency's default
}
