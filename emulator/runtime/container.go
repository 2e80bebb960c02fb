package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Container states.
const (
	StateWaiting    = "Waiting"
	StateRunning    = "Running"
	StateTerminated = "Terminated"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// State is a container's current or previous state, as in ACI's instance view.
type State struct {
	State        string // Waiting | Running | Terminated
	ExitCode     *int32
	StartTime    time.Time
	FinishTime   time.Time
	DetailStatus string
}

// Event is an ACI container event; repeats bump Count and LastTimestamp.
type Event struct {
	Name, Type, Message           string
	Count                         int32
	FirstTimestamp, LastTimestamp time.Time
}

// Status is a snapshot of a container's instance view.
type Status struct {
	Current      State
	Previous     *State
	RestartCount int32
	Events       []Event
	PullFailed   bool
}

// exitStopped is the exit code of a container killed by Stop or Kill
// (128 + SIGKILL), and the code recorded when Stop ends a container that
// never ran.
const exitStopped = 128 + int(syscall.SIGKILL)

// drainGrace bounds how long output is read after a container's process
// group is gone; only a process that left the group can hold the pipes open.
const drainGrace = 2 * time.Second

// Container is one running (or finished) container.
type Container struct {
	r     *Runtime
	spec  Spec
	rule  Image
	argv  []string
	noCmd bool
	// scripted: the command is a script the runtime interprets
	// (script.go), not a program.
	scripted bool
	env      []string
	marker   string // MarkerEnv's value for this container's processes
	pathEnv  string
	dir      string
	log      *logBuffer
	logger   *slog.Logger

	mu         sync.Mutex
	cur        State
	prev       *State
	restarts   int32
	events     []Event
	pullFailed bool
	pgid       int // > 0 while a process group is alive (leader not yet reaped)
	// cancelScript is set while a script runs; it ends the run as a
	// SIGKILL ends a process.
	cancelScript context.CancelFunc
	stopping     bool
	doneClosed   bool

	stopCh  chan struct{} // closed by the first Stop
	done    chan struct{} // closed when the container will not run again
	cleaned chan struct{} // closed once a Stop has removed the working dir
}

// Spec returns the spec the container was started with.
func (c *Container) Spec() Spec { return c.spec }

// Dir returns the container's working directory (removed by Stop).
func (c *Container) Dir() string { return c.dir }

// Done is closed when the container will not run again: it terminated and
// its restart policy does not restart it, its image pull failed, or it was
// stopped.
func (c *Container) Done() <-chan struct{} { return c.done }

// Status returns a snapshot of the container's instance view.
func (c *Container) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{
		Current:      copyState(c.cur),
		RestartCount: c.restarts,
		Events:       append([]Event(nil), c.events...),
		PullFailed:   c.pullFailed,
	}
	if c.prev != nil {
		p := copyState(*c.prev)
		st.Previous = &p
	}
	return st
}

func copyState(s State) State {
	if s.ExitCode != nil {
		v := *s.ExitCode
		s.ExitCode = &v
	}
	return s
}

// Logs returns the container's log: the last tail lines (tail<=0: all that
// is kept), each prefixed with its RFC 3339 arrival time and a space when
// timestamps is set.
func (c *Container) Logs(tail int, timestamps bool) string {
	return c.log.render(tail, timestamps)
}

// Kill crashes the container: SIGKILL to its process group, as if the
// process died (exit 137). The restart policy applies. No-op unless a
// process is running.
func (c *Container) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aliveLocked() && !c.stopping {
		c.killLocked()
	}
}

// Stop kills the container's process group, ends restarts, caps the log at
// the stopped-instance limits and removes the working dir. It returns once
// all that is done; calling it again is harmless.
func (c *Container) Stop() {
	c.mu.Lock()
	first := !c.stopping
	if first {
		c.stopping = true
		close(c.stopCh)
		if c.aliveLocked() || !c.doneClosed {
			c.eventLocked("Killing", EventNormal, fmt.Sprintf("Stopping container %s", c.spec.Name))
		}
		if c.aliveLocked() {
			c.killLocked()
		}
		if c.doneClosed {
			// The supervisor has finished already; it will not see the stop.
			c.finalizeStoppedLocked()
		}
	}
	c.mu.Unlock()
	<-c.done
	if !first {
		<-c.cleaned
		return
	}
	if c.dir == "" {
		// A script container has no working dir.
	} else if err := os.RemoveAll(c.dir); err != nil {
		c.logger.Warn("remove container working dir", "dir", c.dir, "err", err)
	}
	c.r.forget(c)
	close(c.cleaned)
}

// Remove is Stop under the name a delete reads best with.
func (c *Container) Remove() { c.Stop() }

// aliveLocked says whether a process or script is running; callers hold c.mu.
func (c *Container) aliveLocked() bool { return c.pgid > 0 || c.cancelScript != nil }

// killLocked ends what runs, as SIGKILL would; callers hold c.mu.
func (c *Container) killLocked() {
	if c.cancelScript != nil {
		c.cancelScript()
	}
	if c.pgid > 0 {
		c.killGroupLocked()
	}
}

func (c *Container) killGroupLocked() {
	if err := syscall.Kill(-c.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.logger.Warn("kill process group", "pgid", c.pgid, "err", err)
	}
}

// finalizeStoppedLocked records the stop in the state and log; callers hold
// c.mu and have set stopping.
func (c *Container) finalizeStoppedLocked() {
	if c.cur.State != StateTerminated {
		code := int32(exitStopped)
		c.cur = State{
			State:        StateTerminated,
			ExitCode:     &code,
			StartTime:    c.cur.StartTime,
			FinishTime:   time.Now().UTC(),
			DetailStatus: detailFor(exitStopped),
		}
	}
	c.log.setLimits(StoppedLogBytes, StoppedLogLines)
}

func (c *Container) eventLocked(name, typ, msg string) {
	now := time.Now().UTC()
	for i := range c.events {
		e := &c.events[i]
		if e.Name == name && e.Type == typ && e.Message == msg {
			e.Count++
			e.LastTimestamp = now
			return
		}
	}
	c.events = append(c.events, Event{Name: name, Type: typ, Message: msg, Count: 1, FirstTimestamp: now, LastTimestamp: now})
}

func (c *Container) event(name, typ, msg string) {
	c.mu.Lock()
	c.eventLocked(name, typ, msg)
	c.mu.Unlock()
}

// pause waits d unless the container is stopped first; false means stopped.
func (c *Container) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stopCh:
		return false
	}
}

// run is the container's supervisor: pull, then run and restart per policy.
func (c *Container) run() {
	defer c.r.wg.Done()
	defer c.finish()

	image := c.spec.Image
	c.event("Pulling", EventNormal, fmt.Sprintf("pulling image %q", image))
	if c.rule.PullDelay > 0 && !c.pause(c.rule.PullDelay) {
		return
	}
	if c.rule.PullError != "" {
		c.mu.Lock()
		c.eventLocked("Failed", EventWarning, fmt.Sprintf("Failed to pull image %q: %s", image, c.rule.PullError))
		c.eventLocked("BackOff", EventNormal, fmt.Sprintf("Back-off pulling image %q", image))
		c.cur.DetailStatus = "ImagePullBackOff"
		c.pullFailed = true
		c.mu.Unlock()
		return
	}
	c.event("Pulled", EventNormal, fmt.Sprintf("Successfully pulled image %q", image))
	for {
		code, ran := c.runOnce()
		if !ran || !c.shouldRestart(code) {
			return
		}
		if !c.pause(c.r.cfg.RestartBackoff) {
			return
		}
	}
}

// finish closes Done, recording a stop if one happened.
func (c *Container) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		c.finalizeStoppedLocked()
	}
	c.doneClosed = true
	close(c.done)
}

func (c *Container) shouldRestart(code int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	switch c.spec.RestartPolicy {
	case RestartNever:
		return false
	case RestartOnFailure:
		return code != 0
	default:
		return true
	}
}

func detailFor(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// failStart records a container that could not be started.
func (c *Container) failStart(code int, msg string) {
	now := time.Now().UTC()
	ec := int32(code)
	c.mu.Lock()
	c.eventLocked("Failed", EventWarning, msg)
	c.cur = State{State: StateTerminated, ExitCode: &ec, StartTime: now, FinishTime: now, DetailStatus: detailFor(code)}
	c.mu.Unlock()
	c.logger.Info("container failed to start", "exitCode", code, "reason", msg)
}

// runOnce runs the command once. ran is false when a stop came first.
func (c *Container) runOnce() (code int, ran bool) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return 0, false
	}
	if c.cur.State == StateTerminated {
		p := c.cur
		c.prev = &p
		c.restarts++
	}
	c.mu.Unlock()

	if c.noCmd {
		c.failStart(127, fmt.Sprintf("Error: failed to create container %s: no command specified and image %q has no default command", c.spec.Name, c.spec.Image))
		return 127, true
	}
	c.event("Created", EventNormal, fmt.Sprintf("Created container %s", c.spec.Name))
	if c.scripted {
		return c.runScript(), true
	}
	exe, code, err := lookPath(c.argv[0], c.pathEnv, c.dir)
	if err != nil {
		c.failStart(code, fmt.Sprintf("Error: failed to start container %s: %v", c.spec.Name, err))
		return code, true
	}

	var pipes [2]struct{ r, w *os.File }
	closeAll := func() {
		for _, p := range pipes {
			for _, f := range []*os.File{p.r, p.w} {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			c.failStart(128, fmt.Sprintf("Error: failed to start container %s: create log pipe: %v", c.spec.Name, err))
			return 128, true
		}
		pipes[i].r, pipes[i].w = r, w
	}
	newCmd := func(pidns bool) *exec.Cmd {
		return &exec.Cmd{
			Path:        exe,
			Args:        c.argv,
			Env:         c.env,
			Dir:         c.dir,
			Stdout:      pipes[0].w,
			Stderr:      pipes[1].w,
			SysProcAttr: procAttr(pidns),
		}
	}
	pidns := c.r.usePIDNamespace()
	cmd := newCmd(pidns)
	err = cmd.Start()
	if nsErr := err; nsErr != nil && pidns && pidnsRefused(nsErr) {
		// Retry outside a namespace; only if that works was the namespace
		// the cause, and later containers skip it.
		cmd = newCmd(false)
		if err = cmd.Start(); err == nil {
			pidns = false
			c.r.pidnsRefused.Store(true)
			c.logger.Info("PID namespaces refused; containing containers by their environment marker", "err", nsErr)
		}
	}
	// The child has its own copies; holding ours would keep the pipes open
	// after it exits.
	pipes[0].w.Close()
	pipes[1].w.Close()
	pipes[0].w, pipes[1].w = nil, nil
	if err != nil {
		closeAll()
		code := 127
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
			code = 126
		}
		c.failStart(code, fmt.Sprintf("Error: failed to start container %s: %v", c.spec.Name, err))
		return code, true
	}
	start := time.Now().UTC()

	var readers sync.WaitGroup
	for i := range pipes {
		f := pipes[i].r
		readers.Go(func() { c.readStream(i, f) })
	}

	pid := cmd.Process.Pid
	c.mu.Lock()
	c.pgid = pid
	c.cur = State{State: StateRunning, StartTime: start}
	if c.stopping {
		// Stop came while the process was being started and found no
		// group to kill.
		c.killGroupLocked()
	}
	c.mu.Unlock()
	c.event("Started", EventNormal, fmt.Sprintf("Started container %s", c.spec.Name))
	c.logger.Debug("container started", "pid", pid, "argv0", c.argv[0])

	// Wait for the exit without reaping, so the group id cannot be reused
	// while the rest of the group is killed: a container's processes die
	// with its main process.
	reaped := false
	if err := waitExited(pid); err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			c.logger.Warn("wait for container process", "pid", pid, "err", err)
		}
		_ = cmd.Wait() // the exit status is read from ProcessState
		reaped = true
	}
	finish := time.Now().UTC()
	c.mu.Lock()
	c.killGroupLocked()
	c.pgid = 0
	c.mu.Unlock()
	if !pidns {
		// What left the process group: with a namespace the kernel has
		// killed it already, when the main process exited.
		if n := sweep(c.marker); n > 0 {
			c.logger.Debug("killed processes that left the container's process group", "kills", n)
		}
	}
	if !reaped {
		_ = cmd.Wait()
	}
	code = exitCode(cmd.ProcessState)

	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	t := time.NewTimer(drainGrace)
	select {
	case <-drained:
	case <-t.C:
		for _, p := range pipes {
			_ = p.r.SetReadDeadline(time.Now())
		}
		<-drained
	}
	t.Stop()
	closeAll()

	ec := int32(code)
	c.mu.Lock()
	c.cur = State{State: StateTerminated, ExitCode: &ec, StartTime: start, FinishTime: finish, DetailStatus: detailFor(code)}
	c.mu.Unlock()
	c.logger.Debug("container exited", "pid", pid, "exitCode", code)
	return code, true
}

func (c *Container) readStream(stream int, f *os.File) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			c.log.write(stream, buf[:n])
		}
		if err != nil {
			c.log.flush(stream)
			return
		}
	}
}

// exitCode maps a wait status to a container exit code; a signal death is
// 128+signal, as shells and container runtimes report it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 128
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// runScript runs the container's script once and returns its exit code;
// a Kill or Stop ends it with exitStopped, as SIGKILL ends a process.
func (c *Container) runScript() int {
	steps, perr := parseScript(c.argv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now().UTC()
	c.mu.Lock()
	c.cancelScript = cancel
	c.cur = State{State: StateRunning, StartTime: start}
	if c.stopping {
		cancel()
	}
	c.mu.Unlock()
	c.event("Started", EventNormal, fmt.Sprintf("Started container %s", c.spec.Name))

	code := exitScriptUsage
	if perr != nil {
		c.writeLine(1, "script: "+perr.Error())
	} else {
		env := make(map[string]string, len(c.env))
		for _, kv := range c.env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		x := scriptRun{
			group: c.spec.Group, name: c.spec.Name, env: env, out: c.writeLine,
			client: c.r.client, callTimeout: c.r.cfg.CallTimeout, backoff: c.r.callBackoff,
		}
		var ok bool
		if code, ok = x.run(ctx, steps); !ok {
			code = exitStopped
		}
	}
	ec := int32(code)
	c.mu.Lock()
	c.cancelScript = nil
	c.cur = State{State: StateTerminated, ExitCode: &ec, StartTime: start, FinishTime: time.Now().UTC(), DetailStatus: detailFor(code)}
	c.mu.Unlock()
	c.logger.Debug("script container exited", "exitCode", code)
	return code
}

// writeLine appends one line to the container's log.
func (c *Container) writeLine(stream int, line string) {
	c.log.write(stream, []byte(line+"\n"))
}
