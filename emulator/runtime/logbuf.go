package runtime

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Log limits from ACI's quota documentation: a running instance serves up to
// 4 MB of log; a stopped one 16 KB or 1,000 lines.
const (
	RunningLogBytes = 4 << 20
	StoppedLogBytes = 16 << 10
	StoppedLogLines = 1000
)

// maxLineBytes bounds a line that never ends, so one endless line (a progress
// bar without newlines) cannot grow without limit; longer lines are split.
const maxLineBytes = 256 << 10

// tsLayout is RFC 3339 with fixed-width nanoseconds, as Docker and Kubernetes
// print log timestamps; fixed width keeps the first token easy to parse and
// lines sortable as text.
const tsLayout = "2006-01-02T15:04:05.000000000Z07:00"

type logLine struct {
	ts   string
	text string
	nl   bool // ended by a newline (false: cut at EOF or at maxLineBytes)
}

func (l logLine) size() int {
	if l.nl {
		return len(l.text) + 1
	}
	return len(l.text)
}

// partial is a stream's line that has started but not yet ended.
type partial struct {
	text []byte
	ts   string
	seq  uint64 // orders partial lines of different streams by arrival
}

// logBuffer is one container's log: complete lines in arrival order from all
// streams, plus each stream's unfinished line. Lines are dropped from the
// front when a limit is exceeded; the slice is compacted lazily so appends
// and drops are amortised O(1) and reads copy each byte once.
type logBuffer struct {
	mu       sync.Mutex
	lines    []logLine
	head     int
	bytes    int // size of lines[head:]
	maxBytes int // 0: unlimited
	maxLines int // 0: unlimited
	pending  [2]partial
	seq      uint64

	res    time.Duration
	now    func() time.Time
	lastT  time.Time
	lastTS string
}

func newLogBuffer(res time.Duration, now func() time.Time) *logBuffer {
	if now == nil {
		now = time.Now
	}
	return &logBuffer{res: res, now: now, maxBytes: RunningLogBytes}
}

// stampLocked returns the arrival timestamp for data arriving now. It never
// goes backwards, so log order and timestamp order agree even if the wall
// clock steps back.
func (b *logBuffer) stampLocked() string {
	t := b.now().UTC()
	if b.res > 0 {
		t = t.Truncate(b.res)
	}
	if !b.lastT.IsZero() && !t.After(b.lastT) {
		return b.lastTS
	}
	b.lastT = t
	b.lastTS = t.Format(tsLayout)
	return b.lastTS
}

// write records data read from stream (0 stdout, 1 stderr).
func (b *logBuffer) write(stream int, p []byte) {
	if len(p) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := b.stampLocked()
	pd := &b.pending[stream]
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		// One allocation per read; lines are substrings of it.
		s := string(p[:i+1])
		first := true
		for len(s) > 0 {
			j := strings.IndexByte(s, '\n')
			text := s[:j]
			if first && len(pd.text) > 0 {
				text = string(pd.text) + text
				pd.text = pd.text[:0]
			}
			first = false
			b.appendLocked(logLine{ts: ts, text: text, nl: true})
			s = s[j+1:]
		}
		p = p[i+1:]
	}
	if len(p) > 0 {
		pd.text = append(pd.text, p...)
		for len(pd.text) >= maxLineBytes {
			b.appendLocked(logLine{ts: ts, text: string(pd.text[:maxLineBytes])})
			pd.text = append(pd.text[:0], pd.text[maxLineBytes:]...)
		}
	}
	if len(pd.text) > 0 {
		b.seq++
		pd.ts, pd.seq = ts, b.seq
	}
	b.trimLocked()
}

// flush ends stream's unfinished line, at EOF.
func (b *logBuffer) flush(stream int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pd := &b.pending[stream]
	if len(pd.text) == 0 {
		return
	}
	b.appendLocked(logLine{ts: b.stampLocked(), text: string(pd.text)})
	*pd = partial{}
	b.trimLocked()
}

func (b *logBuffer) appendLocked(l logLine) {
	b.lines = append(b.lines, l)
	b.bytes += l.size()
}

// setLimits changes the caps and applies them at once (0: unlimited).
func (b *logBuffer) setLimits(maxBytes, maxLines int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxBytes, b.maxLines = maxBytes, maxLines
	b.trimLocked()
}

func (b *logBuffer) trimLocked() {
	over := func() bool {
		n := len(b.lines) - b.head
		return n > 0 && ((b.maxBytes > 0 && b.bytes > b.maxBytes) || (b.maxLines > 0 && n > b.maxLines))
	}
	for over() {
		n := len(b.lines) - b.head
		if n == 1 && (b.maxLines == 0 || n <= b.maxLines) {
			// A single line larger than the byte cap keeps its tail rather
			// than leaving the log empty.
			l := &b.lines[b.head]
			keep := b.maxBytes
			if l.nl {
				keep--
			}
			l.text = utf8Tail(l.text, keep)
			b.bytes = l.size()
			break
		}
		b.bytes -= b.lines[b.head].size()
		b.lines[b.head] = logLine{}
		b.head++
	}
	if b.head > 1024 && b.head*2 > len(b.lines) {
		n := copy(b.lines, b.lines[b.head:])
		clear(b.lines[n:])
		b.lines = b.lines[:n]
		b.head = 0
	}
}

// utf8Tail returns at most n trailing bytes of s, not starting inside a
// UTF-8 sequence.
func utf8Tail(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && s[i]&0xC0 == 0x80 {
		i++
	}
	return s[i:]
}

// render returns the last tail entries (tail<=0: all), each ended by a
// newline except an unfinished last line, optionally prefixed with its
// timestamp and a space.
func (b *logBuffer) render(tail int, timestamps bool) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var parts []partial
	for _, p := range b.pending {
		if len(p.text) > 0 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 2 && parts[0].seq > parts[1].seq {
		parts[0], parts[1] = parts[1], parts[0]
	}
	lines := b.lines[b.head:]
	total := len(lines) + len(parts)
	skip := 0
	if tail > 0 && tail < total {
		skip = total - tail
	}
	// Partial lines come last, so a skip beyond the complete lines only
	// drops partials.
	if skip > len(lines) {
		parts = parts[skip-len(lines):]
		skip = len(lines)
	}
	lines = lines[skip:]

	size := 0
	for _, l := range lines {
		size += len(l.text) + 1
		if timestamps {
			size += len(l.ts) + 1
		}
	}
	for _, p := range parts {
		size += len(p.text) + 1
		if timestamps {
			size += len(p.ts) + 1
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	n, i := len(lines)+len(parts), 0
	end := func(nl bool) {
		i++
		if nl || i < n {
			sb.WriteByte('\n')
		}
	}
	for _, l := range lines {
		if timestamps {
			sb.WriteString(l.ts)
			sb.WriteByte(' ')
		}
		sb.WriteString(l.text)
		end(l.nl)
	}
	for _, p := range parts {
		if timestamps {
			sb.WriteString(p.ts)
			sb.WriteByte(' ')
		}
		sb.Write(p.text)
		end(false)
	}
	return sb.String()
}

// lineCount reports complete lines held, for tests.
func (b *logBuffer) lineCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines) - b.head
}
