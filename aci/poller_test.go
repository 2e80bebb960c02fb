package aci

import (
	"context"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
)

// A deployment whose poll fails leaves the client's poller map: the next
// check reads the deployment afresh, and a client that outlives many runs
// keeps no poller of a run it no longer watches.
func TestFailedPollDropsThePoller(t *testing.T) {
	t.Parallel()
	ft := &fakeTransport{resp: func(_ int32, req *http.Request) *http.Response {
		switch {
		case req.Method == http.MethodPut:
			return response(req, http.StatusCreated, map[string]string{"Azure-AsyncOperation": "https://arm.test/operations/op1?api-version=2024-03-01"},
				`{"name":"d","properties":{"provisioningState":"Accepted"}}`)
		case strings.Contains(req.URL.Path, "/operations/"):
			return response(req, http.StatusBadRequest, nil, `{"error":{"code":"InvalidOperation","message":"the operation is unknown"}}`)
		}
		return response(req, http.StatusNotFound, nil, `{"error":{"code":"NotFound","message":"no"}}`)
	}}
	c, err := NewClient("00000000-0000-0000-0000-000000000001", &azfake.TokenCredential{}, Settings{ARMEndpoint: "https://arm.test", Transport: ft, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(Job{GroupName: "g", DeploymentName: "d", Image: "alpine", Command: []string{"true"}, CPU: 1, MemoryGB: 1, Template: minimalTemplate()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Deploy(ctx, "rg", p); err != nil {
		t.Fatal(err)
	}
	if n := c.Pollers(); n != 1 {
		t.Fatalf("%d pollers after a deployment, want 1", n)
	}
	if _, _, err := c.PollDeployment(ctx, "rg", "d"); err == nil {
		t.Fatal("a poll answered 400 succeeded")
	}
	if n := c.Pollers(); n != 0 {
		t.Errorf("%d pollers kept after a failed poll, want 0", n)
	}
}

// minimalTemplate is the least ARM template Prepare accepts: one container
// group named by the group parameter, with one container.
func minimalTemplate() map[string]any {
	return map[string]any{
		"parameters": map[string]any{GroupParameter: map[string]any{"type": "string"}},
		"resources": []any{map[string]any{
			"type": "Microsoft.ContainerInstance/containerGroups",
			"name": "[parameters('" + GroupParameter + "')]",
			"properties": map[string]any{
				"containers": []any{map[string]any{"name": "job", "properties": map[string]any{
					"resources": map[string]any{"requests": map[string]any{"cpu": 1, "memoryInGB": 1}},
				}}},
			},
		}},
	}
}
