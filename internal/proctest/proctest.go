// Package proctest reads the process table, for tests that check what a
// container left behind. It reads /proc (Linux).
package proctest

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Proc is one live (not zombie) process.
type Proc struct {
	PID, PPID, PGID int
	Argv            []string
}

// List returns the live processes. Without /proc it fails under CI and
// skips otherwise.
func List(t testing.TB) []Proc {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no /proc on this CI machine: %v", err)
		}
		t.Skipf("no /proc (CI unset): %v", err)
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid pgrp ...
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		p := Proc{PID: pid}
		p.PPID, _ = strconv.Atoi(f[1])
		p.PGID, _ = strconv.Atoi(f[2])
		if cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && len(cl) > 0 {
			p.Argv = strings.Split(strings.TrimSuffix(string(cl), "\x00"), "\x00")
		}
		out = append(out, p)
	}
	return out
}

// FindArgv lists the live processes whose command line is exactly argv.
func FindArgv(t testing.TB, argv ...string) []int {
	t.Helper()
	var out []int
	for _, p := range List(t) {
		if slices.Equal(p.Argv, argv) {
			out = append(out, p.PID)
		}
	}
	return out
}
