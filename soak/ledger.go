package soak

import (
	"net/http"
	"path"
	"strings"

	"github.com/google/uuid"

	"github.com/aciworker/aciworker/emulator"
)

// Ledger counts, per flow run, the requests that create its container group
// (an accepted PUT of its "prefect-<group>" deployment or of the group
// itself), from successive snapshots of the emulator's bounded request log.
type Ledger struct {
	last     *emulator.RequestRecord
	Creates  map[string]int // flow run id -> accepted creating PUTs
	Gaps     int            // snapshots that lost records (the ring overflowed between polls)
	Requests int            // records seen
	// Deployments are the names of deployment records created (accepted
	// PUTs of prefect-* deployments), in the order seen, repeats included.
	Deployments []string
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{Creates: map[string]int{}} }

// Add takes a snapshot (oldest first) and counts the records not seen yet.
func (l *Ledger) Add(snapshot []emulator.RequestRecord) {
	start := 0
	if l.last != nil {
		start = -1
		for i := len(snapshot) - 1; i >= 0; i-- {
			if snapshot[i] == *l.last {
				start = i + 1
				break
			}
		}
		if start < 0 {
			// The last record seen was overwritten: everything newer than
			// it is counted, and the gap is reported because records may
			// have been lost before the snapshot.
			l.Gaps++
			start = len(snapshot)
			for i, r := range snapshot {
				if r.Time.After(l.last.Time) {
					start = i
					break
				}
			}
		}
	}
	for _, r := range snapshot[start:] {
		l.Requests++
		if id, ok := CreatedFlowRun(r); ok {
			l.Creates[id]++
			if r.Op == "deployments.put" {
				l.Deployments = append(l.Deployments, path.Base(r.Path))
			}
		}
	}
	if len(snapshot) > 0 {
		rec := snapshot[len(snapshot)-1]
		l.last = &rec
	}
}

// CreatedFlowRun tells whether a request created (or re-created) the
// container group of a flow run, and which.
func CreatedFlowRun(r emulator.RequestRecord) (string, bool) {
	if r.Method != http.MethodPut || (r.Status != http.StatusOK && r.Status != http.StatusCreated) {
		return "", false
	}
	name := path.Base(r.Path)
	switch r.Op {
	case "deployments.put":
		group, ok := strings.CutPrefix(strings.ToLower(name), "prefect-")
		if !ok {
			return "", false
		}
		return FlowRunOfGroup(group)
	case "containerGroups.put":
		return FlowRunOfGroup(name)
	}
	return "", false
}

// FlowRunOfGroup extracts the flow run id that ends a container group name
// made the prefect-azure way ("<slug>-<flow run id>").
func FlowRunOfGroup(group string) (string, bool) {
	const idLen = 36
	if len(group) < idLen {
		return "", false
	}
	id := strings.ToLower(group[len(group)-idLen:])
	if _, err := uuid.Parse(id); err != nil {
		return "", false
	}
	return id, true
}
