package harness

import (
	"os/exec"
	"syscall"
)

// orphanGuard has the kernel kill the child when the run itself dies (a
// crash, a SIGKILL of the driver), so no process of a run outlives it.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
