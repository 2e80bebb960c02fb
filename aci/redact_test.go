package aci

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	d := NewRedactor("s3cret-one", "s3cret-one-longer", "", "1", "short")
	for in, want := range map[string]string{
		"a s3cret-one-longer and s3cret-one": "a *** and ***",
		// Values under MinSecretLength are not looked for.
		"exit 1, short": "exit 1, short",
	} {
		if got := d.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	base := errors.New("bad s3cret-one")
	if err := d.Error(base); err.Error() != "bad ***" || !errors.Is(err, base) {
		t.Errorf("Error: %v (Is %v)", err, errors.Is(err, base))
	}
	var nilRed *Redactor
	if got := nilRed.String("plain s3cret-one"); got != "plain s3cret-one" {
		t.Errorf("nil redactor: %q", got)
	}
}

// FuzzRedactor: whatever the secrets and the text, no secret of
// MinSecretLength or more that holds no '*' survives in the output (a '*'
// could join with the replacement to spell it again), and text holding no
// secret is unchanged.
func FuzzRedactor(f *testing.F) {
	f.Add("s3cret-value", "other-secret", "x s3cret-value y other-secrets3cret-value")
	f.Add("aaaaaaaa", "aaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("abcabcab", "cabcabca", "abcabcabcabcabca")
	f.Add("ünïcödé-key", "1", "ünïcödé-keyünïcödé-key 1")
	f.Fuzz(func(t *testing.T, s1, s2, text string) {
		d := NewRedactor(s1, s2)
		out := d.String(text)
		held := false
		for _, s := range []string{s1, s2} {
			if len(s) < MinSecretLength {
				continue
			}
			held = held || strings.Contains(text, s)
			if !strings.Contains(s, "*") && strings.Contains(out, s) {
				t.Fatalf("secret %q survives in %q (from %q)", s, out, text)
			}
		}
		if !held && out != text {
			t.Fatalf("text without secrets changed: %q -> %q", text, out)
		}
	})
}

// BenchmarkNewRedactor is the cost of one run's redactor: built once per
// run, off every lock, whatever the number of secrets.
func BenchmarkNewRedactor(b *testing.B) {
	for _, n := range []int{10, 20000} {
		secrets := make([]string, n)
		for i := range secrets {
			secrets[i] = fmt.Sprintf("secret-value-%08d", i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				NewRedactor(secrets...)
			}
		})
	}
}
