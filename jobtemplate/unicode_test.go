package jobtemplate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp/syntax"
	"sort"
	"testing"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

// TestUnicodeMatchesPython checks every code point against the Python that
// runs Prefect: which characters Prefect's placeholder regex takes as name
// characters and as surrounding whitespace (Python's \w and \s are Unicode,
// RE2's are ASCII), which ones repr() escapes, and which ones int() reads as
// digits. The corpus cannot cover a million code points; this can.
//
// The one tolerated difference: characters unassigned in Python's Unicode
// version but assigned in Go's (a newer one) are classified by Go's tables.
func TestUnicodeMatchesPython(t *testing.T) {
	t.Parallel()
	venv := pyvenv.Require(t)
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), filepath.Join("testdata", "unicode.py"))
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_API_URL=http://127.0.0.1:9/api")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var py struct {
		UnidataVersion                   string `json:"unidata_version"`
		Name, Space, Escaped, Unassigned [][2]rune
		Digits                           [][2]int64
	}
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}
	in := func(rs [][2]rune) func(rune) bool {
		return func(c rune) bool {
			i := sort.Search(len(rs), func(i int) bool { return rs[i][1] >= c })
			return i < len(rs) && rs[i][0] <= c
		}
	}
	pyName, pySpaceSet, pyEscaped, unassigned := in(py.Name), in(py.Space), in(py.Escaped), in(py.Unassigned)
	pyDigit := map[rune]int64{}
	for _, d := range py.Digits {
		pyDigit[rune(d[0])] = d[1]
	}

	nameClass, spaceClass := placeholderClasses(t)
	checks := []struct {
		what string
		py   func(rune) bool
		goF  func(rune) bool
	}{
		{"placeholder name character", pyName, nameClass},
		{"placeholder whitespace", pySpaceSet, spaceClass},
		{"escaped by repr", pyEscaped, func(c rune) bool { return reprString(string(c)) != "'"+string(c)+"'" }},
	}
	tolerated := 0
	for c := rune(0); c <= 0x10FFFF; c++ {
		if c >= 0xD800 && c <= 0xDFFF {
			continue
		}
		for _, ch := range checks {
			if p, g := ch.py(c), ch.goF(c); p != g {
				if unassigned(c) {
					tolerated++
					continue
				}
				t.Errorf("U+%04X: %s: Python %v, Go %v", c, ch.what, p, g)
			}
		}
		pv, pok := pyDigit[c]
		gv, gok := pyInt(string(c))
		if pok != gok || (pok && pv != gv) {
			if unassigned(c) {
				tolerated++
				continue
			}
			t.Errorf("U+%04X: int(): Python %v %v, Go %v %v", c, pv, pok, gv, gok)
		}
	}
	t.Logf("Python Unicode %s; %d differences on code points Python's version leaves unassigned", py.UnidataVersion, tolerated)
}

// placeholderClasses returns membership tests for the two character classes
// of placeholderRE, read from the compiled pattern itself: the name class
// (the repeated class in capture group 2) and the whitespace class (the
// class under the first star). Matching a million one-character templates
// would test the same thing, twenty times slower under the race detector.
func placeholderClasses(t *testing.T) (name, space func(rune) bool) {
	t.Helper()
	re, err := syntax.Parse(placeholderRE.String(), syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	var nameRunes, spaceRunes []rune
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch {
		case r.Op == syntax.OpCapture && r.Cap == 2 && r.Sub[0].Op == syntax.OpPlus && r.Sub[0].Sub[0].Op == syntax.OpCharClass:
			nameRunes = r.Sub[0].Sub[0].Rune
		case r.Op == syntax.OpStar && r.Sub[0].Op == syntax.OpCharClass && spaceRunes == nil:
			spaceRunes = r.Sub[0].Rune
		}
		for _, s := range r.Sub {
			walk(s)
		}
	}
	walk(re)
	if nameRunes == nil || spaceRunes == nil {
		t.Fatalf("placeholderRE %s: name or whitespace class not found", placeholderRE)
	}
	// Check the reading of the pattern on a few characters with the regexp.
	for _, c := range []rune{'a', 'é', '١', '_', '$', ' ', '\v', 0x3000, 0x200b, 0x301} {
		full := "{{ " + string(c) + " }}"
		if got := placeholderRE.FindString(full) == full; got != inClass(nameRunes, c) {
			t.Fatalf("U+%04X: regexp says name character %v, class says %v", c, got, !got)
		}
		full = "{{" + string(c) + "a}}"
		m := placeholderRE.FindStringSubmatch(full)
		if got := m != nil && m[0] == full && m[2] == "a"; got != inClass(spaceRunes, c) {
			t.Fatalf("U+%04X: regexp says whitespace %v, class says %v", c, got, !got)
		}
	}
	return func(c rune) bool { return inClass(nameRunes, c) }, func(c rune) bool { return inClass(spaceRunes, c) }
}

// inClass tests a syntax.Regexp rune class: sorted [lo, hi] pairs.
func inClass(pairs []rune, c rune) bool {
	i := sort.Search(len(pairs)/2, func(i int) bool { return pairs[2*i+1] >= c })
	return i < len(pairs)/2 && pairs[2*i] <= c
}
