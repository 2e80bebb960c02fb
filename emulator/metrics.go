package emulator

import (
	"strings"
	"sync"
	"time"
)

// Counters is a snapshot of every request the emulator answered, by
// operation name (e.g. "containerGroups.get") and HTTP status.
type Counters struct {
	ByOp map[string]map[int]int `json:"byOp"`
}

// Count is the number of requests for op, whatever their status.
func (c Counters) Count(op string) int {
	n := 0
	for _, v := range c.ByOp[op] {
		n += v
	}
	return n
}

// Status is the number of requests answered with the HTTP status code.
func (c Counters) Status(code int) int {
	n := 0
	for _, m := range c.ByOp {
		n += m[code]
	}
	return n
}

// Reads is the number of ARM read requests (GETs, including LRO polls).
func (c Counters) Reads() int { return c.classCount("reads") }

// Writes is the number of ARM write requests (PUT, POST, PATCH).
func (c Counters) Writes() int { return c.classCount("writes") }

// Deletes is the number of ARM DELETE requests.
func (c Counters) Deletes() int { return c.classCount("deletes") }

func (c Counters) classCount(cls string) int {
	n := 0
	for op := range c.ByOp {
		if opClass(op) == cls {
			n += c.Count(op)
		}
	}
	return n
}

// opClass maps an operation name to its ARM throttling class; "" for
// operations that are not ARM requests (Entra, unknown).
func opClass(op string) string {
	i := strings.IndexByte(op, '.')
	if i < 0 {
		return ""
	}
	switch op[i+1:] {
	case "get", "list", "listBySubscription", "logs":
		return "reads"
	case "delete":
		return "deletes"
	default:
		return "writes"
	}
}

type counterSet struct {
	mu   sync.Mutex
	byOp map[string]map[int]int
}

func (c *counterSet) add(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byOp == nil {
		c.byOp = map[string]map[int]int{}
	}
	m := c.byOp[op]
	if m == nil {
		m = map[int]int{}
		c.byOp[op] = m
	}
	m[status]++
}

func (c *counterSet) snapshot() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Counters{ByOp: make(map[string]map[int]int, len(c.byOp))}
	for op, m := range c.byOp {
		cp := make(map[int]int, len(m))
		for k, v := range m {
			cp[k] = v
		}
		out.ByOp[op] = cp
	}
	return out
}

// RequestRecord is one entry of the request log. It never holds a body,
// a query string or a header: those can carry secrets.
type RequestRecord struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Op     string    `json:"op"`
	Status int       `json:"status"`
}

// requestLog is a bounded ring of the latest requests.
type requestLog struct {
	mu   sync.Mutex
	buf  []RequestRecord
	next int
	full bool
}

const requestLogSize = 10000

func (l *requestLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		l.buf = make([]RequestRecord, requestLogSize)
	}
	l.buf[l.next] = r
	l.next = (l.next + 1) % len(l.buf)
	if l.next == 0 {
		l.full = true
	}
}

func (l *requestLog) snapshot() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return append([]RequestRecord(nil), l.buf[:l.next]...)
	}
	out := make([]RequestRecord, 0, len(l.buf))
	out = append(out, l.buf[l.next:]...)
	return append(out, l.buf[:l.next]...)
}

// Fault makes the next Times requests of operation Op fail with Status and
// an ARM error {Code, Message}; RetryAfter, when positive, is sent as
// Retry-After. Op "*" matches every ARM operation.
type Fault struct {
	Op         string        `json:"op"`
	Status     int           `json:"status"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Times      int           `json:"times"`
	RetryAfter time.Duration `json:"-"`
}

type faultSet struct {
	mu     sync.Mutex
	faults []*Fault
}

func (f *faultSet) add(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft.Times <= 0 {
		ft.Times = 1
	}
	f.faults = append(f.faults, &ft)
}

// take consumes one matching fault, if any.
func (f *faultSet) take(op string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ft := range f.faults {
		if ft.Op == op || (ft.Op == "*" && opClass(op) != "") {
			cp := *ft
			ft.Times--
			if ft.Times <= 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
			return &cp
		}
	}
	return nil
}

func (f *faultSet) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}
