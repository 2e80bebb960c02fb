package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// armReader reads back what a deployment record and a container group
// expose, as raw response bodies: the secret check must see the exact
// bytes any reader of the resource group would get, not a decoded subset.
type armReader struct {
	base, sub, rg string
	cred          azcore.TokenCredential
	http          *http.Client
}

const (
	deploymentsAPI = "2025-04-01"
	groupsAPI      = "2023-05-01"
)

var errGone = fmt.Errorf("resource gone")

func (a *armReader) do(ctx context.Context, method, path, apiVersion string) ([]byte, error) {
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	u := a.base + path + "?api-version=" + url.QueryEscape(apiVersion)
	// The soak injects 429 bursts and 5xx: keep trying for up to two
	// minutes, waiting as long as ARM's Retry-After asks.
	var last error
	deadline := time.Now().Add(2 * time.Minute)
	wait := time.Duration(0)
	for attempt := 0; attempt == 0 || time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			if wait <= 0 {
				wait = time.Duration(min(attempt, 6)) * 500 * time.Millisecond
			}
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, err
			}
		}
		wait = 0
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := a.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			last = err
		case resp.StatusCode == http.StatusNotFound:
			return nil, errGone
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
				wait = time.Duration(secs) * time.Second
			}
		case resp.StatusCode >= 300:
			return nil, fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, body)
		default:
			return body, nil
		}
	}
	return nil, last
}

func (a *armReader) rgPath() string {
	return "/subscriptions/" + a.sub + "/resourceGroups/" + a.rg
}

// deployment returns GET of the deployment record and its exportTemplate.
func (a *armReader) deployment(ctx context.Context, name string) (get, export []byte, err error) {
	p := a.rgPath() + "/providers/Microsoft.Resources/deployments/" + url.PathEscape(name)
	if get, err = a.do(ctx, http.MethodGet, p, deploymentsAPI); err != nil {
		return nil, nil, err
	}
	if export, err = a.do(ctx, http.MethodPost, p+"/exportTemplate", deploymentsAPI); err != nil {
		return get, nil, err
	}
	return get, export, nil
}

// group returns GET of a container group.
func (a *armReader) group(ctx context.Context, name string) ([]byte, error) {
	return a.do(ctx, http.MethodGet, a.rgPath()+"/providers/Microsoft.ContainerInstance/containerGroups/"+url.PathEscape(name), groupsAPI)
}
