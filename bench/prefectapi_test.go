package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
)

// TestPrefectAPICountOpen: the count a row waits on is the deployment's
// runs not yet final, against a real Prefect server.
func TestPrefectAPICountOpen(t *testing.T) {
	t.Parallel()
	srv := prefecttest.New(t, prefecttest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api := newAPI(srv.APIURL)
	flowID, err := api.createFlow(ctx, "count-open")
	if err != nil {
		t.Fatal(err)
	}
	if err := api.do(ctx, http.MethodPost, "/work_pools/", map[string]any{"name": "count-pool", "type": "process"}, nil); err != nil {
		t.Fatal(err)
	}
	dep, err := api.createDeployment(ctx, "count-dep", flowID, "count-pool", t.TempDir(), flowEntrypoint, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := api.createDeployment(ctx, "other-dep", flowID, "count-pool", t.TempDir(), flowEntrypoint, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		fr, err := api.createFlowRun(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fr.ID)
	}
	if _, err := api.createFlowRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := api.forceState(ctx, ids[0], "COMPLETED", "done"); err != nil {
		t.Fatal(err)
	}
	if err := api.forceState(ctx, ids[1], "CRASHED", "gone"); err != nil {
		t.Fatal(err)
	}
	n, err := api.countOpen(ctx, dep, terminal)
	if err != nil || n != 1 {
		t.Fatalf("countOpen = %d, %v; want 1 (one Scheduled run of three, the other deployment's not counted)", n, err)
	}
	if err := api.forceState(ctx, ids[2], "CANCELLED", "stop"); err != nil {
		t.Fatal(err)
	}
	if n, err := api.countOpen(ctx, dep, terminal); err != nil || n != 0 {
		t.Fatalf("countOpen = %d, %v; want 0", n, err)
	}
}
