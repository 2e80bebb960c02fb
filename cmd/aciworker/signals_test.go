package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/internal/stalltest"
)

// splitTransport sends ARM requests to the stalling server and the rest
// (tokens) to the emulator.
type splitTransport struct {
	arm  *stalltest.Server
	rest *http.Client
}

func (t splitTransport) Do(r *http.Request) (*http.Response, error) {
	if r.URL.Host != t.arm.Host() {
		return t.rest.Do(r)
	}
	return t.arm.Do(r)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Against an ARM that takes requests and never answers: the first Ctrl-C
// starts the clean-up, a second one exits at once (130) and says what may
// be left behind.
func TestRunSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	arm := stalltest.New(t)
	env := emuEnv(emu)
	env["ACIWORKER_ARM_ENDPOINT"] = arm.URL
	env["ACIWORKER_ARM_TRY_TIMEOUT"] = "300ms"
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	deps := cmdDeps{
		getenv:    func(k string) string { return env[k] },
		transport: splitTransport{arm: arm, rest: emu.Client()},
		signals:   func() (<-chan os.Signal, func()) { return sigs, func() {} },
		exit:      func(code int) { exited <- code },
	}
	stderr := &lockedBuffer{}
	done := make(chan cmdResult, 1)
	go func() {
		done <- runCommandWith(t, context.Background(), deps, "", nil, stderr, "--name", "stall", "--start-timeout", "1h", "--", "echo", "hi")
	}()
	waitUntil(t, time.Minute, "the deployment's PUT", func() bool { return arm.Count("PUT", "/deployments/") > 0 })
	sigs <- syscall.SIGINT
	waitUntil(t, time.Minute, "the clean-up's DELETE", func() bool { return arm.Count("DELETE", "/containerGroups/stall") > 0 })
	sigs <- syscall.SIGINT
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("exit code %d, want 130", code)
		}
	case <-time.After(time.Minute):
		t.Fatalf("a second SIGINT did not exit\n%s", stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"received interrupt; cleaning up", "received interrupt again; exiting now", "container group stall", "may be left behind"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	// The command itself, not exited in this test, ends its clean-up
	// (Azure does not answer it): nothing hangs after the test.
	select {
	case r := <-done:
		if r.code == 0 {
			t.Errorf("the run succeeded against an ARM that never answered")
		}
	case <-time.After(time.Minute):
		t.Fatal("the run did not give up its clean-up")
	}
}

// The emulator serves until the first SIGINT or SIGTERM its deps deliver,
// then shuts down cleanly (exit 0).
func TestEmulatorStopsOnSignal(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 1)
	deps := cmdDeps{
		getenv:  func(string) string { return "" },
		signals: func() (<-chan os.Signal, func()) { return sigs, func() {} },
	}
	ready := make(chan struct{})
	var once sync.Once
	stdout := &lockedBuffer{on: func(s string) {
		if strings.Contains(s, "AZURE_RESOURCE_GROUP=") {
			once.Do(func() { close(ready) })
		}
	}}
	cmd := newEmulatorCmd(deps, nil)
	cmd.SetArgs([]string{"--state-dir", t.TempDir()})
	cmd.SetOut(stdout)
	cmd.SetErr(&lockedBuffer{})
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the emulator ended before it was ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the emulator printed no settings")
	}
	sigs <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the emulator ended with %v, want a clean stop", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("SIGTERM did not stop the emulator")
	}
}
