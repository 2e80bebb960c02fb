package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// The worker, not package aci, shares what should be shared: one credential
// (one token cache) per principal, one request budget per subscription,
// one client per subscription and principal.
func TestAzureClientsShareCredentialsAndBudgets(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	es := emu.Settings()
	a := newAzureClients(aci.Settings{
		ARMEndpoint: emu.URL(), AuthorityHost: emu.AuthorityHost(), Transport: emu.Client(),
	}, slog.New(slog.DiscardHandler))
	sp := credentials{TenantID: es.TenantID, ClientID: es.ClientID, ClientSecret: es.ClientSecret}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	steps := []struct{ sub, rg string }{
		{es.SubscriptionID, "rg1"},
		{es.SubscriptionID, "rg2"}, // same client, another resource group
		{"00000000-0000-0000-0000-0000000000AA", "rg1"},
		{"00000000-0000-0000-0000-0000000000aa", "rg1"}, // same subscription in another case
	}
	clients := map[*aci.Client]bool{}
	for _, s := range steps {
		tg, err := a.acquire(ctx, s.sub, s.rg, sp)
		if err != nil {
			t.Fatalf("target(%s, %s): %v", s.sub, s.rg, err)
		}
		clients[tg.client] = true
	}
	if len(clients) != 3 {
		t.Errorf("%d clients, want 3: one per subscription (as spelled) and principal", len(clients))
	}
	if len(a.creds) != 1 {
		t.Errorf("%d credentials, want 1: one per principal", len(a.creds))
	}
	if len(a.budgets) != 2 {
		t.Errorf("%d budgets, want 2: one per subscription, whatever its case", len(a.budgets))
	}
	if n := len(a.targets); n != 4 {
		t.Errorf("%d targets, want 4", n)
	}
}
