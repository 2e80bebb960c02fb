package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// trimIdle gives back memory that starting the worker left resident but
// idling does not use:
//
//   - the heap garbage of start-up (the pool's template, the first
//     answers), returned to the OS after a collection;
//   - the pages of the executable's code and read-only data that start-up
//     mapped in. A first touch of a file page maps its neighbours too (the
//     kernel's fault-around), so a start that runs code from all over the
//     binary leaves most of it resident: ~12 MB of the worker's ~18 MB idle
//     RSS. Unmapping such pages (MADV_DONTNEED) loses nothing: the pages
//     the idle loop uses come back from the page cache on their next touch,
//     with no disk read.
//
// Only clean mappings are dropped: read-only and with no private copy of
// any page. A position-independent or cgo build has read-only mappings
// whose pages were written once, by the dynamic loader's relocations, then
// protected (RELRO); dropping those would bring back the file's unrelocated
// bytes. smaps counts such copied pages as Anonymous, so a mapping with any
// is kept. An error leaves the worker running as before, with more pages
// resident.
func trimIdle() error {
	debug.FreeOSMemory()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return err
	}
	spans, err := cleanSpans(f, exe)
	f.Close()
	if err != nil {
		return err
	}
	for _, s := range spans {
		// The raw call: the ranges are addresses from the kernel's own
		// list, not Go memory.
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s[0], s[1]-s[0], syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %x-%x: %w", s[0], s[1], errno)
		}
	}
	return nil
}

// cleanSpans reads an smaps listing and returns the address ranges of
// exe's mappings that are neither writable nor hold a private (Anonymous)
// page.
func cleanSpans(r io.Reader, exe string) ([][2]uintptr, error) {
	type mapping struct {
		span  [2]uintptr
		ours  bool
		dirty bool
	}
	var spans [][2]uintptr
	var cur *mapping
	flush := func() {
		if cur != nil && cur.ours && !cur.dirty {
			spans = append(spans, cur.span)
		}
		cur = nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") {
			// A "Key: value kB" line of the mapping above. Without a
			// mapping header first the listing is not smaps.
			if cur == nil {
				return nil, fmt.Errorf("smaps: %q before any mapping", fields[0])
			}
			if fields[0] == "Anonymous:" {
				if len(fields) < 2 {
					return nil, fmt.Errorf("smaps: bad Anonymous line %q", sc.Text())
				}
				n, err := strconv.ParseUint(fields[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("smaps: bad Anonymous line %q: %w", sc.Text(), err)
				}
				cur.dirty = cur.dirty || n > 0
			}
			continue
		}
		// A mapping header: address perms offset dev inode [path].
		flush()
		var m mapping
		if _, err := fmt.Sscanf(fields[0], "%x-%x", &m.span[0], &m.span[1]); err != nil || m.span[1] <= m.span[0] {
			return nil, fmt.Errorf("smaps: bad range %q", fields[0])
		}
		m.ours = len(fields) >= 6 && fields[5] == exe && len(fields[1]) > 1 && !strings.Contains(fields[1], "w")
		cur = &m
	}
	flush()
	return spans, sc.Err()
}

// residentBytes is the process's resident set size, from /proc/self/statm
// (its second field, in pages): one small read, cheap enough for a check
// every few seconds.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	return parseStatm(string(b), os.Getpagesize())
}

func parseStatm(s string, pageSize int) (int64, bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || pages < 0 {
		return 0, false
	}
	return pages * int64(pageSize), true
}
