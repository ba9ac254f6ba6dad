// Command bench runs smsq's whole-system bench scenarios (see package
// bench): go run ./cmd/bench [flags] <scenario>... | all
//
// It exits 0 when every target is met, 1 when one is missed, 2 when a
// scenario could not be run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/smsq/smsq/bench"
	"github.com/smsq/smsq/internal/harness"
)

func main() { harness.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, fs, err := parse(args, stderr)
	if err != nil {
		return harness.FlagExit(err)
	}
	o.Out = stdout
	err = bench.Run(ctx, o, fs.Args())
	code := harness.Exit(stderr, "bench", err, bench.ErrTargetMissed)
	if errors.Is(err, bench.ErrNoScenario) {
		fs.Usage()
	}
	return code
}

// parse reads the flags; what follows them names the scenarios.
func parse(args []string, stderr io.Writer) (bench.Options, *flag.FlagSet, error) {
	var o bench.Options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Quick, "quick", false, "short windows and backlogs (smoke run; not the figures of record)")
	fs.IntVar(&o.Workers, "workers", 0, "worker processes per scenario (default 3)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "worker.concurrency of each worker process (default: the config default, 20)")
	fs.DurationVar(&o.Window, "window", 0, "rate: steady measuring window (default 60s, quick 10s)")
	fs.DurationVar(&o.Outage, "outage", 0, "breaker: how long the provider fails (default 30s, quick 10s)")
	fs.IntVar(&o.Backlog, "backlog", 0, "starvation: messages queued for the 1/s provider (default 10000, quick 2000)")
	fs.IntVar(&o.Fast, "fast", 0, "starvation: messages per round for the unlimited provider (default 3000, quick 1000)")
	fs.IntVar(&o.Rounds, "rounds", 0, "starvation: baseline/backlog round pairs (default 11, quick 1)")
	fs.StringVar(&o.Root, "root", "", "module root to build cmd/worker in (default: from go env GOMOD)")
	fs.BoolVar(&o.KeepLogs, "keep", false, "keep worker and Redis logs")
	fs.StringVar(&o.LogLevel, "log-level", "", "workers' log level (default warn; with -keep, to study a run)")
	fs.BoolVar(&o.Markdown, "md", false, "print tables as Markdown")
	fs.StringVar(&o.Profile, "profile", "", "throughput: save a CPU profile of the first worker in this directory (go tool pprof <file>)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: bench [flags] <scenario>... | all\n\nscenarios:\n")
		for _, s := range bench.Scenarios() {
			fmt.Fprintf(fs.Output(), "  %-11s %s\n", s.Name, s.Doc)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	return o, fs, err
}
