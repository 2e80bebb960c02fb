package emulator_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// TestAdminAPINeedsTheClientSecret: the admin API's knobs kill containers
// and fail requests, so it answers only to the emulator's client secret.
func TestAdminAPINeedsTheClientSecret(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	armToken := newRaw(t, s).token
	for _, tc := range []struct {
		name, method, path, bearer string
		body                       any
		status                     int
		code                       string
	}{
		{"no credential", "GET", "/_emulator/counters", "", nil, 401, "AuthenticationFailed"},
		{"wrong secret", "GET", "/_emulator/requests", "emu~not-the-secret", nil, 401, "InvalidAuthenticationToken"},
		{"an ARM token is not the secret", "GET", "/_emulator/counters", armToken, nil, 401, "InvalidAuthenticationToken"},
		{"no credential, a fault", "POST", "/_emulator/faults", "", map[string]any{"op": "containerGroups.get", "status": 500, "code": "X"}, 401, "AuthenticationFailed"},
		{"no credential, a kill", "POST", "/_emulator/kill", "", map[string]any{"resourceGroup": s.set.ResourceGroup, "group": "g"}, 401, "AuthenticationFailed"},
		{"the client secret", "GET", "/_emulator/counters", s.set.ClientSecret, nil, 200, ""},
		{"the client secret, a throttling change", "POST", "/_emulator/throttling", s.set.ClientSecret, map[string]any{"enabled": true}, 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := (&raw{t: t, e: e, token: tc.bearer}).do(tc.method, tc.path, tc.body)
			if r.status != tc.status || r.code() != tc.code {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.code)
			}
			if strings.Contains(string(r.body), s.set.ClientSecret) {
				t.Fatalf("the answer echoes the secret: %s", r.body)
			}
		})
	}
	// The refused fault was not installed.
	if r := newRaw(t, s).do("GET", groupsPath(s.set, "g")+"?api-version=2023-05-01", nil); r.status != http.StatusNotFound {
		t.Fatalf("GET after a refused fault: %d %s", r.status, r.body)
	}
}

func TestWarnsWhenListeningBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"0.0.0.0:0", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			emutest.Start(t, func(c *emulator.Config) {
				c.Addr = tc.addr
				c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
			})
			if got := strings.Contains(buf.String(), "processes on this host"); got != tc.warn {
				t.Fatalf("warned %v, want %v; log:\n%s", got, tc.warn, buf.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
