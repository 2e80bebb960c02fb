package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock returns t and advances it by step on every call.
func fakeClock(t time.Time, step time.Duration) func() time.Time {
	return func() time.Time {
		now := t
		t = t.Add(step)
		return now
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func TestLogBufferRender(t *testing.T) {
	t.Parallel()
	b := newLogBuffer(0, fakeClock(epoch, time.Millisecond))
	b.write(0, []byte("one\ntw"))
	b.write(1, []byte("err1\n"))
	b.write(0, []byte("o\nthree\npart"))
	b.write(1, []byte("errpart"))

	tests := []struct {
		tail int
		want string
	}{
		{0, "one\nerr1\ntwo\nthree\npart\nerrpart"},
		{-1, "one\nerr1\ntwo\nthree\npart\nerrpart"},
		{1, "errpart"},
		{2, "part\nerrpart"},
		{3, "three\npart\nerrpart"},
		{6, "one\nerr1\ntwo\nthree\npart\nerrpart"},
		{100, "one\nerr1\ntwo\nthree\npart\nerrpart"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.tail), func(t *testing.T) {
			if got := b.render(tt.tail, false); got != tt.want {
				t.Errorf("render(%d) = %q, want %q", tt.tail, got, tt.want)
			}
		})
	}
}

func TestLogBufferTimestamps(t *testing.T) {
	t.Parallel()
	b := newLogBuffer(0, fakeClock(epoch, time.Millisecond))
	b.write(0, []byte("a\nb\n"))
	b.write(1, []byte("c\nd"))
	got := b.render(0, true)
	want := "2026-01-02T03:04:05.123456789Z a\n" +
		"2026-01-02T03:04:05.123456789Z b\n" +
		"2026-01-02T03:04:05.124456789Z c\n" +
		"2026-01-02T03:04:05.124456789Z d"
	if got != want {
		t.Fatalf("render = %q, want %q", got, want)
	}
	b.flush(1)
	if got, want := b.render(1, true), "2026-01-02T03:04:05.125456789Z d"; got != want {
		t.Fatalf("after flush: render(1) = %q, want %q", got, want)
	}
}

func TestLogBufferResolution(t *testing.T) {
	t.Parallel()
	// 500 writes 1 ms apart all fall within one second.
	b := newLogBuffer(time.Second, fakeClock(epoch.Truncate(time.Second), time.Millisecond))
	for i := range 500 {
		b.write(i%2, []byte(strconv.Itoa(i)+"\n"))
	}
	lines := strings.Split(strings.TrimSuffix(b.render(0, true), "\n"), "\n")
	if len(lines) != 500 {
		t.Fatalf("got %d lines, want 500", len(lines))
	}
	for i, l := range lines {
		ts, text, _ := strings.Cut(l, " ")
		if ts != "2026-01-02T03:04:05.000000000Z" {
			t.Fatalf("line %d timestamp %q, want the whole second", i, ts)
		}
		if text != strconv.Itoa(i) {
			t.Fatalf("line %d = %q, want %d", i, text, i)
		}
	}
}

func TestLogBufferMonotonic(t *testing.T) {
	t.Parallel()
	times := []time.Time{epoch, epoch.Add(-time.Hour), epoch.Add(time.Second)}
	i := 0
	b := newLogBuffer(0, func() time.Time { i++; return times[i-1] })
	b.write(0, []byte("a\n"))
	b.write(0, []byte("b\n"))
	b.write(0, []byte("c\n"))
	lines := strings.Split(strings.TrimSuffix(b.render(0, true), "\n"), "\n")
	for j := 1; j < len(lines); j++ {
		if lines[j] < lines[j-1] {
			t.Errorf("timestamps go backwards: %q after %q", lines[j], lines[j-1])
		}
	}
}

func TestLogBufferCaps(t *testing.T) {
	t.Parallel()
	line := func(i, width int) string {
		s := strconv.Itoa(i)
		return s + strings.Repeat("x", width-len(s)) + "\n"
	}
	tests := []struct {
		name          string
		lines, width  int
		stop          bool
		wantLines     int
		wantLastIndex int
	}{
		// 5 MiB of 1 KiB lines: the last 4 MiB are kept while running.
		{"running 4MiB", 5 << 10, 1023, false, 4 << 10, 5<<10 - 1},
		{"running under cap", 100, 100, false, 100, 99},
		// Short lines: the 1,000 line limit applies first.
		{"stopped lines", 2000, 5, true, 1000, 1999},
		// 100-byte lines (with newline): 16 KiB holds 163 of them.
		{"stopped bytes", 500, 99, true, 16384 / 100, 499},
		{"stopped small", 10, 10, true, 10, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newLogBuffer(0, nil)
			var sb strings.Builder
			for i := range tt.lines {
				sb.WriteString(line(i, tt.width))
				if sb.Len() > 32<<10 {
					b.write(0, []byte(sb.String()))
					sb.Reset()
				}
			}
			b.write(0, []byte(sb.String()))
			if tt.stop {
				b.setLimits(StoppedLogBytes, StoppedLogLines)
			}
			got := b.render(0, false)
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != tt.wantLines {
				t.Errorf("kept %d lines, want %d", len(lines), tt.wantLines)
			}
			if want := strings.TrimSuffix(line(tt.wantLastIndex, tt.width), "\n"); lines[len(lines)-1] != want {
				t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
			}
			first, _ := strconv.Atoi(strings.TrimRight(lines[0], "x"))
			if first != tt.wantLastIndex-tt.wantLines+1 {
				t.Errorf("first line %q: lines are not the newest contiguous ones", lines[0])
			}
			limit := RunningLogBytes
			if tt.stop {
				limit = StoppedLogBytes
			}
			if len(got) > limit {
				t.Errorf("log is %d bytes, over the %d cap", len(got), limit)
			}
		})
	}
}

func TestLogBufferHugeLine(t *testing.T) {
	t.Parallel()
	b := newLogBuffer(0, nil)
	big := strings.Repeat("é", maxLineBytes*3/4) // 1.5 * maxLineBytes bytes
	b.write(0, []byte(big))
	if n := b.lineCount(); n != 1 {
		t.Fatalf("after %d bytes without newline: %d complete lines, want 1 split piece", len(big), n)
	}
	b.flush(0)
	if got := b.render(0, false); got != big[:maxLineBytes]+"\n"+big[maxLineBytes:] {
		t.Fatalf("content not preserved across the split")
	}
	b.setLimits(StoppedLogBytes, StoppedLogLines)
	got := b.render(0, false)
	if len(got) > StoppedLogBytes || len(got) < StoppedLogBytes-1 || !strings.HasSuffix(big, got) {
		t.Fatalf("stopped cap of one huge line: %d bytes, want the last ~%d bytes", len(got), StoppedLogBytes)
	}
}

func TestUTF8Tail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "bc"},
		{"aé", 1, ""},
		{"aé", 2, "é"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := utf8Tail(tt.s, tt.n); got != tt.want {
			t.Errorf("utf8Tail(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func fill100k(b testing.TB) *logBuffer {
	lb := newLogBuffer(0, nil)
	var sb strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&sb, "log line number %d of the benchmark\n", i)
		if sb.Len() > 60<<10 {
			lb.write(i%2, []byte(sb.String()))
			sb.Reset()
		}
	}
	lb.write(0, []byte(sb.String()))
	if n := lb.lineCount(); n != 100_000 {
		b.Fatalf("filled %d lines, want 100000", n)
	}
	return lb
}

func BenchmarkLogs100k(b *testing.B) {
	lb := fill100k(b)
	for _, bc := range []struct {
		name string
		tail int
		ts   bool
	}{
		{"all", 0, false},
		{"all-timestamps", 0, true},
		{"tail100-timestamps", 100, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s := lb.render(bc.tail, bc.ts); len(s) == 0 {
					b.Fatal("empty log")
				}
			}
		})
	}
}

func BenchmarkLogWrite100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		fill100k(b)
	}
}
