// Command bench runs smsq's whole-system bench scenarios (see package
// bench): go run ./cmd/bench [flags] <scenario>... | all
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/smsq/smsq/bench"
)

func main() {
	var o bench.Options
	flag.BoolVar(&o.Quick, "quick", false, "short windows and backlogs (smoke run; not the figures of record)")
	flag.IntVar(&o.Workers, "workers", 0, "worker processes per scenario (default 3)")
	flag.IntVar(&o.Concurrency, "concurrency", 0, "worker.concurrency of each worker process (default: the config default, 20)")
	flag.DurationVar(&o.Window, "window", 0, "rate: steady measuring window (default 60s, quick 10s)")
	flag.DurationVar(&o.Outage, "outage", 0, "breaker: how long the provider fails (default 30s, quick 10s)")
	flag.IntVar(&o.Backlog, "backlog", 0, "starvation: messages queued for the 1/s provider (default 10000, quick 2000)")
	flag.IntVar(&o.Fast, "fast", 0, "starvation: messages per round for the unlimited provider (default 3000, quick 1000)")
	flag.IntVar(&o.Rounds, "rounds", 0, "starvation: baseline/backlog round pairs (default 11, quick 1)")
	flag.StringVar(&o.Root, "root", "", "module root to build cmd/worker in (default: from go env GOMOD)")
	flag.BoolVar(&o.KeepLogs, "keep", false, "keep worker and Redis logs")
	flag.StringVar(&o.LogLevel, "log-level", "", "workers' log level (default warn; with -keep, to study a run)")
	flag.BoolVar(&o.Markdown, "md", false, "print tables as Markdown")
	flag.StringVar(&o.Profile, "profile", "", "throughput: save a CPU profile of the first worker in this directory (go tool pprof <file>)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: bench [flags] <scenario>... | all\n\nscenarios:\n")
		for _, s := range bench.Scenarios() {
			fmt.Fprintf(flag.CommandLine.Output(), "  %-11s %s\n", s.Name, s.Doc)
		}
		fmt.Fprintln(flag.CommandLine.Output(), "\nflags:")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := bench.Run(ctx, o, flag.Args())
	switch {
	case err == nil:
	case errors.Is(err, bench.ErrTargetMissed):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, err)
		if strings.Contains(err.Error(), "name a scenario") {
			flag.Usage()
		}
		os.Exit(2)
	}
}
