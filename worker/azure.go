package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/aciworker/aciworker/aci"
)

// target is where a run's container group lives: an Azure client (one per
// subscription and credential) and a resource group.
type target struct {
	client *aci.Client
	key    string // client key; with rg it names a resource group to list
	rg     string

	// Guarded by azureClients.mu.
	uses     int       // runs of this process using it
	pinned   bool      // the pool's or the environment's default: swept always
	failures int       // reconcile failures in a row
	nextTry  time.Time // no reconcile before, after failures
}

func (t *target) listKey() string { return t.key + "|" + t.rg }

// maxTargetBackoff bounds the wait between reconciles of a target that
// keeps failing.
const maxTargetBackoff = 15 * time.Minute

// azureClients builds one client per subscription and credential and keeps
// it while a run or a default resource group uses it, so that runs share
// token caches (one credential per principal, kept) and the subscription's
// request budget (one per subscription, whatever the principal, kept), over
// one HTTP client. Its targets are the
// resource groups reconcile sweeps: the defaults always, the others while a
// run uses them and for one sweep after, so that a wrong subscription or
// resource group in one run's variables is forgotten with that run.
type azureClients struct {
	base aci.Settings
	log  *slog.Logger
	// newClient builds a client; tests replace it.
	newClient func(ctx context.Context, subscription string, s aci.Settings) (*aci.Client, error)

	mu      sync.Mutex
	creds   map[string]azcore.TokenCredential // by principal
	budgets map[string]*aci.Budget            // by subscription
	clients map[string]*aci.Client
	targets map[string]*target // by listKey
}

func newAzureClients(base aci.Settings, log *slog.Logger) *azureClients {
	if base.Transport == nil {
		// One HTTP client for every credential and client: shared
		// connections.
		base.Transport = base.NewTransport()
	}
	a := &azureClients{
		base: base, log: log,
		creds: map[string]azcore.TokenCredential{}, budgets: map[string]*aci.Budget{},
		clients: map[string]*aci.Client{}, targets: map[string]*target{},
	}
	a.newClient = a.newAzureClient
	return a
}

// newAzureClient builds a client whose credential has first given a
// token: a credential that cannot work fails the run once, with one error
// naming every source tried, before anything is deployed.
func (a *azureClients) newAzureClient(ctx context.Context, subscription string, s aci.Settings) (*aci.Client, error) {
	cred, err := a.credential(s)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	if err := s.CheckCredential(ctx, cred); err != nil {
		return nil, err
	}
	c, err := aci.NewClient(subscription, cred, s)
	if err != nil {
		return nil, fmt.Errorf("azure client for subscription %s: %w", subscription, err)
	}
	return c, nil
}

// acquire returns the target of a run's subscription, resource group and
// credentials (aci_credentials when it holds a service principal, else the
// worker's own credential chain), counted as used until release.
func (a *azureClients) acquire(ctx context.Context, subscription, rg string, creds credentials) (*target, error) {
	return a.get(ctx, subscription, rg, creds, false)
}

// pin makes a default resource group a target for good.
func (a *azureClients) pin(ctx context.Context, subscription, rg string) error {
	_, err := a.get(ctx, subscription, rg, credentials{}, true)
	return err
}

// get finds or makes a target. A new client is made outside the lock (its
// credential check may be slow), so one slow credential chain holds up no
// other run.
func (a *azureClients) get(ctx context.Context, subscription, rg string, creds credentials, pin bool) (*target, error) {
	s := a.base
	if creds.servicePrincipal() {
		s.TenantID, s.ClientID, s.ClientSecret = creds.TenantID, creds.ClientID, creds.ClientSecret
	}
	key := subscription + "|" + principal(s)
	a.mu.Lock()
	if t := a.useLocked(key+"|"+rg, pin); t != nil {
		a.mu.Unlock()
		return t, nil
	}
	c := a.clients[key]
	a.mu.Unlock()
	if c == nil {
		s.Budget = a.budget(subscription, s)
		var err error
		if c, err = a.newClient(ctx, subscription, s); err != nil {
			return nil, err
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
	if t := a.useLocked(key+"|"+rg, pin); t != nil {
		return t, nil
	}
	t := &target{client: c, key: key, rg: rg, pinned: pin}
	if !pin {
		t.uses = 1
	}
	a.targets[t.listKey()] = t
	return t, nil
}

// principal names the identity of settings: its tenant, client and a hash
// of its secret.
func principal(s aci.Settings) string {
	sum := sha256.Sum256([]byte(s.ClientSecret))
	return s.TenantID + "|" + s.ClientID + "|" + hex.EncodeToString(sum[:8])
}

// credential is the principal's credential, made on first use and kept,
// so that its tokens are fetched once however many clients use it.
func (a *azureClients) credential(s aci.Settings) (azcore.TokenCredential, error) {
	p := principal(s)
	a.mu.Lock()
	cred := a.creds[p]
	a.mu.Unlock()
	if cred != nil {
		return cred, nil
	}
	cred, err := s.Credential()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev := a.creds[p]; prev != nil {
		return prev, nil
	}
	a.creds[p] = cred
	return cred, nil
}

// budget is the request budget of a subscription, made on first use and
// kept.
func (a *azureClients) budget(subscription string, s aci.Settings) *aci.Budget {
	sub := strings.ToLower(subscription)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.budgets[sub] == nil {
		a.budgets[sub] = aci.NewBudget(s)
	}
	return a.budgets[sub]
}

// useLocked counts a use (or the pin) of an existing target.
func (a *azureClients) useLocked(listKey string, pin bool) *target {
	t := a.targets[listKey]
	switch {
	case t == nil:
	case pin:
		t.pinned = true
	default:
		t.uses++
	}
	return t
}

// release ends a run's use of its target.
func (a *azureClients) release(t *target) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.uses > 0 {
		t.uses--
	}
}

// due returns the targets to sweep now: those not waiting out failures.
func (a *azureClients) due(now time.Time) []*target {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*target, 0, len(a.targets))
	for _, t := range a.targets {
		if !now.Before(t.nextTry) {
			out = append(out, t)
		}
	}
	return out
}

// swept records a sweep of t. A failing target waits, longer each time (up
// to maxTargetBackoff), so that one bad resource group costs the others
// nothing. A target no run uses and no default names is forgotten after
// its sweep, and so is its client when no target is left on it.
func (a *azureClients) swept(t *target, err error, now time.Time, interval time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		t.failures, t.nextTry = 0, time.Time{}
	} else {
		t.failures++
		t.nextTry = now.Add(min(interval<<min(t.failures, 16), maxTargetBackoff))
	}
	if t.uses > 0 || t.pinned || a.targets[t.listKey()] != t {
		return
	}
	delete(a.targets, t.listKey())
	for _, o := range a.targets {
		if o.key == t.key {
			return
		}
	}
	delete(a.clients, t.key)
}

// counts is how many targets and clients are kept.
func (a *azureClients) counts() (targets, clients int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.targets), len(a.clients)
}

// readsPerSecond is the read budget the watcher plans with.
func (a *azureClients) readsPerSecond() float64 {
	if a.base.ReadsPerSecond > 0 {
		return a.base.ReadsPerSecond
	}
	return aci.DefaultReadsPerSecond
}
