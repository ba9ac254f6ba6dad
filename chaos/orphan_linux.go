package chaos

import (
	"os/exec"
	"syscall"
)

// orphanGuard has the kernel kill the child if the run itself dies
// (a crash, a SIGKILL of the driver), so no worker or redis-server of a
// run outlives it.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
