package aci

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/aciworker/aciworker/internal/buildinfo"
)

// recordingTransport answers 404 to everything and keeps each request.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recordingTransport) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{
		StatusCode: http.StatusNotFound, Request: req, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":"ResourceNotFound","message":"not found"}}`)),
	}, nil
}

// policyFunc adapts a function to policy.Policy.
type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// Azure requests name aciworker's build in User-Agent, and the caller's
// policies see every attempt with its answer.
func TestClientUserAgentAndPolicies(t *testing.T) {
	t.Parallel()
	rt := &recordingTransport{}
	var seen []int
	var mu sync.Mutex
	observe := policyFunc(func(req *policy.Request) (*http.Response, error) {
		resp, err := req.Next()
		if resp != nil {
			mu.Lock()
			seen = append(seen, resp.StatusCode)
			mu.Unlock()
		}
		return resp, err
	})
	c, err := NewClient("00000000-0000-0000-0000-000000000001", &azfake.TokenCredential{}, Settings{
		ARMEndpoint: "https://arm.example.test", Transport: rt, Policies: []policy.Policy{observe},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGroup(context.Background(), "rg", "g"); err == nil {
		t.Fatal("GetGroup on a 404 answered no error")
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.reqs) == 0 {
		t.Fatal("no request reached the transport")
	}
	want := buildinfo.Get().AzureApplicationID()
	if ua := rt.reqs[0].Header.Get("User-Agent"); !strings.HasPrefix(ua, want+" ") {
		t.Errorf("User-Agent = %q, want it to start with %q", ua, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(rt.reqs) || seen[0] != http.StatusNotFound {
		t.Errorf("policy saw %v for %d requests", seen, len(rt.reqs))
	}
}
