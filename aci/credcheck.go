package aci

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// CredentialCheckTimeout bounds CheckCredential: a credential chain probes
// several sources (environment, workload identity, the managed identity
// endpoint, az and azd), each of which may wait on a network or a process.
const CredentialCheckTimeout = time.Minute

// CredentialError is a credential that gave no ARM token. Its message is
// one block: azidentity's report of every source tried and why each
// failed, then what to do.
type CredentialError struct {
	Scope string
	Err   error
}

func (e *CredentialError) Error() string {
	return fmt.Sprintf("Azure credentials: no token for %s:\n%s\n"+
		"Give aciworker a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, or the work pool's aci_credentials block), "+
		"a workload or managed identity, or an `az login` session.",
		e.Scope, strings.TrimRight(e.Err.Error(), "\n"))
}

func (e *CredentialError) Unwrap() error { return e.Err }

// TokenScope is the scope of ARM tokens for these settings.
func (s Settings) TokenScope() string {
	return strings.TrimSuffix(s.Cloud().Services[cloud.ResourceManager].Audience, "/") + "/.default"
}

// CheckCredential asks cred for one ARM token before anything is deployed,
// so that a credential that cannot work fails once, with one error naming
// every source tried, instead of the same report repeated by each request
// that follows (deploy, then each clean-up step). The token is not wasted:
// azidentity's credentials cache it for the requests that follow.
func (s Settings) CheckCredential(ctx context.Context, cred azcore.TokenCredential) error {
	ctx, cancel := context.WithTimeout(ctx, CredentialCheckTimeout)
	defer cancel()
	scope := s.TokenScope()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		return &CredentialError{Scope: scope, Err: err}
	}
	return nil
}
