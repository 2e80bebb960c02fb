package soak

import (
	"bytes"
	"encoding/base64"
	"sort"
	"strings"
)

// Secret is one secret value the soak hands to the system under test, in
// one of the spellings it could leak in.
type Secret struct {
	Name  string // e.g. "auth string", "auth string (Basic header)"
	Value string
}

// SecretHit is one surface found holding a secret.
type SecretHit struct {
	Surface string // e.g. "worker output", "Prefect logs", "deployment GET"
	Where   string // a file, a flow run id, a deployment name
	Secret  string // the secret's name, never its value
	Count   int
}

// minSecretLen keeps short fragments from matching by chance.
const minSecretLen = 8

// Spellings returns the forms a secret can leak in: itself and base64 of
// it (an HTTP Basic header, a JSON []byte); for a "user:password" auth
// string also the password alone.
func Spellings(name, value string) []Secret {
	var out []Secret
	add := func(n, v string) {
		if len(v) >= minSecretLen {
			out = append(out, Secret{Name: n, Value: v})
		}
	}
	add(name, value)
	add(name+" (base64)", base64.StdEncoding.EncodeToString([]byte(value)))
	if user, pass, ok := strings.Cut(value, ":"); ok && user != "" {
		add(name+" (password part)", pass)
	}
	return out
}

// Scanner finds secrets in text.
type Scanner struct{ secrets []Secret }

// NewScanner scans for every spelling given.
func NewScanner(secrets ...[]Secret) *Scanner {
	s := &Scanner{}
	for _, list := range secrets {
		s.secrets = append(s.secrets, list...)
	}
	return s
}

// Scan reports each secret found in data, with its number of occurrences.
func (s *Scanner) Scan(surface, where string, data []byte) []SecretHit {
	var hits []SecretHit
	for _, sec := range s.secrets {
		if n := bytes.Count(data, []byte(sec.Value)); n > 0 {
			hits = append(hits, SecretHit{Surface: surface, Where: where, Secret: sec.Name, Count: n})
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Secret < hits[j].Secret })
	return hits
}
