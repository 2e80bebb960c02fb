// Package logging builds the process's slog.Logger from the two things an
// operator sets: the format (text for people, JSON lines for log
// collectors) and the level, named as Prefect names it
// (PREFECT_LOGGING_LEVEL), so one setting quiets the worker and its flows.
package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// FormatEnv and LevelEnv are the environment variables a command reads when
// its flags leave the format or level unset.
const (
	FormatEnv = "ACIWORKER_LOG_FORMAT"
	LevelEnv  = "PREFECT_LOGGING_LEVEL"
)

// Format is how records are written.
type Format string

const (
	Text Format = "text"
	JSON Format = "json"
)

// ParseFormat accepts "text" or "json" in any case; "" is text.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "", Text:
		return Text, nil
	case JSON:
		return JSON, nil
	default:
		return "", fmt.Errorf("log format %q is not text or json", s)
	}
}

// LevelCritical is Prefect's (Python's) CRITICAL, above slog's ERROR.
const LevelCritical = slog.LevelError + 4

// levels are the values Prefect's LogLevel setting accepts, case-insensitive
// (prefect/types: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]);
// Prefect rejects anything else, WARN and numbers included, and so do we.
var levels = map[string]slog.Level{
	"DEBUG":    slog.LevelDebug,
	"INFO":     slog.LevelInfo,
	"WARNING":  slog.LevelWarn,
	"ERROR":    slog.LevelError,
	"CRITICAL": LevelCritical,
}

// ParseLevel reads a Prefect log level; "" is INFO, Prefect's default.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return slog.LevelInfo, nil
	}
	if l, ok := levels[strings.ToUpper(s)]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("log level %q is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL", s)
}

// New returns a logger writing records at level or above to w.
func New(w io.Writer, format Format, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: nameCritical}
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// nameCritical prints CRITICAL instead of slog's "ERROR+4".
func nameCritical(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok && l >= LevelCritical {
			a.Value = slog.StringValue("CRITICAL")
		}
	}
	return a
}

// LineWriter turns each line written to it into one record of logger at
// level, with prefix trimmed: a bridge for code that reports progress to
// an io.Writer, so that its lines are JSON records like the rest. Call
// Flush to log a last line without its newline.
type LineWriter struct {
	log    *slog.Logger
	level  slog.Level
	prefix string

	mu  sync.Mutex
	buf []byte
}

// NewLineWriter returns a LineWriter; prefix (e.g. "aciworker: ") is cut
// from the front of each line.
func NewLineWriter(log *slog.Logger, level slog.Level, prefix string) *LineWriter {
	return &LineWriter{log: log, level: level, prefix: prefix}
}

func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		lw.emit(string(lw.buf[:i]))
		lw.buf = lw.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs what is left of an unfinished line.
func (lw *LineWriter) Flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) > 0 {
		lw.emit(string(lw.buf))
		lw.buf = nil
	}
}

func (lw *LineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	msg, level := strings.TrimPrefix(line, lw.prefix), lw.level
	// Progress text marks its warnings in words; keep them warnings.
	if rest, ok := strings.CutPrefix(msg, "warning: "); ok && level < slog.LevelWarn {
		msg, level = rest, slog.LevelWarn
	}
	lw.log.Log(context.Background(), level, msg)
}

var _ io.Writer = (*LineWriter)(nil)
