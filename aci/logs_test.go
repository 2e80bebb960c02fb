package aci

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// logOf renders lines as Azure returns them with timestamps=true.
func logOf(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

const ts0 = "2026-01-01T00:00:00Z "

func texts(ls []LogLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

func TestLogFollowerSequences(t *testing.T) {
	t.Parallel()
	same := ts0 + "x"
	tests := []struct {
		name  string
		reads []string // all but the last are Feed, the last is Finish
		want  []string
		gaps  int
	}{
		{
			name:  "growing log",
			reads: []string{logOf(ts0 + "a"), logOf(ts0+"a", ts0+"b"), logOf(ts0+"a", ts0+"b", ts0+"c")},
			want:  []string{"a", "b", "c"},
		},
		{
			name:  "identical lines and timestamps",
			reads: []string{logOf(same, same), logOf(same, same, same), logOf(same, same, same, same, same)},
			want:  []string{"x", "x", "x", "x", "x"},
		},
		{
			name:  "partial line waits for its newline",
			reads: []string{ts0 + "hel", ts0 + "hello\n" + ts0 + "wor", ts0 + "hello\n" + ts0 + "world\n"},
			want:  []string{"hello", "world"},
		},
		{
			name:  "final read emits a line without newline",
			reads: []string{logOf(ts0 + "a"), logOf(ts0+"a") + ts0 + "tail"},
			want:  []string{"a", "tail"},
		},
		{
			name:  "empty reads and repeated reads",
			reads: []string{"", logOf(ts0 + "a"), logOf(ts0 + "a"), "", logOf(ts0+"a", ts0+"b")},
			want:  []string{"a", "b"},
		},
		{
			name:  "blank lines are output too",
			reads: []string{logOf(ts0+"a", ts0, ts0+"b")},
			want:  []string{"a", "", "b"},
		},
		{
			name:  "window dropped old lines",
			reads: []string{logOf("2026-01-01T00:00:01Z a", "2026-01-01T00:00:02Z b", "2026-01-01T00:00:03Z c"), logOf("2026-01-01T00:00:02Z b", "2026-01-01T00:00:03Z c", "2026-01-01T00:00:04Z d"), logOf("2026-01-01T00:00:03Z c", "2026-01-01T00:00:04Z d", "2026-01-01T00:00:05Z e")},
			want:  []string{"a", "b", "c", "d", "e"},
		},
		{
			name:  "window dropped old lines that repeat",
			reads: []string{logOf(ts0+"a", ts0+"b", ts0+"a", ts0+"b"), logOf(ts0+"b", ts0+"a", ts0+"b", ts0+"c")},
			want:  []string{"a", "b", "a", "b", "c"},
		},
		{
			name:  "window dropped a line in half",
			reads: []string{logOf("2026-01-01T00:00:01Z aaaa", "2026-01-01T00:00:02Z b"), "aa\n" + logOf("2026-01-01T00:00:02Z b", "2026-01-01T00:00:03Z c")},
			want:  []string{"aaaa", "b", "c"},
		},
		{
			name:  "window moved past everything emitted",
			reads: []string{logOf("2026-01-01T00:00:01Z a"), logOf("2026-01-01T00:00:05Z e", "2026-01-01T00:00:06Z f")},
			want:  []string{"a", "e", "f"},
			gaps:  1,
		},
		{
			name:  "lines without timestamps pass whole",
			reads: []string{"plain line\nanother\n"},
			want:  []string{"plain line", "another"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f LogFollower
			var got []string
			for i, r := range tc.reads {
				if i == len(tc.reads)-1 {
					got = append(got, texts(f.Finish(r))...)
				} else {
					got = append(got, texts(f.Feed(r))...)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
			if f.Gaps() != tc.gaps {
				t.Errorf("gaps = %d, want %d", f.Gaps(), tc.gaps)
			}
			if f.Emitted() != len(tc.want) {
				t.Errorf("Emitted() = %d, want %d", f.Emitted(), len(tc.want))
			}
			if more := f.Feed(tc.reads[len(tc.reads)-1] + "late\n"); len(more) != 0 {
				t.Errorf("after Finish got %q", texts(more))
			}
		})
	}
}

func TestLogFollowerTimestamps(t *testing.T) {
	t.Parallel()
	var f LogFollower
	got := f.Feed("2026-03-04T05:06:07.123456789Z hello world\n")
	if len(got) != 1 || got[0].Text != "hello world" || got[0].Timestamp.Nanosecond() != 123456789 || got[0].Timestamp.Second() != 7 {
		t.Fatalf("got %+v", got)
	}
}

// TestLogFollowerRandomReads cuts one log of many identical lines with
// identical timestamps at random points, as reads racing a writer would,
// and checks every line arrives exactly once and in order.
func TestLogFollowerRandomReads(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var lines []string
		for i := range 5000 {
			lines = append(lines, ts0+fmt.Sprintf("line %d", i%3))
		}
		full := logOf(lines...)
		var f LogFollower
		var got []string
		pos := 0
		for pos < len(full) {
			pos = min(len(full), pos+rng.IntN(400))
			got = append(got, texts(f.Feed(full[:pos]))...)
		}
		got = append(got, texts(f.Finish(full))...)
		if len(got) != len(lines) {
			t.Fatalf("seed %d: %d lines, want %d", seed, len(got), len(lines))
		}
		for i, g := range got {
			if want := fmt.Sprintf("line %d", i%3); g != want {
				t.Fatalf("seed %d: line %d = %q, want %q", seed, i, g, want)
			}
		}
	}
}

// TestLogFollowerSlidingWindow keeps only the last bytes of the log, as
// Azure's 4 MB cap does, with reads frequent enough that the window always
// still holds the last emitted lines: nothing may be lost or repeated.
func TestLogFollowerSlidingWindow(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	var lines []string
	for i := range 3000 {
		lines = append(lines, fmt.Sprintf("2026-01-01T00:00:%02d.%09dZ n%d", i/100, i, i))
	}
	full := logOf(lines...)
	const window = 2000
	var f LogFollower
	var got []string
	pos := 0
	for pos < len(full) {
		pos = min(len(full), pos+rng.IntN(window/2))
		got = append(got, texts(f.Feed(full[max(0, pos-window):pos]))...)
	}
	got = append(got, texts(f.Finish(full[len(full)-window:]))...)
	for i, g := range got {
		if want := fmt.Sprintf("n%d", i); g != want {
			t.Fatalf("line %d = %q, want %q", i, g, want)
		}
	}
	if len(got) != len(lines) {
		t.Fatalf("%d lines, want %d", len(got), len(lines))
	}
	if f.Gaps() != 0 {
		t.Errorf("gaps = %d, want 0", f.Gaps())
	}
}

// BenchmarkLogFollowerFeed measures a poll of a log near Azure's 4 MB
// window: the cost of checking the cursor, paid on every read.
func BenchmarkLogFollowerFeed(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 4<<20; i++ {
		fmt.Fprintf(&sb, "2026-01-01T00:00:00.%09dZ line %d of the benchmark log\n", i%1000000000, i)
	}
	full := sb.String()
	cut := len(full) - 4096
	cut = strings.LastIndexByte(full[:cut], '\n') + 1
	var f LogFollower
	f.Feed(full[:cut])
	b.SetBytes(int64(len(full)))
	b.ReportAllocs()
	for b.Loop() {
		f.Feed(full)
	}
}
