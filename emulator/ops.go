package emulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// asyncOp is a long-running operation whose status is read from the
// resource it acts on each time it is polled.
type asyncOp struct {
	id       string
	sub      string
	resource string
	started  time.Time
	status   func() (string, *apiError) // Running | Succeeded | Failed | Canceled
}

func (e *Emulator) newOp(sub, resource string, status func() (string, *apiError)) *asyncOp {
	op := &asyncOp{id: newGUID(), sub: sub, resource: resource, started: time.Now().UTC(), status: status}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ops) > 50000 {
		cutoff := time.Now().Add(-time.Hour)
		for k, o := range e.ops {
			if o.started.Before(cutoff) {
				delete(e.ops, k)
			}
		}
	}
	e.ops[op.id] = op
	return op
}

func (e *Emulator) lookupOp(id string) *asyncOp {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.ops[strings.ToLower(id)]
}

// acceptedWithLocation answers 202 for an operation polled through a
// Location header (ARM's operationresults), as deletes are.
func (e *Emulator) acceptedWithLocation(q *armRequest, opID string) {
	q.w.Header().Set("Location", q.base()+"/subscriptions/"+q.rt.sub+"/operationresults/"+opID+"?api-version="+q.apiVersion())
	e.setPollHint(q.w)
	q.w.WriteHeader(http.StatusAccepted)
}

// aciAsyncOperation names the ACI operation to poll (Azure-AsyncOperation
// under the group's location); the caller writes the status.
func (e *Emulator) aciAsyncOperation(q *armRequest, location, opID string) {
	q.w.Header().Set("Azure-AsyncOperation", q.base()+"/subscriptions/"+q.rt.sub+"/providers/Microsoft.ContainerInstance/locations/"+location+"/operations/"+opID+"?api-version="+q.apiVersion())
	e.setPollHint(q.w)
}

// setPollHint tells pollers how long to wait before the next poll.
func (e *Emulator) setPollHint(w http.ResponseWriter) {
	d := e.cfg.LROPollHint
	w.Header().Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	if d >= time.Second {
		w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	}
}

// serveOperation answers ACI operation status polls (Azure-AsyncOperation,
// always 200 with a status) and ARM operation results (Location: 202 while
// running, 204 once done).
func (e *Emulator) serveOperation(q *armRequest) {
	if q.r.Method != http.MethodGet {
		q.fail(methodNotAllowed(q.r))
		return
	}
	op := e.lookupOp(q.rt.child)
	if op == nil || !eq(op.sub, q.rt.sub) {
		q.fail(newErr(http.StatusNotFound, "OperationNotFound", "The operation '%s' could not be found.", q.rt.child))
		return
	}
	st, aerr := op.status()
	if q.rt.kind == kindOperationResults {
		switch st {
		case "Succeeded":
			q.w.WriteHeader(http.StatusNoContent)
		case "Failed", "Canceled":
			if aerr == nil {
				aerr = newErr(http.StatusConflict, "OperationFailed", "The operation '%s' ended in state '%s'.", op.id, st)
			}
			if aerr.Status < 400 {
				aerr.Status = http.StatusBadRequest
			}
			q.fail(aerr)
		default:
			q.w.Header().Set("Location", q.base()+q.r.URL.RequestURI())
			e.setPollHint(q.w)
			q.w.WriteHeader(http.StatusAccepted)
		}
		return
	}
	body := map[string]any{
		"id":        q.r.URL.Path,
		"name":      op.id,
		"status":    st,
		"startTime": op.started.Format(time.RFC3339Nano),
	}
	if st == "Succeeded" || st == "Failed" || st == "Canceled" {
		body["endTime"] = time.Now().UTC().Format(time.RFC3339Nano)
	} else {
		e.setPollHint(q.w)
	}
	if aerr != nil {
		body["error"] = aerr
	}
	q.json(http.StatusOK, body)
}

func asSyntax(err error, target **json.SyntaxError) bool { return errors.As(err, target) }

func itoa(n int) string { return strconv.Itoa(n) }
