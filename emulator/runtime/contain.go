package runtime

// Containment: everything a container starts ends with it, as in a real
// container, even a process that leaves the process group (setsid, as
// Prefect's runner does for the flow) and ignores SIGTERM.
//
// Where the machine allows it (root, or CAP_SYS_ADMIN), each container's
// main process is the init of a new PID namespace: when it exits or is
// killed, the kernel kills every other process in the namespace. Elsewhere
// every process of the container carries MarkerEnv in its environment, and
// the runtime kills, in passes until none is left, every process that
// carries the container's marker and every descendant of those.

// MarkerEnv names the environment variable that ties a process to its
// container when PID namespaces are not available. Its value is random per
// container.
const MarkerEnv = "ACIWORKER_EMULATOR_CONTAINER"

// proc is one row of the process table the sweep reads.
type proc struct {
	pid, ppid int
	marked    bool // carries the container's marker
}

// doomed returns the pids to kill: every marked process and every
// descendant of one, found through the parent links in procs.
func doomed(procs []proc) []int {
	children := map[int][]int{}
	var queue []int
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
		if p.marked {
			queue = append(queue, p.pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}
