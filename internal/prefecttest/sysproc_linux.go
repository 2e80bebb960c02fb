package prefecttest

import "syscall"

// Own process group so that Stop reaches every child; SIGKILL on parent
// death so that a crashed or timed-out test binary leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
