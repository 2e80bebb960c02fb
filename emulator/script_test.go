package emulator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/emulator/emutest"
)

// setImage replaces the sample template's image.
func setImage(v any, image string) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if s, ok := vv.(string); ok && k == "image" && s == "alpine:3" {
				x[k] = image
			} else {
				setImage(vv, image)
			}
		}
	case []any:
		for _, vv := range x {
			setImage(vv, image)
		}
	}
}

// A script container goes through the same ARM surface as a process: the
// deployment succeeds, the container runs its script, waits for its call's
// answer, exits with the script's code, and its log holds the answer.
func TestSDKScriptContainer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	calls := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "answered\n")
	}))
	t.Cleanup(hook.Close)
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)

	tmpl := sampleTemplate(t, []string{"echo", "starting", "call", hook.URL + "/done", "-", "exit", "4"})
	setImage(tmpl, "aciworker/emulator-script:latest")
	if _, err := deployTemplate(ctx, s, "prefect-cg-script", tmpl, map[string]any{"container_group_name": "cg-script"}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	select {
	case <-calls:
	case <-ctx.Done():
		t.Fatal("the script never called")
	}
	// Held by its call: still Running.
	g := waitGroup(ctx, t, s, "cg-script", func(g armcontainerinstance.ContainerGroup) bool { return true })
	if st := *g.Properties.Containers[0].Properties.InstanceView.CurrentState.State; st != "Running" || *g.Properties.InstanceView.State != "Running" {
		t.Fatalf("during the call: container %s, group %s; want Running", st, *g.Properties.InstanceView.State)
	}
	close(release)
	g = waitGroup(ctx, t, s, "cg-script", terminated)
	cs := g.Properties.Containers[0].Properties.InstanceView.CurrentState
	if *cs.ExitCode != 4 || *cs.DetailStatus != "Error" || *g.Properties.InstanceView.State != "Failed" {
		t.Fatalf("exit %d detail %s group %s; want 4, Error, Failed", *cs.ExitCode, *cs.DetailStatus, *g.Properties.InstanceView.State)
	}
	var events []string
	for _, ev := range g.Properties.Containers[0].Properties.InstanceView.Events {
		events = append(events, *ev.Name)
	}
	if got := strings.Join(events, ","); got != "Pulling,Pulled,Created,Started" {
		t.Errorf("events %s", got)
	}
	logs, err := s.containers.ListLogs(ctx, s.set.ResourceGroup, "cg-script", *g.Properties.Containers[0].Name, &armcontainerinstance.ContainersClientListLogsOptions{Tail: to.Ptr[int32](10)})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	if *logs.Content != "starting\nanswered\n" {
		t.Fatalf("logs %q", *logs.Content)
	}
}
