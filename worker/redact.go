package worker

import (
	"context"
	"log/slog"

	"github.com/aciworker/aciworker/aci"
)

// Redaction is per run. The worker's own secrets are hidden everywhere; a
// run's secrets (its secret variables, registry password, credentials
// block) only in what is written about that run: its logs, its Crashed
// message, its container's output, and worker log lines that carry its
// flow_run_id. Each redactor is built once and never changes, so a run's
// secrets cost nothing to other runs and reads take no lock; a run's
// redactor is forgotten when the run leaves the worker. Values shorter than
// aci.MinSecretLength are not looked for (see there).

// setRunRedactor builds the redactor of a run from its secrets and the
// worker's own.
func (w *Worker) setRunRedactor(id string, secrets ...string) *aci.Redactor {
	d := aci.NewRedactor(append(secrets, w.ownSecrets...)...)
	w.reds.Store(id, d)
	return d
}

// redactorFor returns the redactor of a run in flight, else the worker's.
func (w *Worker) redactorFor(id string) *aci.Redactor {
	if d, ok := w.reds.Load(id); ok {
		return d.(*aci.Redactor)
	}
	return w.red
}

// redactHandler is a slog handler that redacts messages and attribute
// values, so that no log line of the worker carries a secret whatever its
// source (an error echoing a request, a template, ...). A record with a
// flow_run_id attribute is redacted with that run's secrets too.
type redactHandler struct {
	next   slog.Handler
	d      *aci.Redactor
	forRun func(id string) *aci.Redactor
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	d := h.d
	if h.forRun != nil {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "flow_run_id" && a.Value.Kind() == slog.KindString {
				d = h.forRun(a.Value.String())
				return false
			}
			return true
		})
	}
	out := slog.NewRecord(r.Time, r.Level, d.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(d, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func redactAttr(d *aci.Redactor, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, d.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, 0, len(attrs))
		for _, g := range attrs {
			out = append(out, redactAttr(d, g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, d.String(err.Error()))
		}
		return slog.String(a.Key, d.String(v.String()))
	default:
		return a
	}
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, redactAttr(h.d, a))
	}
	return redactHandler{next: h.next.WithAttrs(out), d: h.d, forRun: h.forRun}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name), d: h.d, forRun: h.forRun}
}
