package aci

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

func code(c int32) *int32 { return &c }

func TestOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		c        Container
		wantCode int32
		wantDone bool
	}{
		{"waiting", Container{Current: &ContainerState{State: "Waiting"}}, 0, false},
		{"running", Container{Current: &ContainerState{State: "Running"}}, 0, false},
		{"terminated", Container{Current: &ContainerState{State: "Terminated", ExitCode: code(7)}}, 7, true},
		{"restarted after a failure: the first termination counts", Container{
			Current:      &ContainerState{State: "Running"},
			Previous:     &ContainerState{State: "Terminated", ExitCode: code(137)},
			RestartCount: 1,
		}, 137, true},
		{"restarted and terminated again", Container{
			Current:      &ContainerState{State: "Terminated", ExitCode: code(0)},
			Previous:     &ContainerState{State: "Terminated", ExitCode: code(1)},
			RestartCount: 1,
		}, 1, true},
		{"terminated without exit code", Container{Current: &ContainerState{State: "Terminated"}}, -1, true},
	}
	for _, tc := range tests {
		g := &Group{Containers: []Container{tc.c}}
		c, done := g.Outcome()
		if c != tc.wantCode || done != tc.wantDone {
			t.Errorf("%s: Outcome() = %d, %v; want %d, %v", tc.name, c, done, tc.wantCode, tc.wantDone)
		}
	}
	if _, done := (&Group{}).Outcome(); done {
		t.Error("a group without containers has no outcome")
	}
}

func TestFailureReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		g    Group
		want string
	}{
		{"pull failure", Group{Containers: []Container{{Events: []Event{
			{Name: "Pulling", Type: "Normal", Message: "pulling image \"nope:1\""},
			{Name: "Failed", Type: "Warning", Message: "Failed to pull image \"nope:1\": not found"},
			{Name: "BackOff", Type: "Warning", Message: "Back-off pulling image \"nope:1\""},
		}}}}, `image pull failed: Failed to pull image "nope:1": not found`},
		{"oom", Group{Containers: []Container{{
			Current: &ContainerState{State: "Terminated", ExitCode: code(137), DetailStatus: "OOMKilled"},
			Events:  []Event{{Name: "Killing", Type: "Normal", Message: "Killing container: OOMKilled"}},
		}}}, "out of memory: Killing container: OOMKilled"},
		{"quota in group events", Group{ProvisioningState: "Failed", Events: []Event{
			{Name: "Failed", Type: "Warning", Message: "container group quota 'StandardCores' exceeded"},
		}}, "container group quota 'StandardCores' exceeded"},
		{"detail status", Group{Containers: []Container{{Current: &ContainerState{State: "Terminated", ExitCode: code(1), DetailStatus: "ContainerCannotRun"}}}}, "ContainerCannotRun"},
		{"plain error says nothing", Group{Containers: []Container{{Current: &ContainerState{State: "Terminated", ExitCode: code(1), DetailStatus: "Error"}}}}, ""},
		{"clean exit", Group{Containers: []Container{{Current: &ContainerState{State: "Terminated", ExitCode: code(0), DetailStatus: "Completed"}}}}, ""},
		{"failed provisioning without events", Group{ProvisioningState: "Failed"}, "provisioning failed"},
	}
	for _, tc := range tests {
		if got := tc.g.FailureReason(); got != tc.want {
			t.Errorf("%s: FailureReason() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ACIWORKER_ARM_ENDPOINT": "https://127.0.0.1:8443",
		"AZURE_AUTHORITY_HOST":   "https://127.0.0.1:8443",
		"AZURE_TENANT_ID":        "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s",
		"ACIWORKER_ARM_READS_PER_SECOND": "5",
	}
	s := SettingsFromEnv(func(k string) string { return env[k] })
	if s.ReadsPerSecond != 5 || s.TenantID != "t" || s.ClientSecret != "s" {
		t.Errorf("SettingsFromEnv = %+v", s)
	}
	c := s.Cloud()
	if c.ActiveDirectoryAuthorityHost != "https://127.0.0.1:8443/" {
		t.Errorf("authority %q", c.ActiveDirectoryAuthorityHost)
	}
	if rm := c.Services[cloud.ResourceManager]; rm.Endpoint != "https://127.0.0.1:8443" || rm.Audience != cloud.AzurePublic.Services[cloud.ResourceManager].Audience {
		t.Errorf("resource manager %+v", rm)
	}
	if !s.disableInstanceDiscovery() {
		t.Error("a loopback authority must disable instance discovery")
	}
	pub := Settings{AuthorityHost: "https://login.microsoftonline.com/"}
	if pub.disableInstanceDiscovery() {
		t.Error("the public authority keeps instance discovery")
	}
	china := Settings{ARMEndpoint: "https://management.chinacloudapi.cn"}.Cloud()
	if china.ActiveDirectoryAuthorityHost != cloud.AzureChina.ActiveDirectoryAuthorityHost {
		t.Errorf("China endpoint got authority %q", china.ActiveDirectoryAuthorityHost)
	}
	if err := (Settings{ARMEndpoint: "http://insecure"}).Validate(); err == nil || !strings.Contains(err.Error(), `"http://insecure"`) {
		t.Errorf("Validate(http) = %v", err)
	}
	if _, err := s.Credential(); err != nil {
		t.Fatal(err)
	}
}
