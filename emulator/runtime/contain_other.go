//go:build !linux

package runtime

import "syscall"

// procAttr starts a container's main process in its own process group;
// PID namespaces are Linux only.
func procAttr(bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func pidnsRefused(error) bool { return true }

// sweep has no process table to read here: only the process group is
// killed.
func sweep(string) int { return 0 }
