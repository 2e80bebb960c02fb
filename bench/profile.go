package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/bench/procstat"
)

// PySpyPin is the sampling profiler the bench installs into its
// virtualenv for --profile: it reads a running CPython's stacks from
// outside, so the Prefect server is profiled as it runs, unmodified.
const PySpyPin = "py-spy==0.4.3"

// The profiles' sampling: py-spy's rate in samples a second, and how often
// the database's sessions are looked at. py-spy reading the server's
// stacks from outside costs CPU of its own: two samplers at 100/s took
// about a core of a 2-core machine, so one samples, at 25/s (1 000
// samples in 40 s).
const (
	pySpyRate     = 25
	pgSampleEvery = 200 * time.Millisecond
)

// pprofTimeout bounds one reading of a worker profile for the summary.
const pprofTimeout = time.Minute

// profileSlack bounds how long a recording may run past its window
// (start-up, writing its file) before it is given up.
const profileSlack = time.Minute

// burstProfiler records where the worker and the Prefect server spend a
// row's burst, from the runs' release on (acibench --profile):
//   - the worker's CPU, block and mutex profiles over the window, from its
//     --pprof-addr (aciworker only);
//   - the Prefect server's stacks on CPU, sampled with py-spy;
//   - the server's database sessions, sampled: how many are active, idle
//     in a transaction, or waiting, and on what;
//   - the CPU each process tree took over the window (worker, emulator with
//     its containers, Prefect server), and the machine's.
//
// Each goes to logs/<pool>-*; <pool>-profile.md sums them up. A recording
// that fails is named in the summary; the row goes on.
type burstProfiler struct {
	logDir    string
	pool      string
	window    time.Duration
	pprofAddr string // "" when the worker serves no profiles
	serverPID int
	workerPID int
	emuPID    int
	pySpy     string // "" when not installed
	pgURL     string // libpq URL of the server's database, "" on SQLite
	log       *slog.Logger

	mu       sync.Mutex
	failures []string
	pg       *pgWaits
	cpu      []cpuUse
}

// cpuUse is the CPU one process tree (or the machine) took over the window.
type cpuUse struct {
	what string
	cpu  time.Duration
}

func (p *burstProfiler) path(suffix string) string {
	return filepath.Join(p.logDir, p.pool+"-"+suffix)
}

func (p *burstProfiler) failed(what string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, fmt.Sprintf("%s: %v", what, err))
	p.log.Warn("profile failed", "what", what, "err", err)
}

// start begins every recording at once. The function it returns waits for
// them (each bounded by the window and profileSlack) and writes the
// summary.
func (p *burstProfiler) start(ctx context.Context) func() error {
	ctx, cancel := context.WithTimeout(ctx, p.window+profileSlack)
	var wg sync.WaitGroup
	do := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				p.failed(what, err)
			}
		}()
	}
	secs := strconv.Itoa(int(p.window / time.Second))
	if p.pprofAddr != "" {
		for _, prof := range []struct{ name, endpoint string }{{"cpu", "profile"}, {"block", "block"}, {"mutex", "mutex"}} {
			url := "http://" + p.pprofAddr + "/debug/pprof/" + prof.endpoint + "?seconds=" + secs
			do("worker "+prof.name, func(ctx context.Context) error {
				return fetchTo(ctx, url, p.path("worker-"+prof.name+".pprof"))
			})
		}
	}
	if p.pySpy != "" {
		// On CPU only: the server is one asyncio loop, so what it waits
		// for is in no thread's stack (py-spy's --idle showed its idle
		// thread pool); the database's sessions say what it waits on.
		args := []string{"record", "--pid", strconv.Itoa(p.serverPID), "--subprocesses", "--nonblocking",
			"--rate", strconv.Itoa(pySpyRate), "--duration", secs, "--format", "raw", "-o", p.path("prefect-cpu.txt")}
		do("prefect cpu", func(ctx context.Context) error { return runQuiet(ctx, p.pySpy, args...) })
	}
	if p.pgURL != "" {
		do("database sessions", func(ctx context.Context) error {
			w, err := samplePG(ctx, p.pgURL, p.window, pgSampleEvery)
			p.mu.Lock()
			p.pg = w
			p.mu.Unlock()
			return err
		})
	}
	do("CPU by process", func(ctx context.Context) error {
		use, err := cpuOver(ctx, p.window, procstat.Reader{Root: "/proc"}, []cpuTree{
			{"worker", p.workerPID}, {"emulator (and its containers)", p.emuPID}, {"Prefect server", p.serverPID}})
		p.mu.Lock()
		p.cpu = use
		p.mu.Unlock()
		return err
	})
	return func() error {
		wg.Wait()
		cancel()
		return os.WriteFile(p.path("profile.md"), []byte(p.summary()), 0o644)
	}
}

type cpuTree struct {
	what string
	pid  int
}

// cpuOver reads each tree's CPU and the machine's at the start and the end
// of the window. What the trees do not account for (the database, the
// bench itself, the samplers) is split by command name: a process there
// counts its own and its reaped children's time, from its start when it
// began within the window; one that ended within it is not counted.
func cpuOver(ctx context.Context, window time.Duration, r procstat.Reader, trees []cpuTree) ([]cpuUse, error) {
	type reading struct {
		trees   map[string]time.Duration
		rest    map[int]procstat.Stat
		machine time.Duration
	}
	read := func() (reading, error) {
		rd := reading{trees: map[string]time.Duration{}}
		all, err := r.All()
		if err != nil {
			return rd, err
		}
		parent := make(map[int]int, len(all))
		for pid, st := range all {
			parent[pid] = st.PPID
		}
		for _, t := range trees {
			if _, ok := all[t.pid]; !ok {
				return rd, fmt.Errorf("%s: process %d is gone", t.what, t.pid)
			}
			for _, pid := range procstat.Descendants(t.pid, parent) {
				st := all[pid]
				rd.trees[t.what] += st.CPU()
				delete(all, pid)
			}
		}
		rd.rest = all
		rd.machine, err = r.MachineCPU()
		return rd, err
	}
	before, err := read()
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := read()
	if err != nil {
		return nil, err
	}
	var out []cpuUse
	for _, t := range trees {
		out = append(out, cpuUse{t.what, after.trees[t.what] - before.trees[t.what]})
	}
	byComm := map[string]time.Duration{}
	for pid, st := range after.rest {
		d := st.CPU()
		if b, ok := before.rest[pid]; ok && b.Comm == st.Comm {
			d -= b.CPU()
		}
		byComm[st.Comm] += d
	}
	var rest []cpuUse
	for comm, d := range byComm {
		if d > 0 {
			rest = append(rest, cpuUse{"other: " + comm, d})
		}
	}
	slices.SortFunc(rest, func(a, b cpuUse) int { return int(b.cpu - a.cpu) })
	out = append(out, rest[:min(len(rest), 8)]...)
	return append(out, cpuUse{machineCPU, after.machine - before.machine}), nil
}

const machineCPU = "the machine"

// fetchTo writes the body of a GET of url to path.
func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runQuiet runs a command, returning its output in the error when it fails.
func runQuiet(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(lastLines(string(out), 5)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// libpqURL turns the SQLAlchemy URL Prefect takes into one psql takes.
func libpqURL(sqlalchemy string) (string, bool) {
	for _, prefix := range []string{"postgresql+asyncpg://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(sqlalchemy, prefix); ok {
			return "postgresql://" + rest, true
		}
	}
	return "", false
}

// pgWaits counts the database's client sessions by what they were doing
// when sampled: summed over the samples, so a count over samples is the
// mean number of sessions in that state.
type pgWaits struct {
	samples int
	counts  map[string]int // "state / wait_event_type:wait_event"
}

// pgActivityQuery lists what each client session of the server's database
// does; its first row marks a sample.
const pgActivityQuery = `SELECT 'sample' UNION ALL SELECT coalesce(state, '?') || ' / ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid();`

// samplePG asks psql (one session) for the sessions every `every` over the
// window.
func samplePG(ctx context.Context, url string, window, every time.Duration) (*pgWaits, error) {
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-A", "-t", url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &pgWaits{counts: map[string]int{}}
	parsed := make(chan struct{})
	go func() { defer close(parsed); w.read(stdout) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := time.After(window)
	var writeErr error
loop:
	for {
		if _, err := io.WriteString(stdin, pgActivityQuery+"\n"); err != nil {
			writeErr = err
			break
		}
		select {
		case <-tick.C:
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	stdin.Close()
	<-parsed
	if err := cmd.Wait(); err != nil {
		return w, fmt.Errorf("psql: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return w, writeErr
}

func (w *pgWaits) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
		case "sample":
			w.samples++
		default:
			w.counts[line]++
		}
	}
}

// stackCount is one function's share of a collapsed-stack profile.
type stackCount struct {
	frame   string
	samples int
}

// collapsedTop reads py-spy's raw format (one "frame;frame;...;leaf count"
// line a stack, root first) and returns the n frames most often on top of
// the stack (self) and most often anywhere in it (total), and the number
// of samples.
func collapsedTop(r io.Reader, n int) (self, total []stackCount, samples int, err error) {
	selfM, totalM := map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		c, err := strconv.Atoi(line[i+1:])
		if err != nil {
			continue
		}
		frames := strings.Split(line[:i], ";")
		samples += c
		selfM[frames[len(frames)-1]] += c
		seen := map[string]bool{}
		for _, f := range frames {
			if !seen[f] {
				seen[f] = true
				totalM[f] += c
			}
		}
	}
	return topCounts(selfM, n), topCounts(totalM, n), samples, sc.Err()
}

func topCounts(m map[string]int, n int) []stackCount {
	out := make([]stackCount, 0, len(m))
	for f, c := range m {
		out = append(out, stackCount{f, c})
	}
	slices.SortFunc(out, func(a, b stackCount) int {
		if a.samples != b.samples {
			return b.samples - a.samples
		}
		return strings.Compare(a.frame, b.frame)
	})
	return out[:min(n, len(out))]
}

// summary is <pool>-profile.md: the top of each recording.
func (p *burstProfiler) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Profile of %s, %s from the runs' release\n\n", p.pool, p.window)
	for _, f := range p.failures {
		fmt.Fprintf(&b, "- failed: %s\n", f)
	}
	for _, kind := range []string{"cpu", "block", "mutex"} {
		path := p.path("worker-" + kind + ".pprof")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), pprofTimeout)
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", path).CombinedOutput()
		cancel()
		if err != nil {
			fmt.Fprintf(&b, "\n## worker %s\n\ngo tool pprof failed: %v\n", kind, err)
			continue
		}
		fmt.Fprintf(&b, "\n## worker %s (go tool pprof -top)\n\n```\n%s```\n", kind, out)
	}
	p.summarizeServer(&b)
	if len(p.cpu) > 0 {
		fmt.Fprintf(&b, "\n## CPU over the window (%d cores)\n\n| CPU s | cores | what |\n|---|---|---|\n", runtime.NumCPU())
		for _, u := range p.cpu {
			fmt.Fprintf(&b, "| %.1f | %.2f | %s |\n", u.cpu.Seconds(), u.cpu.Seconds()/p.window.Seconds(), u.what)
		}
	}
	if p.pg != nil {
		fmt.Fprintf(&b, "\n## Database sessions (%d samples, every %s)\n\n| mean sessions | state / wait |\n|---|---|\n", p.pg.samples, pgSampleEvery)
		for _, r := range topCounts(p.pg.counts, 30) {
			fmt.Fprintf(&b, "| %.2f | %s |\n", float64(r.samples)/float64(max(p.pg.samples, 1)), r.frame)
		}
	}
	return b.String()
}

// summarizeServer adds the top of the Prefect server's CPU samples.
func (p *burstProfiler) summarizeServer(b *strings.Builder) {
	f, err := os.Open(p.path("prefect-cpu.txt"))
	if err != nil {
		return // not recorded; a failure is listed above
	}
	defer f.Close()
	self, total, samples, err := collapsedTop(f, 25)
	if err != nil {
		fmt.Fprintf(b, "\n## Prefect server, on CPU\n\nreading the samples failed: %v\n", err)
		return
	}
	fmt.Fprintf(b, "\n## Prefect server, on CPU (py-spy, %d samples at %d/s)\n", samples, pySpyRate)
	for _, part := range []struct {
		title string
		rows  []stackCount
	}{{"on top of the stack (self)", self}, {"anywhere in the stack (total)", total}} {
		fmt.Fprintf(b, "\n%s:\n\n| share | samples | frame |\n|---|---|---|\n", part.title)
		for _, r := range part.rows {
			fmt.Fprintf(b, "| %.1f %% | %d | `%s` |\n", 100*float64(r.samples)/float64(max(samples, 1)), r.samples, r.frame)
		}
	}
}

// ensurePySpy installs py-spy into the virtualenv when it is missing.
func ensurePySpy(ctx context.Context, venv string) (string, error) {
	bin := filepath.Join(venv, "bin", "py-spy")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := runQuiet(ctx, filepath.Join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check", PySpyPin); err != nil {
		return "", fmt.Errorf("installing %s for --profile: %w", PySpyPin, err)
	}
	return bin, nil
}
