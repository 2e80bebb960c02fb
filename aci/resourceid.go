package aci

import "fmt"

// GroupResourceID is a container group's full ARM resource id, the form
// `az --ids` and the Azure portal take.
func GroupResourceID(subscription, resourceGroup, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerInstance/containerGroups/%s",
		subscription, resourceGroup, name)
}

// FindHint is the az commands that show a container group's output and
// details by its resource id.
func FindHint(id string) string {
	return fmt.Sprintf("Its output: az container logs --ids %s\nIts details: az container show --ids %s", id, id)
}
