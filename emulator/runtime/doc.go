// Package runtime runs the emulator's ACI containers as local processes.
//
// What is inside an image cannot be known locally, so an image table (Image
// rules, user rules first, then built-in defaults) says how a container of an
// image behaves: which argv[0] values are pass-through entrypoints, the
// default command, extra PATH directories, and simulated pull delay or
// failure.
//
// A container of the script image (ScriptImage) runs no process: its
// command is a script the runtime plays (script.go), the cheap mode for
// thousands of containers. Everything below about processes, working dirs
// and containment applies to the other images.
//
// A container's command runs directly (exec form, no shell), in its own
// process group and its own new working directory. Its stdout and stderr
// become one ordered log with arrival timestamps. When the main process
// exits or is killed, every process the container started is killed, as a
// container's processes die with its init process: even one that called
// setsid and ignores SIGTERM (contain.go says how).
//
// The environment is Config.BaseEnv overlaid with the container's own
// variables. PATH is then prefixed with Config.PrefectBin (Prefect's images
// only) and the rule's PathDirs, and argv[0] is looked up in that PATH, not
// the emulator's. HOME is the working dir unless the container sets it.
//
// Log lines are stamped when they are read, in RFC 3339 UTC with fixed-width
// nanoseconds (truncated to Config.TimestampResolution when set); stdout and
// stderr are read concurrently, so only each stream's own order is exact.
// While the container lives its log keeps the newest 4 MiB (line bytes
// without timestamps; whole lines are dropped); after Stop, the newest 1,000
// lines within 16 KiB. A line not yet ended by a newline is shown as is.
//
// Lifecycle and choices where ACI leaves room:
//   - Events are aggregated like ACI's (Kubernetes-style) events: an event
//     with the same name, type and message bumps Count and LastTimestamp.
//   - A container whose command is empty and whose image has no default
//     command, or whose executable cannot be found or run, fails to start:
//     it becomes Terminated with exit code 127 (126 when the file exists but
//     cannot be executed), DetailStatus "Error", and a Warning event "Failed".
//     The restart policy then applies as for any other failure.
//   - An image pull failure leaves the container Waiting with DetailStatus
//     "ImagePullBackOff", events Failed and BackOff, and PullFailed set; the
//     process never starts and Done is closed.
//   - Logs accumulate across restarts of the same container.
//   - Stop kills the container's processes with SIGKILL (no grace period), ends all
//     restarts, caps the log at the stopped-instance limits and removes the
//     container's working directory. Deleting a container is a Stop; Remove
//     is provided as an alias that reads better at such call sites.
package runtime
