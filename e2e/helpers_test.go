package e2e

import (
	"os"
	"syscall"
	"time"

	"github.com/smsq/smsq/sandbox"
)

func killSignal() os.Signal { return syscall.SIGKILL }

func sbkeccelSlow() sandbox.Faults { return sandbox.Faults{Latency: 300 * time.Millisecond} }
func sbkeccelFast() sandbox.Faults { return sandbox.Faults{} }
