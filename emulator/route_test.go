package emulator

import "testing"

func TestResourceTypeOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, ns, typ string
		ok            bool
	}{
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g/exec", "Microsoft.ContainerInstance", "containerGroups/exec", true},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a", "Microsoft.Storage", "storageAccounts", true},
		{"/subscriptions/s/providers/Microsoft.ContainerInstance/locations/eastus/cachedImages", "Microsoft.ContainerInstance", "locations/cachedImages", true},
		{"/subscriptions/s/resourceGroups/rg/resources", "", "", false},
		{"/subscriptions/s/providers/Microsoft.Web", "", "", false},
	} {
		ns, typ, ok := resourceTypeOf(tc.path)
		if ns != tc.ns || typ != tc.typ || ok != tc.ok {
			t.Errorf("resourceTypeOf(%q) = %q, %q, %v; want %q, %q, %v", tc.path, ns, typ, ok, tc.ns, tc.typ, tc.ok)
		}
	}
}
