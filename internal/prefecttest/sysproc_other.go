//go:build unix && !linux

package prefecttest

import "syscall"

// Own process group so that Stop reaches every child.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
