// Package report turns benchmark rows into the outputs people read: a
// Markdown table, a JSON document and a PNG plot. It does no I/O of its own
// beyond the writers it is given.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Row is one worker's figures for one workload size.
type Row struct {
	Worker     string `json:"worker"` // "prefect-azure" or "aciworker"
	Engine     string `json:"engine"` // "real" (prefect flow-run execute) or "standin"
	N          int    `json:"n"`
	Throttling bool   `json:"throttling"`

	// The median and the highest of one sample a second over the idle
	// window before the runs are released.
	IdleRSSBytes    int64   `json:"idle_rss_bytes"`
	IdleRSSMaxBytes int64   `json:"idle_rss_max_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	PeakThreads     int     `json:"peak_threads"`
	CPUSeconds      float64 `json:"cpu_seconds"` // worker tree, from the first run created to the end of the row
	CPUPerRun       float64 `json:"cpu_seconds_per_completed_run"`

	ARMReads      int     `json:"arm_reads"`
	ARMWrites     int     `json:"arm_writes"`
	ReadsPerRun   float64 `json:"arm_reads_per_run"`
	WritesPerRun  float64 `json:"arm_writes_per_run"`
	TokenRequests int     `json:"token_requests"`

	// Requests the worker sent to the Prefect API, counted by a proxy in
	// front of the server, from the runs' release to the end of clean-up.
	PrefectRequests       int     `json:"prefect_requests"`
	PrefectRequestsPerRun float64 `json:"prefect_requests_per_run"`
	Throttled             int     `json:"responses_429"`

	DeploymentPUTs  int     `json:"deployment_puts"`
	SchedToPUTP50   float64 `json:"sched_to_put_p50_seconds"`
	SchedToPUTP95   float64 `json:"sched_to_put_p95_seconds"`
	WallSeconds     float64 `json:"wall_seconds"` // first run created until every run terminal (or the deadline)
	Completed       int     `json:"completed"`
	Crashed         int     `json:"crashed"`
	OtherTerminal   int     `json:"other_terminal"` // Failed, Cancelled
	Stuck           int     `json:"stuck"`          // not terminal at the deadline
	GroupsLeft      int     `json:"container_groups_left"`
	DeploymentsLeft int     `json:"deployment_records_left"`
	Notes           string  `json:"notes,omitempty"`
}

// Meta describes the run the rows came from.
type Meta struct {
	Date     time.Time `json:"date"`
	CPUs     int       `json:"cpus"`
	MemoryMB int64     `json:"memory_mb"`
	Database string    `json:"database"`
	Versions string    `json:"versions"`
	Command  string    `json:"command"`
}

// Document is the JSON output.
type Document struct {
	Meta Meta  `json:"meta"`
	Rows []Row `json:"rows"`
}

// WriteJSON writes the document, indented.
func WriteJSON(w io.Writer, d Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("report: encode JSON: %w", err)
	}
	return nil
}

var columns = []struct {
	head string
	val  func(Row) string
}{
	{"worker", func(r Row) string { return r.Worker }},
	{"engine", func(r Row) string { return r.Engine }},
	{"N", func(r Row) string { return fmt.Sprint(r.N) }},
	{"idle RSS MB", func(r Row) string { return mb(r.IdleRSSBytes) }},
	{"idle RSS max MB", func(r Row) string { return mb(r.IdleRSSMaxBytes) }},
	{"peak RSS MB", func(r Row) string { return mb(r.PeakRSSBytes) }},
	{"peak threads", func(r Row) string { return fmt.Sprint(r.PeakThreads) }},
	{"CPU s/run", func(r Row) string { return fmt.Sprintf("%.3f", r.CPUPerRun) }},
	{"ARM reads/run", func(r Row) string { return fmt.Sprintf("%.1f", r.ReadsPerRun) }},
	{"ARM writes/run", func(r Row) string { return fmt.Sprintf("%.1f", r.WritesPerRun) }},
	{"ARM reads", func(r Row) string { return fmt.Sprint(r.ARMReads) }},
	{"ARM writes", func(r Row) string { return fmt.Sprint(r.ARMWrites) }},
	{"tokens", func(r Row) string { return fmt.Sprint(r.TokenRequests) }},
	{"Prefect requests/run", func(r Row) string { return fmt.Sprintf("%.1f", r.PrefectRequestsPerRun) }},
	{"429s", func(r Row) string { return fmt.Sprint(r.Throttled) }},
	{"sched→PUT p50 s", func(r Row) string { return fmt.Sprintf("%.1f", r.SchedToPUTP50) }},
	{"sched→PUT p95 s", func(r Row) string { return fmt.Sprintf("%.1f", r.SchedToPUTP95) }},
	{"wall s", func(r Row) string { return fmt.Sprintf("%.0f", r.WallSeconds) }},
	{"Completed", func(r Row) string { return fmt.Sprint(r.Completed) }},
	{"Crashed", func(r Row) string { return fmt.Sprint(r.Crashed) }},
	{"other", func(r Row) string { return fmt.Sprint(r.OtherTerminal) }},
	{"stuck", func(r Row) string { return fmt.Sprint(r.Stuck) }},
	{"groups left", func(r Row) string { return fmt.Sprint(r.GroupsLeft) }},
	{"deployments left", func(r Row) string { return fmt.Sprint(r.DeploymentsLeft) }},
}

func mb(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

// Table renders the rows as a Markdown table, then their notes.
func Table(rows []Row) string {
	var b strings.Builder
	heads := make([]string, len(columns))
	seps := make([]string, len(columns))
	for i, c := range columns {
		heads[i] = c.head
		seps[i] = "---"
	}
	b.WriteString("| " + strings.Join(heads, " | ") + " |\n")
	b.WriteString("|" + strings.Join(seps, "|") + "|\n")
	for _, r := range rows {
		vals := make([]string, len(columns))
		for i, c := range columns {
			vals[i] = c.val(r)
		}
		b.WriteString("| " + strings.Join(vals, " | ") + " |\n")
	}
	for _, r := range rows {
		if r.Notes != "" {
			fmt.Fprintf(&b, "\n- %s, N=%d: %s", r.Worker, r.N, r.Notes)
		}
	}
	if strings.HasSuffix(b.String(), "|\n") {
		return b.String()
	}
	return b.String() + "\n"
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 1) of xs,
// or 0 for an empty slice. Nearest rank keeps every reported value one that
// was actually observed.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
