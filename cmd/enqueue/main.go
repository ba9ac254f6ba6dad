// Command enqueue sends messages through smsq and shows their fate.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/smsq/smsq/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
