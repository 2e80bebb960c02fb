// Package procstat measures a process tree from Linux's /proc: resident
// memory and CPU time of a process and all its descendants, sampled on an
// interval so that a short peak between two reads of the caller is not missed.
package procstat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go runs on;
// /proc reports utime/stime in these units regardless of the kernel's HZ.
const clockTicks = 100

// Sample is one reading of a process tree.
type Sample struct {
	Processes int
	Threads   int
	RSS       int64         // bytes, summed over the tree
	RootHWM   int64         // bytes, the root process's own peak RSS (VmHWM)
	CPU       time.Duration // user+system time of the tree, including reaped children
}

// Stat is what the bench uses from /proc/PID/stat.
type Stat struct {
	PID, PPID                    int
	Comm                         string // the command name (at most 15 bytes, as the kernel keeps it)
	UTime, STime, CUTime, CSTime int64  // clock ticks
}

// CPU is the process's user and system time with its reaped children's.
func (st Stat) CPU() time.Duration { return ticks(st.UTime + st.STime + st.CUTime + st.CSTime) }

// ParseStat parses the contents of /proc/PID/stat. The command name is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func ParseStat(s string) (Stat, error) {
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("procstat: stat line %q: no command name", trunc(s))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("procstat: stat line %q: pid: %w", trunc(s), err)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is the state (field 3); utime is field 14, so f[11].
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("procstat: stat line %q: %d fields after the name, want at least 15", trunc(s), len(f))
	}
	st := Stat{PID: pid, Comm: s[open+1 : end]}
	ints := []*int64{&st.UTime, &st.STime, &st.CUTime, &st.CSTime}
	for i, p := range ints {
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return Stat{}, fmt.Errorf("procstat: stat line %q: field %d: %w", trunc(s), 14+i, err)
		}
		*p = v
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, fmt.Errorf("procstat: stat line %q: ppid: %w", trunc(s), err)
	}
	st.PPID = ppid
	return st, nil
}

// Status is what the bench uses from /proc/PID/status.
type Status struct {
	RSS, HWM int64 // bytes
	Threads  int
}

// ParseStatus parses the contents of /proc/PID/status. Kernel threads and
// zombies have no Vm* lines; they count as zero memory.
func ParseStatus(s string) (Status, error) {
	var st Status
	for line := range strings.SplitSeq(s, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "VmRSS", "VmHWM":
			num, unit, _ := strings.Cut(val, " ")
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return Status{}, fmt.Errorf("procstat: status %s %q: %w", key, val, err)
			}
			if strings.TrimSpace(unit) != "kB" {
				return Status{}, fmt.Errorf("procstat: status %s %q: unit is not kB", key, val)
			}
			if key == "VmRSS" {
				st.RSS = n * 1024
			} else {
				st.HWM = n * 1024
			}
		case "Threads":
			n, err := strconv.Atoi(val)
			if err != nil {
				return Status{}, fmt.Errorf("procstat: status Threads %q: %w", val, err)
			}
			st.Threads = n
		}
	}
	return st, nil
}

// Descendants returns root and every process below it, given each process's
// parent. The order is breadth-first from root.
func Descendants(root int, parent map[int]int) []int {
	children := map[int][]int{}
	for pid, pp := range parent {
		children[pp] = append(children[pp], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// Reader reads a process tree from a proc file system root ("/proc" on a
// real machine; tests point it at a directory of fixtures).
type Reader struct{ Root string }

// Read samples the tree under pid. A process that exits while it is being
// read is skipped; the root itself must exist.
func (r Reader) Read(pid int) (Sample, error) {
	stats, err := r.allStats()
	if err != nil {
		return Sample{}, err
	}
	if _, ok := stats[pid]; !ok {
		return Sample{}, fmt.Errorf("procstat: process %d: %w", pid, os.ErrNotExist)
	}
	parent := make(map[int]int, len(stats))
	for p, st := range stats {
		parent[p] = st.PPID
	}
	var s Sample
	for _, p := range Descendants(pid, parent) {
		st := stats[p]
		data, err := os.ReadFile(filepath.Join(r.Root, strconv.Itoa(p), "status"))
		if err != nil {
			continue // exited between the two reads
		}
		status, err := ParseStatus(string(data))
		if err != nil {
			return Sample{}, err
		}
		s.Processes++
		s.Threads += status.Threads
		s.RSS += status.RSS
		if p == pid {
			s.RootHWM = status.HWM
		}
		// Counting reaped children's time (cutime/cstime) keeps the sum from
		// dropping when a short-lived child exits between samples.
		s.CPU += st.CPU()
	}
	return s, nil
}

// MachineCPU is the CPU time all of the machine's cores have spent busy
// since boot (every mode of the first line of /proc/stat but idle and
// iowait).
func (r Reader) MachineCPU() (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(r.Root, "stat"))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	return ParseMachineStat(string(data))
}

// ParseMachineStat reads the busy time from the contents of /proc/stat:
// its "cpu" line holds user, nice, system, idle, iowait, irq, softirq,
// steal (then guest and guest_nice, already counted in user and nice), in
// clock ticks.
func ParseMachineStat(s string) (time.Duration, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("procstat: /proc/stat first line %q: want \"cpu\" and 8 counters", trunc(line))
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: /proc/stat counter %d: %w", i+1, err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return ticks(busy), nil
}

// All reads every process's stat; a process that exits while it is being
// read is left out.
func (r Reader) All() (map[int]Stat, error) { return r.allStats() }

func (r Reader) allStats() (map[int]Stat, error) {
	entries, err := os.ReadDir(r.Root)
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	stats := make(map[int]Stat, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(r.Root, e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := ParseStat(string(data))
		if err != nil {
			return nil, err
		}
		stats[pid] = st
	}
	return stats, nil
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Watcher samples a process tree on an interval and keeps the peak.
type Watcher struct {
	reader Reader
	pid    int

	mu      sync.Mutex
	last    Sample
	peakRSS int64
	peakThr int
	err     error
	done    chan struct{}
	cancel  context.CancelFunc
}

// Watch starts sampling pid every interval until Stop or ctx ends.
func Watch(ctx context.Context, r Reader, pid int, interval time.Duration) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{reader: r, pid: pid, done: make(chan struct{}), cancel: cancel}
	w.sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *Watcher) sample() {
	s, err := w.reader.Read(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil && !errors.Is(err, os.ErrNotExist) {
			w.err = err
		}
		return
	}
	w.last = s
	w.peakRSS = max(w.peakRSS, s.RSS, s.RootHWM)
	w.peakThr = max(w.peakThr, s.Threads)
}

// Now takes a fresh sample (also folding it into the peak) and returns it.
func (w *Watcher) Now() Sample {
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Peak returns the highest tree RSS and thread count seen so far.
func (w *Watcher) Peak() (rss int64, threads int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peakRSS, w.peakThr
}

// Stop ends sampling and returns the first read error other than the
// process having gone.
func (w *Watcher) Stop() error {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
