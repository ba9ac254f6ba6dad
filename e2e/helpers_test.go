package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/smsq/smsq/cli"
	"github.com/smsq/smsq/sandbox"
)

func killSignal() os.Signal { return syscall.SIGKILL }

func sbkeccelSlow() sandbox.Faults { return sandbox.Faults{Latency: 300 * time.Millisecond} }
func sbkeccelFast() sandbox.Faults { return sandbox.Faults{} }

func cliExecute(args []string, out *strings.Builder, environ []string) int {
	return cli.Execute(context.Background(), args, out, out, environ)
}
