package aci

import (
	"hash/maphash"
	"strings"
	"time"
)

// LogLine is one line of container output.
type LogLine struct {
	Timestamp time.Time // zero when the line carried no timestamp
	Text      string
	// Partial marks a last line that ended without a newline; only Finish
	// returns one.
	Partial bool
}

// LogFollower turns repeated full reads of a container log (Azure serves the
// whole log, up to a 4 MB window, every time) into a stream of new lines,
// each exactly once and in order. prefect-azure reads a 100-line tail and
// keeps lines newer than the last timestamp it printed, which drops lines
// that share a timestamp and lines beyond the tail; this keeps a cursor
// instead: the byte length of the log it has emitted and a hash of those
// bytes. While the window still starts where it did, the next read must
// begin with exactly those bytes, so identical lines and identical
// timestamps cannot confuse it. When Azure has dropped old output from the
// front of the window, it finds the last emitted lines again in the new read.
//
// The zero value is ready to use. A LogFollower is not safe for concurrent
// use.
type LogFollower struct {
	seed    maphash.Seed
	seeded  bool
	h       maphash.Hash // of the log bytes before offset
	offset  int          // bytes of the current window already emitted
	emitted int
	tail    []string // the last emitted raw lines, oldest first
	gaps    int
	done    bool
}

// tailLines is how many emitted lines are kept to find the position again
// after the window moved.
const tailLines = 64

// Feed takes a full read of the log and returns the complete lines not
// returned before. A trailing line without its newline waits for the next
// read.
func (f *LogFollower) Feed(content string) []LogLine {
	return f.feed(content, false)
}

// Finish takes the last read, after the container terminated, and returns
// the remaining lines including a final line without a newline.
func (f *LogFollower) Finish(content string) []LogLine {
	out := f.feed(content, true)
	f.done = true
	return out
}

// Emitted is the number of lines returned so far.
func (f *LogFollower) Emitted() int { return f.emitted }

// Gaps counts reads where output may have been lost because Azure dropped
// more of the log than was left unread since the previous read.
func (f *LogFollower) Gaps() int { return f.gaps }

func (f *LogFollower) feed(content string, final bool) []LogLine {
	if f.done || content == "" {
		// An empty read tells nothing (Azure sometimes returns one under
		// load); keep the cursor.
		return nil
	}
	if !f.seeded {
		f.seed = maphash.MakeSeed()
		f.h.SetSeed(f.seed)
		f.seeded = true
	}
	end := strings.LastIndexByte(content, '\n') + 1
	if final {
		end = len(content)
	}
	start := f.offset
	if f.offset > len(content) || maphash.String(f.seed, content[:f.offset]) != f.h.Sum64() {
		start = f.realign(content[:max(end, 0)])
		f.h.Reset()
		f.h.WriteString(content[:start])
		f.offset = start
	}
	if start >= end {
		return nil
	}
	var out []LogLine
	chunk := content[start:end]
	for len(chunk) > 0 {
		i := strings.IndexByte(chunk, '\n')
		var raw string
		partial := i < 0
		if partial {
			raw, chunk = chunk, ""
		} else {
			raw, chunk = chunk[:i], chunk[i+1:]
		}
		l := parseLogLine(raw)
		l.Partial = partial
		out = append(out, l)
		f.remember(raw)
	}
	f.h.WriteString(content[start:end])
	f.offset = end
	f.emitted += len(out)
	return out
}

func (f *LogFollower) remember(raw string) {
	if len(f.tail) == tailLines {
		copy(f.tail, f.tail[1:])
		f.tail = f.tail[:tailLines-1]
	}
	f.tail = append(f.tail, raw)
}

// realign finds where new output starts in a window that no longer begins
// with what was emitted: right after the occurrence of the last emitted
// line whose preceding lines best match the lines emitted before it. Among
// equally good matches the latest wins, since Azure drops only as much as
// was appended.
func (f *LogFollower) realign(window string) int {
	lines := strings.SplitAfter(window, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(f.tail) > 0 {
		bestEnd, bestScore, ties := -1, 0, 0
		pos := 0
		for j, l := range lines {
			pos += len(l)
			if strings.TrimSuffix(l, "\n") != f.tail[len(f.tail)-1] {
				continue
			}
			score := 1
			for k := 1; k < len(f.tail) && j-k >= 0; k++ {
				if strings.TrimSuffix(lines[j-k], "\n") != f.tail[len(f.tail)-1-k] {
					break
				}
				score++
			}
			switch {
			case score > bestScore:
				bestEnd, bestScore, ties = pos, score, 1
			case score == bestScore:
				bestEnd = pos
				ties++
			}
		}
		if bestEnd >= 0 {
			if ties > 1 {
				// Repeated identical lines: the position is a best guess.
				f.gaps++
			}
			return bestEnd
		}
	}
	if f.emitted > 0 {
		f.gaps++
	}
	// Nothing emitted is left: everything is new, except a first line cut
	// in half by the window.
	if len(lines) > 1 && parseLogLine(strings.TrimSuffix(lines[0], "\n")).Timestamp.IsZero() && !parseLogLine(strings.TrimSuffix(lines[1], "\n")).Timestamp.IsZero() {
		return len(lines[0])
	}
	return 0
}

// parseLogLine splits "TIMESTAMP text" as Azure returns lines with
// timestamps=true; a line without a timestamp is kept whole.
func parseLogLine(raw string) LogLine {
	sp := strings.IndexByte(raw, ' ')
	ts := raw
	if sp >= 0 {
		ts = raw[:sp]
	}
	if len(ts) < len("2006-01-02T15:04:05Z") || ts[4] != '-' {
		return LogLine{Text: raw}
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return LogLine{Text: raw}
	}
	if sp < 0 {
		return LogLine{Timestamp: t}
	}
	return LogLine{Timestamp: t, Text: raw[sp+1:]}
}
