// Command worker runs smsq's task handlers. With no Redis configured it
// runs the embedded demo: an in-process Redis and provider sandbox.
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
	configPath := flag.String("config", os.Getenv("SMSQ_CONFIG"), "YAML config file (env SMSQ_CONFIG); none: embedded demo mode")
	demo := flag.Bool("demo", false, "embedded mode: send one message through each sandbox provider and log its fate")
	readOnly := flag.Bool("ui-read-only", false, "serve the monitoring UI in view-only mode")
	flag.Parse()

	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.RunWorker(ctx, cfg, os.Stderr, app.WorkerOptions{Demo: *demo, ReadOnlyUI: *readOnly}); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
