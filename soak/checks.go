package soak

import (
	"fmt"
	"sort"
	"strings"
)

// RunResult is one flow run as the soak found it at the end.
type RunResult struct {
	ID, Name, FlowName string
	Kind               Kind
	Variant            int
	StateType          string // COMPLETED, FAILED, CRASHED, ...
	StateName          string
	Message            string
	Killed             bool // the soak killed its container
}

// Evidence is everything the final checks look at.
type Evidence struct {
	Runs            []RunResult
	Created         int            // runs the soak created (by its own count)
	GroupCreates    map[string]int // flow run id -> accepted PUTs creating its group
	ContainerStarts map[string]int // flow run id -> container starts (stand-in marks)
	LedgerGaps      int
	GroupsLeft      []string
	DeploymentsLeft []string
	Kept            map[string]bool // group names allowed to remain (keep_container_group)
	SecretHits      []SecretHit
	WorkerExits     []string // workers that died without being killed
	Unscanned       int      // deployment records the soak could not read back
}

// Finding is one failed check.
type Finding struct {
	Check  string
	Run    string // flow run id, group or deployment name, surface; "" for global
	Detail string
}

func (f Finding) String() string {
	if f.Run == "" {
		return fmt.Sprintf("[%s] %s", f.Check, f.Detail)
	}
	return fmt.Sprintf("[%s] %s: %s", f.Check, f.Run, f.Detail)
}

// InjectedMarker is in the message of every ARM fault the soak injects
// that a client should retry; a Crashed message holding it means a
// transient error was given up on.
const InjectedMarker = "soak-injected transient fault"

// minReason is the shortest Crashed message taken as carrying a reason.
const minReason = 12

// Terminal tells whether a state type is final.
func Terminal(stateType string) bool {
	switch stateType {
	case "COMPLETED", "FAILED", "CRASHED", "CANCELLED":
		return true
	}
	return false
}

// badTypeField is the job variable each bad-type variant breaks.
var badTypeField = map[int]string{0: "cpu", 1: "memory", 2: "cpu"}

// Check runs every final check. No finding means the soak passed.
func Check(ev Evidence) []Finding {
	var out []Finding
	add := func(check, run, format string, args ...any) {
		out = append(out, Finding{Check: check, Run: run, Detail: fmt.Sprintf(format, args...)})
	}
	if len(ev.Runs) < ev.Created {
		add("terminal", "", "the soak created %d runs but found only %d in Prefect", ev.Created, len(ev.Runs))
	}
	for _, r := range ev.Runs {
		if !Terminal(r.StateType) {
			add("terminal", r.ID, "not terminal: %s (%s), kind %s", r.StateType, r.StateName, r.Kind)
		}
		if n := ev.GroupCreates[r.ID]; n > 1 {
			add("created-once", r.ID, "its container group was created by %d accepted PUTs", n)
		}
		if n := ev.ContainerStarts[r.ID]; n > 1 {
			add("created-once", r.ID, "its container started %d times", n)
		}
		if r.StateType == "CRASHED" {
			msg := strings.TrimSpace(r.Message)
			switch {
			case len(msg) < minReason:
				add("crash-reason", r.ID, "Crashed with no reason: message %q", msg)
			case strings.Contains(msg, InjectedMarker):
				add("crash-reason", r.ID, "Crashed on a transient ARM error that should have been retried: %q", clip(msg))
			case r.Killed && r.Kind == KindNormal && !strings.Contains(msg, "137"):
				add("crash-reason", r.ID, "container was killed (exit 137) but the message does not say so: %q", clip(msg))
			}
		}
		switch r.Kind {
		case KindBadType:
			field := badTypeField[r.Variant]
			if r.StateType == "COMPLETED" {
				add("bad-input", r.ID, "ran to Completed with an invalid %s", field)
			} else if r.StateType == "CRASHED" && !strings.Contains(r.Message, field) {
				add("bad-input", r.ID, "Crashed for an invalid %s, but the message does not name it: %q", field, clip(r.Message))
			}
		case KindEmptyImage:
			if r.StateType == "COMPLETED" {
				add("bad-input", r.ID, "ran to Completed with an empty image")
			} else if r.StateType == "CRASHED" && !strings.Contains(strings.ToLower(r.Message), "image") {
				add("bad-input", r.ID, "Crashed for an empty image, but the message does not mention the image: %q", clip(r.Message))
			}
		case KindBadTemplate:
			switch {
			case r.Variant == 0 && r.StateType == "CRASHED" && strings.Contains(r.Message, "status code 3."):
				add("bad-input", r.ID, "the placeholder of a missing Prefect variable reached the command instead of being dropped as Prefect does: %q", clip(r.Message))
			case r.Variant == 2 && r.StateType == "COMPLETED":
				add("bad-input", r.ID, "ran to Completed although its job variables reference a block that does not exist (Prefect fails the submission)")
			}
		case KindFlowFails:
			if r.StateType == "COMPLETED" {
				add("bad-input", r.ID, "a flow that reported Failed ended Completed")
			}
		}
	}
	for _, g := range ev.GroupsLeft {
		if !ev.Kept[strings.ToLower(g)] {
			add("leftovers", g, "container group left behind")
		}
	}
	for _, d := range ev.DeploymentsLeft {
		group, isOurs := strings.CutPrefix(strings.ToLower(d), "prefect-")
		if isOurs && !ev.Kept[group] {
			add("leftovers", d, "deployment record left behind")
		}
	}
	if ev.LedgerGaps > 0 {
		add("created-once", "", "the emulator's request log overflowed %d times between reads: creations may be undercounted", ev.LedgerGaps)
	}
	if ev.Unscanned > 0 {
		add("secrets", "", "%d deployment records could not be read back to check for secrets", ev.Unscanned)
	}
	hits := append([]SecretHit(nil), ev.SecretHits...)
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Surface != hits[j].Surface {
			return hits[i].Surface < hits[j].Surface
		}
		return hits[i].Where < hits[j].Where
	})
	for _, h := range hits {
		add("secrets", h.Where, "%s holds the %s (%d times)", h.Surface, h.Secret, h.Count)
	}
	for _, w := range ev.WorkerExits {
		add("worker", "", "%s", w)
	}
	return out
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
