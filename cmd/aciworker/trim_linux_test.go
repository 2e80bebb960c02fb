package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFileKB is the process's resident file-backed memory.
func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// Trimming unmaps the executable's resident code and read-only data; the
// process goes on running code from the pages it touches again.
func TestTrimIdle(t *testing.T) {
	// Not parallel: it measures the whole process.
	before := rssFileKB(t)
	if err := trimIdle(); err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("resident file-backed memory %d kB before trimming, %d kB after; want less", before, after)
	}
	// Code all over the binary still runs.
	if got := newRootCmd(processDeps()).Name(); got != "aciworker" {
		t.Errorf("root command %q after trimming", got)
	}
	t.Logf("RssFile %d kB -> %d kB", before, after)
}
