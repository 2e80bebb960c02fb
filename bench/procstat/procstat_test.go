package procstat

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Stat
		wantErr  bool
	}{
		{"plain", "9189 (cat) R 9186 9186 8258 0 -1 4194304 97 0 1 0 7 3 2 1 20 0 1 0 173933 3133440 362",
			Stat{PID: 9189, PPID: 9186, Comm: "cat", UTime: 7, STime: 3, CUTime: 2, CSTime: 1}, false},
		{"name with spaces and parens", "42 (a) b (c)) S 1 42 42 0 -1 0 0 0 0 0 100 50 0 0 20 0 3 0 1 1 1",
			Stat{PID: 42, PPID: 1, Comm: "a) b (c)", UTime: 100, STime: 50}, false},
		{"no name", "42 S 1", Stat{}, true},
		{"short", "42 (x) S 1 2 3", Stat{}, true},
		{"bad number", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 x 50 0 0 20 0 3 0 1 1 1", Stat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	got, err := ParseStatus("Name:\tpython\nVmHWM:\t  130000 kB\nVmRSS:\t  126000 kB\nThreads:\t12\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{RSS: 126000 * 1024, HWM: 130000 * 1024, Threads: 12}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, err := ParseStatus("Name:\tkworker\nThreads:\t1\n"); err != nil || got.RSS != 0 {
		t.Errorf("kernel thread: got %+v, %v", got, err)
	}
	if _, err := ParseStatus("VmRSS:\t12 MB\n"); err == nil {
		t.Error("unit MB accepted")
	}
}

func TestDescendants(t *testing.T) {
	t.Parallel()
	parent := map[int]int{1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
	got := Descendants(10, parent)
	slices.Sort(got[1:])
	if want := []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func writeProc(t *testing.T, root string, pid, ppid int, utime int64, rssKB int64) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := strconv.Itoa(pid) + " (p) S " + strconv.Itoa(ppid) + " 1 1 0 -1 0 0 0 0 0 " +
		strconv.FormatInt(utime, 10) + " 10 5 5 20 0 1 0 1 1 1"
	status := "VmHWM:\t" + strconv.FormatInt(rssKB*2, 10) + " kB\nVmRSS:\t" + strconv.FormatInt(rssKB, 10) + " kB\nThreads:\t2\n"
	for name, body := range map[string]string{"stat": stat, "status": status} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderFixture(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeProc(t, root, 100, 1, 80, 1000)
	writeProc(t, root, 101, 100, 20, 500)
	writeProc(t, root, 200, 1, 1000, 9999) // not in the tree
	got, err := Reader{Root: root}.Read(100)
	if err != nil {
		t.Fatal(err)
	}
	// CPU: (80+10+5+5) + (20+10+5+5) ticks = 140 ticks.
	want := Sample{Processes: 2, Threads: 4, RSS: 1500 * 1024, RootHWM: 2000 * 1024, CPU: 1400 * time.Millisecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := (Reader{Root: root}).Read(300); err == nil {
		t.Error("missing root: no error")
	}
}

func TestReaderLive(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no /proc on this CI machine: %v", err)
		}
		t.Skip("no /proc on this system (CI unset)")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	w := Watch(context.Background(), Reader{Root: "/proc"}, os.Getpid(), 10*time.Millisecond)
	s := w.Now()
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Processes < 2 || s.RSS <= 0 || s.Threads < 2 {
		t.Errorf("sample of this test process with a child: %+v", s)
	}
	if peak, _ := w.Peak(); peak < s.RSS {
		t.Errorf("peak %d below a sample %d", peak, s.RSS)
	}
}

func TestParseMachineStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want time.Duration
		err  bool
	}{
		// user 100, nice 20, system 30, idle 1000, iowait 50, irq 5,
		// softirq 5, steal 10: busy 170 ticks.
		{"busy modes", "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 50 10 15 500 25 2 3 5 0 0\n", 1700 * time.Millisecond, false},
		{"no cpu line first", "cpu0 1 2 3 4 5 6 7 8\n", 0, true},
		{"too few counters", "cpu 1 2 3\n", 0, true},
		{"not a number", "cpu 1 2 x 4 5 6 7 8\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMachineStat(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseMachineStat = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
