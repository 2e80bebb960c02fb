package worker

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/aciworker/aciworker/aci"
)

// A run with a wrong resource group must not poison reconcile: the bad
// target backs off on its own while the loop keeps its pace (no error for
// every's back-off), the good one is swept every round, and the bad one
// and its client are forgotten once no run uses it.
func TestBadTargetIsForgottenAndBacksOffAlone(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	lists := map[string]int{}
	arm := func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rg := ""
		if _, rest, ok := strings.Cut(r.URL.Path, "/resourceGroups/"); ok {
			rg, _, _ = strings.Cut(rest, "/")
		}
		mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/containerGroups") {
			lists[rg]++
		}
		mu.Unlock()
		if rg == "bad" {
			rw.WriteHeader(http.StatusNotFound)
			io.WriteString(rw, `{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'bad' could not be found."}}`)
			return
		}
		io.WriteString(rw, `{"value":[]}`)
	}
	listed := func(rg string) int {
		mu.Lock()
		defer mu.Unlock()
		return lists[rg]
	}
	pf, _ := fakePrefect(t, http.NotFound)
	w, err := New(Config{Pool: "p", Prefect: pf, ReconcileInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	close(w.synced)
	w.azure.newClient = func(_ context.Context, sub string, s aci.Settings) (*aci.Client, error) {
		s.ARMEndpoint, s.Transport, s.MaxRetries = "https://arm.test", handlerTransport{http.HandlerFunc(arm)}, -1
		return aci.NewClient(sub, &azfake.TokenCredential{}, s)
	}
	ctx := context.Background()
	good, err := w.azure.acquire(ctx, "00000000-0000-0000-0000-000000000001", "good", credentials{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := w.azure.acquire(ctx, "00000000-0000-0000-0000-000000000002", "bad", credentials{})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		if err := w.reconcileOnce(ctx); err != nil {
			t.Fatalf("round %d: reconcile returned %v: the whole loop would back off for one bad target", round, err)
		}
	}
	if listed("good") != 3 || listed("bad") != 1 {
		t.Errorf("lists: good %d, bad %d; want 3 and 1 (the bad one backing off alone)", listed("good"), listed("bad"))
	}
	// The run with the bad target ends: the target goes at its next try,
	// with its client.
	w.azure.release(bad)
	w.azure.swept(bad, nil, time.Now(), time.Minute)
	if n, c := w.azure.counts(); n != 1 || c != 1 {
		t.Errorf("%d targets and %d clients kept after the bad target's run ended; want 1 and 1", n, c)
	}
	w.azure.release(good)
	if err := w.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n, c := w.azure.counts(); n != 0 || c != 0 {
		t.Errorf("%d targets and %d clients kept once no run uses them; want none", n, c)
	}
}
