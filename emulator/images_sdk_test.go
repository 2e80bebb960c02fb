package emulator_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/emulator/emutest"
)

// TestPrivateImageNeedsCredentials: an image on a private registry pulls
// only with credentials for that server; without, the group fails as in
// ACI, with InaccessibleImage and the container's Failed and BackOff events.
func TestPrivateImageNeedsCredentials(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	const image = "private.azurecr.io/team/app:1"
	withImage := func(creds ...*armcontainerinstance.ImageRegistryCredential) armcontainerinstance.ContainerGroup {
		g := validGroup("true")
		g.Properties.Containers[0].Properties.Image = to.Ptr(image)
		g.Properties.ImageRegistryCredentials = creds
		return g
	}
	for _, tc := range []struct {
		name  string
		group armcontainerinstance.ContainerGroup
		fails bool
	}{
		{"no credentials", withImage(), true},
		{"credentials for another server", withImage(&armcontainerinstance.ImageRegistryCredential{
			Server: to.Ptr("other.azurecr.io"), Username: to.Ptr("u"), Password: to.Ptr("p")}), true},
		{"credentials for its server", withImage(&armcontainerinstance.ImageRegistryCredential{
			Server: to.Ptr("PRIVATE.azurecr.io"), Username: to.Ptr("u"), Password: to.Ptr("p")}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "img-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := createGroup(ctx, s, name, tc.group)
			if !tc.fails {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				waitGroup(ctx, t, s, name, terminated)
				return
			}
			if err == nil || errorCode(t, err) != "InaccessibleImage" || !strings.Contains(err.Error(), "The image '"+image+"' in container group '"+name+"' is not accessible") {
				t.Fatalf("create: %v, want InaccessibleImage naming the image", err)
			}
			g, err := s.groups.Get(ctx, s.set.ResourceGroup, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			iv := g.Properties.Containers[0].Properties.InstanceView
			if iv == nil || iv.CurrentState == nil || str(iv.CurrentState.DetailStatus) != "ImagePullBackOff" {
				t.Fatalf("instance view %s, want Waiting in ImagePullBackOff", mustJSON(iv))
			}
			var failed, backoff bool
			for _, ev := range iv.Events {
				switch str(ev.Name) {
				case "Failed":
					failed = str(ev.Type) == "Warning" && strings.Contains(str(ev.Message), `Failed to pull image "`+image+`"`) && strings.Contains(str(ev.Message), "401 Unauthorized")
				case "BackOff":
					backoff = true
				}
			}
			if !failed || !backoff {
				t.Fatalf("events %s, want a Warning Failed with the 401 and a BackOff", mustJSON(iv.Events))
			}
		})
	}
}
