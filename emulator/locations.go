package emulator

import "strings"

// locationsDisplay are the regions ACI is offered in, as ARM lists them.
var locationsDisplay = []string{
	"East US", "East US 2", "West US", "West US 2", "West US 3", "Central US", "North Central US",
	"South Central US", "West Central US", "Canada Central", "Canada East", "Brazil South",
	"North Europe", "West Europe", "UK South", "UK West", "France Central", "Germany West Central",
	"Switzerland North", "Norway East", "Sweden Central", "Poland Central", "Italy North",
	"Central India", "South India", "Japan East", "Japan West", "Korea Central", "East Asia",
	"Southeast Asia", "Australia East", "Australia Southeast", "UAE North", "South Africa North",
	"Qatar Central", "Israel Central",
}

var knownLocations = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range locationsDisplay {
		m[normLocation(l)] = true
	}
	return m
}()

// normLocation is ARM's normalisation of a location name: "East US" and
// "eastus" are the same region.
func normLocation(l string) string {
	return strings.ToLower(strings.ReplaceAll(l, " ", ""))
}

func validLocation(l string) bool { return knownLocations[normLocation(l)] }
