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
