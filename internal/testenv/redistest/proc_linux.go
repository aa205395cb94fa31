package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the server when the thread that started it ends — in
// practice when the test process dies without stopping it (a test timeout's panic, a
// SIGKILL): Go's runtime keeps its threads for the life of the process, unless a goroutine
// exits while locked to one.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
