package runtime

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procAttr starts a container's main process in its own process group, in
// a new PID namespace when pidns is set. (No Pdeathsig: it fires when the
// OS thread that forked exits, which Go does not tie to this process's
// life, and a container killed at random would be worse than one that
// outlives a kill -9 of the emulator.)
func procAttr(pidns bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if pidns {
		a.Cloneflags = syscall.CLONE_NEWPID
	}
	return a
}

// pidnsRefused reports whether a failed start is the kernel refusing a new
// PID namespace (no privilege, or namespaces disabled).
func pidnsRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EUSERS)
}

// sweepPasses bounds the passes of a sweep; a pass only repeats when the
// previous one found a process, so a container forking as fast as it is
// killed cannot hold the caller for long.
const sweepPasses = 50

// sweep SIGKILLs every process carrying marker in its environment and every
// descendant of those, pass after pass until a pass finds none. It returns
// how many kills it sent.
func sweep(marker string) int {
	want := []byte(MarkerEnv + "=" + marker)
	self := os.Getpid()
	killed := 0
	for range sweepPasses {
		procs, err := readProcs(want)
		if err != nil {
			return killed
		}
		n := 0
		for _, pid := range doomed(procs) {
			if pid == self || pid <= 1 {
				continue
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				n++
			}
		}
		killed += n
		if n == 0 {
			return killed
		}
		// Give the killed processes a moment to die so the next pass sees
		// only what they forked meanwhile.
		time.Sleep(time.Millisecond)
	}
	return killed
}

// readProcs reads the live (not zombie) processes from /proc, marking those
// whose environment holds want.
func readProcs(want []byte) ([]proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make([]proc, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + e.Name()
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		p := proc{pid: pid, ppid: ppid}
		if env, err := os.ReadFile(dir + "/environ"); err == nil {
			for kv := range bytes.SplitSeq(env, []byte{0}) {
				if bytes.Equal(kv, want) {
					p.marked = true
					break
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}
