package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aciworker/aciworker/aci"
)

// target is where a run's container group lives: an Azure client (one per
// subscription and credential) and a resource group.
type target struct {
	client *aci.Client
	key    string // client key; with rg it names a resource group to list
	rg     string
}

func (t *target) listKey() string { return t.key + "|" + t.rg }

// azureClients builds one client per subscription and credential and keeps
// it, so that runs share token caches and the subscription's request
// budget.
type azureClients struct {
	base aci.Settings
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]*aci.Client
	targets map[string]*target // by listKey: every resource group seen
}

func newAzureClients(base aci.Settings, log *slog.Logger) *azureClients {
	return &azureClients{base: base, log: log, clients: map[string]*aci.Client{}, targets: map[string]*target{}}
}

// target returns the client for a run's subscription and credentials
// (aci_credentials when it holds a service principal, else the worker's
// own credential chain) and remembers its resource group for reconcile.
// A new client's credential must first give a token: a credential that
// cannot work fails the run once, with one error naming every source
// tried, before anything is deployed. The check runs outside the lock, so
// a slow credential chain holds up no other run.
func (a *azureClients) target(ctx context.Context, subscription, rg string, creds credentials) (*target, error) {
	s := a.base
	if creds.servicePrincipal() {
		s.TenantID, s.ClientID, s.ClientSecret = creds.TenantID, creds.ClientID, creds.ClientSecret
	}
	sum := sha256.Sum256([]byte(s.ClientSecret))
	key := subscription + "|" + s.TenantID + "|" + s.ClientID + "|" + hex.EncodeToString(sum[:8])
	a.mu.Lock()
	c := a.clients[key]
	a.mu.Unlock()
	if c == nil {
		cred, err := s.Credential()
		if err != nil {
			return nil, fmt.Errorf("azure credential: %w", err)
		}
		if err := s.CheckCredential(ctx, cred); err != nil {
			return nil, err
		}
		c, err = aci.NewClient(subscription, cred, s)
		if err != nil {
			return nil, fmt.Errorf("azure client for subscription %s: %w", subscription, err)
		}
		c.SetLogger(a.log)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev := a.clients[key]; prev != nil {
		c = prev // another run made one meanwhile: share its budget
	} else {
		a.clients[key] = c
	}
	t := &target{client: c, key: key, rg: rg}
	if old := a.targets[t.listKey()]; old != nil {
		return old, nil
	}
	a.targets[t.listKey()] = t
	return t, nil
}

// all returns every resource group the worker has used.
func (a *azureClients) all() []*target {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*target, 0, len(a.targets))
	for _, t := range a.targets {
		out = append(out, t)
	}
	return out
}

// readsPerSecond is the read budget the watcher plans with.
func (a *azureClients) readsPerSecond() float64 {
	if a.base.ReadsPerSecond > 0 {
		return a.base.ReadsPerSecond
	}
	return aci.DefaultReadsPerSecond
}
