package emulator

import (
	"strings"
	"testing"
)

func TestImageRegistry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ image, registry, ref string }{
		{"alpine", "docker.io", "docker.io/library/alpine:latest"},
		{"alpine:3", "docker.io", "docker.io/library/alpine:3"},
		{"prefecthq/prefect:3-latest", "docker.io", "docker.io/prefecthq/prefect:3-latest"},
		{"docker.io/prefecthq/prefect", "docker.io", "docker.io/prefecthq/prefect:latest"},
		{"MyReg.azurecr.io/team/app:1.2", "myreg.azurecr.io", "MyReg.azurecr.io/team/app:1.2"},
		{"localhost:5000/app", "localhost:5000", "localhost:5000/app:latest"},
		{"localhost/app@sha256:ab", "localhost", "localhost/app@sha256:ab"},
		{"mcr.microsoft.com/azurelinux/base/core:3.0", "mcr.microsoft.com", "mcr.microsoft.com/azurelinux/base/core:3.0"},
	} {
		if got := imageRegistry(tc.image); got != tc.registry {
			t.Errorf("imageRegistry(%q) = %q, want %q", tc.image, got, tc.registry)
		}
		if got := fullReference(tc.image); got != tc.ref {
			t.Errorf("fullReference(%q) = %q, want %q", tc.image, got, tc.ref)
		}
	}
}

func TestPrivatePullError(t *testing.T) {
	t.Parallel()
	creds := map[string]bool{"ours.azurecr.io": true}
	for _, tc := range []struct {
		image string
		fails bool
		repo  string
	}{
		{"alpine:3", false, ""},
		{"ghcr.io/org/tool:1", false, ""},
		{"mcr.microsoft.com/dotnet/runtime:8.0", false, ""},
		{"ours.azurecr.io/app:1", false, ""},
		{"OURS.azurecr.io/app:1", false, ""},
		{"theirs.azurecr.io/team/app:1", true, "team/app"},
		{"theirs.azurecr.io/app@sha256:0123", true, "app"},
		{"registry.example.com:5000/app", true, "app"},
	} {
		got := privatePullError(tc.image, creds)
		if (got != "") != tc.fails {
			t.Errorf("%s: pull error %q, want failure %v", tc.image, got, tc.fails)
			continue
		}
		if tc.fails && (!strings.Contains(got, "401 Unauthorized") || !strings.Contains(got, "repository%3A"+tc.repo+"%3Apull")) {
			t.Errorf("%s: %q lacks the 401 or the repository %s", tc.image, got, tc.repo)
		}
	}
}
