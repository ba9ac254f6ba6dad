// Command chaos runs smsq's chaos run (package chaos): a campaign and
// single sends while workers are SIGKILLed, Redis is restarted and the
// provider sandbox storms, then counts per recipient what the provider
// received against what smsq recorded, and prints the figures.
//
//	go run ./cmd/chaos [-recipients 50000] [-singles 2000] [-kills 5] [-seed N] [-quick]
//
// It exits 0 when every check passed, 1 when one failed, 2 when the run
// could not be made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/smsq/smsq/chaos"
	"github.com/smsq/smsq/internal/harness"
)

func main() { harness.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		return harness.FlagExit(err)
	}
	o.Out = stdout
	_, err = chaos.Run(ctx, o)
	return harness.Exit(stderr, "chaos", err, chaos.ErrFailed)
}

// parse reads the flags. A count left unset takes its full or quick
// default; a count set to 0 means none.
func parse(args []string, stderr io.Writer) (chaos.Options, error) {
	var o chaos.Options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Quick, "quick", false, "a small run (3,000 recipients, 200 singles, 2 kills, 1 Redis restart): a smoke test, not the figures of record")
	fs.IntVar(&o.Recipients, "recipients", 50_000, "campaign recipients (quick: 3000)")
	fs.IntVar(&o.Singles, "singles", 2_000, "single sends, alternately Keccel and Sakari (quick: 200)")
	fs.IntVar(&o.Kills, "kills", 5, "SIGKILLs of a random worker (quick: 2)")
	fs.IntVar(&o.RedisRestarts, "redis-restarts", 1, "SIGKILL and restart of redis-server")
	fs.IntVar(&o.Storms, "storms", 2, "429 storms, and as many 5xx storms (quick: 1)")
	fs.IntVar(&o.Workers, "workers", 3, "worker processes")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed for the disruption times and targets (default: from the clock; the report prints it)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "how long to wait for every message to settle (default 15m, quick 110s)")
	harness.RunFlags(fs, &o.RunOptions)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chaos: unexpected argument %q\n", fs.Arg(0))
		return o, errors.New("arguments")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Unset counts go to the library as 0 (its default for the mode);
	// an explicit 0 means none, which the library spells negative.
	for name, v := range map[string]*int{"recipients": &o.Recipients, "singles": &o.Singles, "kills": &o.Kills,
		"redis-restarts": &o.RedisRestarts, "storms": &o.Storms, "workers": &o.Workers} {
		switch {
		case !set[name]:
			*v = 0
		case *v == 0:
			*v = -1
		}
	}
	return o, nil
}
