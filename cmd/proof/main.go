// Command proof runs smsq's operational proofs against real Redis and
// worker processes and prints their figures (see package proof):
//
//	go run ./cmd/proof scaleout [flags]
//	go run ./cmd/proof failover [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/proof"
)

const usage = `usage: proof <scaleout|failover> [flags]

  scaleout  3 worker + 2 scheduler processes on one Redis; a 20,000-recipient
            campaign and single sends while workers are restarted (SIGTERM)
            and one is killed (SIGKILL) mid-call: every recipient exactly once,
            provider rates held
  failover  Redis master + replica + 3 Sentinels; the master is killed with
            SIGKILL under load: smsq reconnects and finishes; what was
            refused, lost or duplicated, and why

"proof <name> -h" lists the flags of each.
`

func main() { harness.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "scaleout":
		o, perr := scaleoutFlags(args[1:], stdout, stderr)
		if perr != nil {
			return harness.FlagExit(perr)
		}
		_, err = proof.ScaleOut(ctx, o)
	case "failover":
		o, perr := failoverFlags(args[1:], stdout, stderr)
		if perr != nil {
			return harness.FlagExit(perr)
		}
		_, err = proof.Failover(ctx, o)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "proof: unknown proof %q\n\n%s", args[0], usage)
		return 2
	}
	return harness.Exit(stderr, "proof", err, proof.ErrFailed)
}

func common(fs *flag.FlagSet, c *proof.Common) {
	fs.BoolVar(&c.Quick, "quick", false, "small sizes and short phases (a smoke run; not the figures of record)")
	harness.RunFlags(fs, c)
}

func scaleoutFlags(args []string, stdout, stderr io.Writer) (proof.ScaleOutOptions, error) {
	var o proof.ScaleOutOptions
	fs := flag.NewFlagSet("proof scaleout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common(fs, &o.Common)
	fs.IntVar(&o.Workers, "workers", 0, "worker processes (default 3)")
	fs.IntVar(&o.Schedulers, "schedulers", 0, "scheduler processes (default 2)")
	fs.IntVar(&o.Recipients, "recipients", 0, "campaign recipients (default 20000, quick 3000)")
	fs.IntVar(&o.Singles, "singles", 0, "single sends (default 1500, quick 300)")
	fs.IntVar(&o.CampaignRate, "campaign-rate", 0, "Conectaline limit, messages per second (default 1000, quick 500)")
	fs.IntVar(&o.SingleRate, "single-rate", 0, "Keccel limit, requests per second (default 50, quick 30)")
	kill := fs.String("kill", "auto", "SIGKILL one worker during a provider call: yes, no, auto (yes unless -quick)")
	fs.DurationVar(&o.Hold, "hold", 0, "how long the sandbox holds its answer to an accepted Conectaline call (default 200ms)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "how long to wait for everything to be sent (default 5m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch *kill {
	case "auto":
		o.Kill = proof.KillAuto
	case "yes":
		o.Kill = proof.KillYes
	case "no":
		o.Kill = proof.KillNo
	default:
		fmt.Fprintf(stderr, "proof scaleout: -kill: want yes, no or auto, got %q\n", *kill)
		return o, errors.New("bad -kill")
	}
	o.Out = stdout
	return o, nil
}

func failoverFlags(args []string, stdout, stderr io.Writer) (proof.FailoverOptions, error) {
	var o proof.FailoverOptions
	fs := flag.NewFlagSet("proof failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common(fs, &o.Common)
	fs.IntVar(&o.Workers, "workers", 0, "worker processes (default 1)")
	fs.Float64Var(&o.SendRate, "send-rate", 0, "single sends per second from the producer (default 100, quick 50)")
	fs.DurationVar(&o.Before, "before", 0, "traffic before the master is killed (default 10s, quick 4s)")
	fs.DurationVar(&o.After, "after", 0, "traffic after the master is killed (default 20s, quick 10s)")
	fs.DurationVar(&o.Drain, "drain", 0, "how long to wait for accepted messages to be sent afterwards (default 2m, quick 45s)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Out = stdout
	return o, nil
}
