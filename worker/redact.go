package worker

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/aciworker/aciworker/aci"
)

// redactor removes every secret the worker has seen from text it writes.
// Secrets are added as runs are prepared and never removed: a value that
// was a secret once stays one.
type redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	r       *strings.Replacer
}

func newRedactor(secrets ...string) *redactor {
	d := &redactor{secrets: map[string]bool{}}
	d.add(secrets...)
	return d
}

func (d *redactor) add(secrets ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if s != "" && !d.secrets[s] {
			d.secrets[s] = true
			changed = true
		}
	}
	if !changed {
		return
	}
	list := make([]string, 0, len(d.secrets))
	for s := range d.secrets {
		list = append(list, s)
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, aci.Redacted)
	}
	d.r = strings.NewReplacer(pairs...)
}

func (d *redactor) String(s string) string {
	d.mu.RLock()
	r := d.r
	d.mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// redactedError keeps the chain for errors.Is while hiding secrets in the
// message.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (d *redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	var re *redactedError
	if errors.As(err, &re) && re == err {
		return err
	}
	return &redactedError{msg: d.String(err.Error()), err: err}
}

// redactHandler is a slog handler that redacts messages and attribute
// values, so that no log line of the worker carries a secret whatever its
// source (an error echoing a request, a template, ...).
type redactHandler struct {
	next slog.Handler
	d    *redactor
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.d.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.d.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, 0, len(attrs))
		for _, g := range attrs {
			out = append(out, h.attr(g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.d.String(err.Error()))
		}
		return slog.String(a.Key, h.d.String(v.String()))
	default:
		return a
	}
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, h.attr(a))
	}
	return redactHandler{next: h.next.WithAttrs(out), d: h.d}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name), d: h.d}
}
