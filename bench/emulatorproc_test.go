package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator/emutest"
)

// TestAdminReads reads the counters and request log the way a row does,
// from an emulator whose admin API answers only to its client secret.
func TestAdminReads(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	e := &emulatorProc{
		env:    map[string]string{"AZURE_CLIENT_SECRET": emu.Settings().ClientSecret},
		client: emu.Client(),
		admin:  strings.TrimRight(emu.URL(), "/") + "/_emulator",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.counters(ctx); err != nil {
		t.Fatalf("counters: %v", err)
	}
	if _, err := e.requests(ctx); err != nil {
		t.Fatalf("requests: %v", err)
	}
	e.env["AZURE_CLIENT_SECRET"] = "emu~wrong"
	if _, err := e.counters(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("counters with a wrong secret: %v, want a 401", err)
	}
}

// The row's PUT log lists each run once, earliest first, in seconds since
// the release.
func TestPutTrackerSince(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := putTracker{first: map[string]time.Time{
		"b": start.Add(2500 * time.Millisecond),
		"a": start.Add(1200 * time.Millisecond),
	}}
	if got, want := p.since(start), "1.200\ta\n2.500\tb\n"; got != want {
		t.Errorf("since = %q, want %q", got, want)
	}
}
