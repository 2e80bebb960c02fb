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

// Only the executable's clean read-only mappings are dropped: a writable
// one, another file's, and a read-only one holding relocated (private,
// Anonymous) pages are kept.
func TestCleanSpans(t *testing.T) {
	t.Parallel()
	const exe = "/usr/bin/aciworker"
	mapping := func(span, perms, path string, anonKB int) string {
		return span + " " + perms + " 00000000 08:01 42 " + path + "\n" +
			"Size:                100 kB\nRss:                  40 kB\n" +
			"Anonymous:            " + strconv.Itoa(anonKB) + " kB\nVmFlags: rd mr mw me\n"
	}
	tests := []struct {
		name  string
		smaps string
		want  [][2]uintptr
		err   bool
	}{
		{name: "code and read-only data", smaps: mapping("1000-2000", "r-xp", exe, 0) + mapping("2000-3000", "r--p", exe, 0),
			want: [][2]uintptr{{0x1000, 0x2000}, {0x2000, 0x3000}}},
		{name: "relocated read-only data is kept", smaps: mapping("1000-2000", "r-xp", exe, 0) + mapping("2000-3000", "r--p", exe, 8),
			want: [][2]uintptr{{0x1000, 0x2000}}},
		{name: "writable data is kept", smaps: mapping("3000-4000", "rw-p", exe, 0)},
		{name: "another file is kept", smaps: mapping("1000-2000", "r-xp", "/usr/lib/libc.so.6", 0)},
		{name: "anonymous mapping", smaps: mapping("5000-6000", "rw-p", "", 4)},
		{name: "bad range", smaps: mapping("zz-1000", "r-xp", exe, 0), err: true},
		{name: "not smaps", smaps: "Anonymous: 0 kB\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanSpans(strings.NewReader(tt.smaps), exe)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("spans %x, want %x", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("spans %x, want %x", got, tt.want)
				}
			}
		})
	}
}

func TestParseStatm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{in: "6051 1838 1201 2010 0 2906 0\n", want: 1838 * 4096, ok: true},
		{in: "6051", ok: false},
		{in: "6051 x 1201", ok: false},
		{in: "6051 -3 1201", ok: false},
		{in: "", ok: false},
	}
	for _, tt := range tests {
		got, ok := parseStatm(tt.in, 4096)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseStatm(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if rss, ok := residentBytes(); !ok || rss <= 0 {
		t.Errorf("residentBytes() = %d, %v; want this process's resident size", rss, ok)
	}
}
