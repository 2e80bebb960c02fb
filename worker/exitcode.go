package worker

import "fmt"

// exitInfo explains an infrastructure exit code, as Prefect's
// infrastructure_exit_codes registry does; the texts are Prefect's, so that
// users see the same words whichever worker ran their flow.
type exitInfo struct {
	Explanation, Resolution string
}

var exitHints = map[int64]exitInfo{
	0: {"Process exited cleanly.", "No action needed."},
	-9: {"Process exited due to a SIGKILL signal. Typically caused by the operating system terminating the process for exceeding memory limits, or by manual cancellation.",
		"Check whether the flow run exceeded its memory allocation. If running in a container, increase the memory limit. If this was intentional cancellation, no action is needed."},
	-15: {"Process exited due to a SIGTERM signal. Typically caused by graceful shutdown or manual cancellation.",
		"If this was caused by cancellation, no action is needed. Otherwise, check for infrastructure scaling events or deployment rollovers."},
	1: {"Process exited with a general error.",
		"Check the flow run logs for an unhandled exception or assertion error."},
	125: {"Container failed to run (Docker/OCI exit code 125).",
		"Verify the container image exists, the entrypoint is correct, and the container runtime is healthy."},
	126: {"Command found but not executable (permission denied).",
		"Check file permissions on the entrypoint script or binary. Ensure the file has the executable bit set."},
	127: {"Command not found.",
		"Verify that the entrypoint command or script is installed in the execution environment. Check your PATH and container image contents."},
	137: {"Process was killed, likely due to an out-of-memory (OOM) condition.",
		"Increase the memory allocation for the flow run infrastructure. In Kubernetes, raise the memory limit in the job template. In ECS, increase the task memory."},
	143: {"Process received SIGTERM via the container runtime. This is the containerized equivalent of exit code -15.",
		"If this was caused by cancellation or a scaling event, no action is needed. Otherwise, check for pod evictions or ECS task stops."},
	247: {"Process was terminated due to high memory usage.",
		"Increase the memory allocation for the flow run infrastructure. Consider profiling memory usage to find the source of consumption."},
	0xC000013A: {"Process was terminated due to a Ctrl+C or Ctrl+Break signal. Typically caused by manual cancellation.",
		"If this was intentional cancellation, no action is needed."},
}

func explainExit(code int64) exitInfo {
	if i, ok := exitHints[code]; ok {
		return i
	}
	return exitInfo{"Process exited with an unexpected status code.",
		"Check the flow run logs and infrastructure logs for more details."}
}

// crashMessage is the Crashed state's message for a non-zero exit: Prefect's
// sentence, then what Azure says about it when it says anything.
func crashMessage(code int64, azureReason string) string {
	msg := fmt.Sprintf("Flow run infrastructure exited with non-zero status code %d. %s", code, explainExit(code).Explanation)
	if azureReason != "" {
		msg += " Azure reports: " + azureReason
	}
	return msg
}
