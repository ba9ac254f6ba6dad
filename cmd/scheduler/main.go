// Command scheduler enqueues campaign blocks at their pacing start times.
// Run any number of them against one Redis: a lease elects the active one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
)

func main() {
	configPath := flag.String("config", os.Getenv("SMSQ_CONFIG"), "YAML config file (env SMSQ_CONFIG); none: the embedded demo's Redis (start the worker first)")
	flag.Parse()

	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.RunScheduler(ctx, cfg, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
}
