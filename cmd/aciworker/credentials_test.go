package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// Credentials that give no token fail the run once, before anything is
// deployed: one block naming the credential and why it failed, no
// clean-up messages, no secret.
func TestRunCredentialErrorOnce(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	env := emuEnv(emu)
	const wrong = "wrong-secret-value-1234"
	env["AZURE_CLIENT_SECRET"] = wrong
	deps := cmdDeps{getenv: func(k string) string { return env[k] }, transport: emu.Client()}
	res := runCommandWith(t, t.Context(), deps, "", nil, nil, "--", "echo", "hi")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", res.code, res.stderr)
	}
	if n := strings.Count(res.stderr, "Azure credentials: no token"); n != 1 {
		t.Errorf("the credential error appears %d times, want once:\n%s", n, res.stderr)
	}
	for _, bad := range []string{"submitting deployment", "clean-up", "deleted", wrong} {
		if strings.Contains(res.stderr, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, res.stderr)
		}
	}
	if !strings.Contains(res.stderr, "ClientSecretCredential") {
		t.Errorf("stderr does not name the credential tried:\n%s", res.stderr)
	}
	for _, r := range emu.RequestLog() {
		if strings.Contains(r.Path, "/providers/Microsoft.") {
			t.Errorf("an ARM request was made after the credential failed: %s %s", r.Method, r.Path)
		}
	}
}

// A run that fails says why first, once, and then what its clean-up did:
// the clean-up's messages never come before the cause, and the cause is
// not repeated after them.
func TestRunFailureCauseBeforeCleanup(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, func(c *emulator.Config) { c.ProvisionDelay = time.Minute })
	res := runCommand(t, t.Context(), emu, "", nil, "--start-timeout", "500ms", "--poll-interval", "50ms", "--", "true")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", res.code, res.stderr)
	}
	cause := "did not start within 500ms"
	if n := strings.Count(res.stderr, cause); n != 1 {
		t.Fatalf("the cause %q appears %d times, want once:\n%s", cause, n, res.stderr)
	}
	at := strings.Index(res.stderr, cause)
	for _, msg := range []string{"deleted container group", "deleted deployment record"} {
		if i := strings.Index(res.stderr, msg); i < at {
			t.Errorf("%q is missing or comes before the cause:\n%s", msg, res.stderr)
		}
	}
}
