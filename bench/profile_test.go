package bench

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/bench/procstat"
	"github.com/aciworker/aciworker/internal/pgcluster"
)

func TestCollapsedTop(t *testing.T) {
	raw := strings.Join([]string{
		"main (srv.py:1);handle (api.py:10);query (db.py:5) 7",
		"main (srv.py:1);handle (api.py:10);encode (json.py:3) 2",
		"main (srv.py:1);loop (aio.py:9);loop (aio.py:9) 1",
		"not a stack line",
		"",
	}, "\n")
	self, total, samples, err := collapsedTop(strings.NewReader(raw), 2)
	if err != nil {
		t.Fatal(err)
	}
	if samples != 10 {
		t.Errorf("samples = %d, want 10", samples)
	}
	wantSelf := []stackCount{{"query (db.py:5)", 7}, {"encode (json.py:3)", 2}}
	if !equalCounts(self, wantSelf) {
		t.Errorf("self = %v, want %v", self, wantSelf)
	}
	// A frame twice in one stack (recursion) counts once for it.
	wantTotal := []stackCount{{"main (srv.py:1)", 10}, {"handle (api.py:10)", 9}}
	if !equalCounts(total, wantTotal) {
		t.Errorf("total = %v, want %v", total, wantTotal)
	}
	_, all, _, _ := collapsedTop(strings.NewReader(raw), 10)
	for _, c := range all {
		if c.frame == "loop (aio.py:9)" && c.samples != 1 {
			t.Errorf("a recursive frame counted %d times in one stack of 1 sample", c.samples)
		}
	}
}

func equalCounts(a, b []stackCount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLibpqURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"postgresql+asyncpg://prefect@127.0.0.1:5432/postgres", "postgresql://prefect@127.0.0.1:5432/postgres", true},
		{"postgresql://u:p@db/prefect", "postgresql://u:p@db/prefect", true},
		{"sqlite+aiosqlite:///tmp/prefect.db", "", false},
	} {
		got, ok := libpqURL(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("libpqURL(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPGWaitsRead(t *testing.T) {
	w := &pgWaits{counts: map[string]int{}}
	w.read(strings.NewReader("sample\nactive / on CPU\nidle / Client:ClientRead\nsample\nactive / Lock:tuple\nactive / on CPU\n\n"))
	if w.samples != 2 {
		t.Errorf("samples = %d, want 2", w.samples)
	}
	want := map[string]int{"active / on CPU": 2, "idle / Client:ClientRead": 1, "active / Lock:tuple": 1}
	for k, v := range want {
		if w.counts[k] != v {
			t.Errorf("counts[%q] = %d, want %d", k, w.counts[k], v)
		}
	}
	if len(w.counts) != len(want) {
		t.Errorf("counts = %v, want %v", w.counts, want)
	}
}

// The sampler reads a live cluster's sessions: its own session is left
// out, and a second session, idle, is seen in every sample.
func TestSamplePG(t *testing.T) {
	if !pgcluster.Available() {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL's server tools are missing under CI")
		}
		t.Skip("PostgreSQL's server tools are not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url, ok := libpqURL(c.URL)
	if !ok {
		t.Fatalf("libpqURL(%q) not understood", c.URL)
	}
	idle := exec.CommandContext(ctx, "psql", "-X", "-q", url)
	idleIn, err := idle.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { idleIn.Close(); idle.Wait() }()
	// The idle session is up once it has answered one query.
	deadline := time.Now().Add(time.Minute)
	for {
		w, err := samplePG(ctx, url, 100*time.Millisecond, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if w.counts["idle / Client:ClientRead"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second session never showed: %v", w.counts)
		}
	}
	w, err := samplePG(ctx, url, 500*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if w.samples < 2 {
		t.Fatalf("%d samples in 500 ms at one each 50 ms", w.samples)
	}
	if got := w.counts["idle / Client:ClientRead"]; got != w.samples {
		t.Errorf("the idle session was seen in %d of %d samples: %v", got, w.samples, w.counts)
	}
	for k := range w.counts {
		if strings.HasPrefix(k, "active") {
			t.Errorf("an active session was counted (the sampler's own?): %q in %v", k, w.counts)
		}
	}
}

// cpuOver counts a tree's CPU over the window: this process, kept busy
// through it, took some.
func TestCPUOver(t *testing.T) {
	var stop atomic.Bool
	spins := 0
	spun := make(chan struct{})
	go func() {
		defer close(spun)
		for !stop.Load() {
			spins++
		}
	}()
	use, err := cpuOver(context.Background(), 300*time.Millisecond, procstat.Reader{Root: "/proc"}, []cpuTree{{"this test", os.Getpid()}})
	stop.Store(true)
	<-spun
	if err != nil {
		t.Fatal(err)
	}
	if len(use) < 2 || use[0].what != "this test" || use[len(use)-1].what != machineCPU {
		t.Fatalf("use = %v, want this test first and the machine last", use)
	}
	if use[0].cpu <= 0 || use[len(use)-1].cpu <= 0 {
		t.Errorf("a busy process took %v of CPU in 300 ms, the machine %v", use[0].cpu, use[len(use)-1].cpu)
	}
	for _, u := range use[1 : len(use)-1] {
		if !strings.HasPrefix(u.what, "other: ") || u.cpu <= 0 {
			t.Errorf("%v: the rest are other commands that took CPU", u)
		}
	}
}
