package soak

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// ReadBack counts the deployment records read back from the emulator.
type ReadBack struct {
	Scanned   int // read (GET and exportTemplate) and searched for secrets
	Vanished  int // deleted before they could be read
	Unscanned int // could not be read
}

var stateColumns = []string{"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

// WriteText prints the summary: runs by kind and final state, faults,
// restarts, ARM traffic, time taken, then every finding.
func (r *Report) WriteText(w io.Writer) {
	verdict := "PASS"
	if !r.Passed() {
		verdict = fmt.Sprintf("FAIL (%d findings)", len(r.Findings))
	}
	fmt.Fprintf(w, "aciworker soak: %s\n", verdict)
	fmt.Fprintf(w, "%d runs created, %d found, in %s; Prefect on %s; seed %d; %s; %d CPUs\n\n",
		r.Created, len(r.Runs), r.Duration.Round(time.Second), r.Database, r.Config.Seed,
		r.Started.UTC().Format("2006-01-02"), runtime.NumCPU())

	rows := map[Kind]map[string]int{}
	for _, run := range r.Runs {
		m := rows[run.Kind]
		if m == nil {
			m = map[string]int{}
			rows[run.Kind] = m
		}
		m["total"]++
		col := run.StateType
		if !Terminal(col) {
			col = "other"
		}
		m[col]++
	}
	kinds := make([]string, 0, len(rows))
	for k := range rows {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\truns\tCompleted\tFailed\tCrashed\tCancelled\tnot terminal\t")
	total := map[string]int{}
	for _, k := range kinds {
		m := rows[Kind(k)]
		fmt.Fprintf(tw, "%s\t%d", k, m["total"])
		for _, c := range stateColumns {
			fmt.Fprintf(tw, "\t%d", m[c])
			total[c] += m[c]
		}
		fmt.Fprintf(tw, "\t%d\t\n", m["other"])
		total["total"] += m["total"]
		total["other"] += m["other"]
	}
	fmt.Fprintf(tw, "all\t%d", total["total"])
	for _, c := range stateColumns {
		fmt.Fprintf(tw, "\t%d", total[c])
	}
	fmt.Fprintf(tw, "\t%d\t\n", total["other"])
	tw.Flush()

	f := r.Faults
	c := r.Counters
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ARM 5xx faults queued\t%d\t(5xx answered: %d)\n", f.ARM5xx, c.Status(500)+c.Status(502)+c.Status(503)+c.Status(504))
	fmt.Fprintf(tw, "429 bursts\t%d\t(%d injected 429s; 429 answered in all, throttling included: %d)\n", f.Bursts429, f.Requests429, c.Status(429))
	fmt.Fprintf(tw, "tightened-throttling windows\t%d\t\n", f.ThrottleWindows)
	fmt.Fprintf(tw, "provisioning failures queued\t%d\t\n", f.Provisioning)
	fmt.Fprintf(tw, "containers killed mid-run\t%d\t\n", f.ContainersKilled)
	fmt.Fprintf(tw, "worker SIGKILLs\t%d\t(worker restarts in all: %d)\n", f.WorkerKills, r.Restarts)
	fmt.Fprintf(tw, "Prefect server restarts\t%d\t\n", f.ServerRestarts)
	fmt.Fprintf(tw, "bad-input runs\t%d\t(bad types, empty image, unknown placeholders)\n", f.BadInputRuns)
	fmt.Fprintf(tw, "ARM requests\t%d\t(reads %d, writes %d, deletes %d)\n", c.Reads()+c.Writes()+c.Deletes(), c.Reads(), c.Writes(), c.Deletes())
	fmt.Fprintf(tw, "deployment records read back\t%d\t(deleted before read: %d, unreadable: %d)\n", r.ReadBack.Scanned, r.ReadBack.Vanished, r.ReadBack.Unscanned)
	fmt.Fprintf(tw, "time taken\t%s\t\n", r.Duration.Round(time.Second))
	fmt.Fprintf(tw, "logs\t%s\t\n", r.OutDir)
	tw.Flush()

	if len(r.Findings) > 0 {
		fmt.Fprintf(w, "\nFindings (%d):\n", len(r.Findings))
		for _, fd := range r.Findings {
			fmt.Fprintf(w, "  %s\n", fd)
		}
	}
	if crashes := crashReasons(r.Runs); len(crashes) > 0 {
		fmt.Fprintf(w, "\nCrashed messages (names ending in a flow run id shown as <name>; first 160 characters; by count):\n")
		for _, cr := range crashes {
			fmt.Fprintf(w, "  %4d  %s\n", cr.n, cr.msg)
		}
	}
}

// uuidish matches names that end in a flow run id (groups, deployments),
// so that messages differing only by run group together.
var uuidish = regexp.MustCompile(`[\p{L}\p{N}._-]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

type reasonCount struct {
	msg string
	n   int
}

// crashReasons groups Crashed messages by their start, so a reader sees at
// a glance why runs crashed.
func crashReasons(runs []RunResult) []reasonCount {
	m := map[string]int{}
	for _, r := range runs {
		if r.StateType != "CRASHED" {
			continue
		}
		msg := uuidish.ReplaceAllString(strings.Join(strings.Fields(r.Message), " "), "<name>")
		if len(msg) > 160 {
			msg = msg[:160]
		}
		m[msg]++
	}
	out := make([]reasonCount, 0, len(m))
	for k, v := range m {
		out = append(out, reasonCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].msg < out[j].msg
	})
	return out
}
