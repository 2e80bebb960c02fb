package aci

import (
	"io"
	"strings"
	"sync"
)

// Redacted replaces secret values in everything aciworker prints.
const Redacted = "***"

// Redactor removes secret values from text. It never changes once built,
// so it is safe for concurrent use without locks.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor redacts the given values. Values shorter than MinSecretLength
// are ignored: hiding "1" or "true" would garble every log line that holds
// them.
func NewRedactor(secrets ...string) *Redactor {
	var pairs []string
	// Longest first, so that a secret holding another is replaced whole.
	for _, s := range sortSecrets(secrets) {
		if len(s) >= MinSecretLength {
			pairs = append(pairs, s, Redacted)
		}
	}
	if len(pairs) == 0 {
		return &Redactor{}
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns err with a redacted message; errors.Is and errors.As still
// see the original chain.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil || r.r == nil {
		return err
	}
	msg := err.Error()
	if red := r.String(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Writer redacts each write. Progress messages are written whole, so a
// secret is never split across two writes.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &redactWriter{r: r, w: w}
}

type redactWriter struct {
	mu sync.Mutex
	r  *Redactor
	w  io.Writer
}

func (w *redactWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.w, w.r.String(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}
