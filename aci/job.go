// Package aci is the client side of Azure Container Instances: the job model,
// Prepare (a pure translation of a job into an ARM deployment), the Azure
// operations on the official SDK, and the one-shot Run.
package aci

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
)

// EnvVar is one container environment variable. Secret values never enter
// the ARM template body: they travel as secureString deployment parameters.
type EnvVar struct {
	Name, Value string
	Secret      bool
}

// Registry holds private registry credentials: either Username/Password or
// Identity, the resource id of a user-assigned managed identity with AcrPull.
type Registry struct {
	Server, Username, Password, Identity string
}

// Job is one container group to run.
type Job struct {
	GroupName      string
	DeploymentName string // "" -> "prefect-" + GroupName
	Image          string // "" -> keep the template's image
	Entrypoint     string // "" -> none; otherwise put in front of the command
	Command        []string
	CPU, MemoryGB  float64 // a worker-style template's {{ cpu }} and {{ memory }}; 0 -> 1.0
	GPUCount       int
	GPUSKU         string
	Env            []EnvVar
	Identities     []string
	Registry       *Registry
	SubnetIDs      []string
	DNSServers     []string
	Location       string
	Tags           map[string]string
	// Template is the rendered ARM template to deploy (no {{ }} left);
	// required. prefectaci.DefaultTemplate renders Prefect's stock one.
	Template map[string]any
	// Withheld are secrets the job does not send but that must not appear
	// in the template body either, e.g. the worker's own credentials.
	Withheld []string
}

// Prepared is a job turned into an ARM deployment.
type Prepared struct {
	DeploymentName, GroupName string
	// ContainerName is the job container's name when the template fixes it
	// (a literal or a parameter with a literal default); "" when only ARM
	// knows it, e.g. the default template's uniqueString default.
	ContainerName string
	Template      map[string]any    // no secret value in it
	Parameters    map[string]any    // {"name": {"value": v}}; secrets only as secureString parameters
	Secrets       []string          // secret values, longest first, for redaction
	Tags          map[string]string // the job's tags, also put on the deployment record
}

// Defaults of prefect-azure's worker and job block.
const (
	DefaultImage      = "prefecthq/prefect:3-latest"
	DefaultEntrypoint = "/opt/prefect/entrypoint.sh"
	DefaultCPU        = 1.0
	DefaultMemoryGB   = 1.0

	// GroupParameter is the template parameter every deployment sets to the
	// container group's name, as prefect-azure does.
	GroupParameter = "container_group_name"

	containerGroupsType = "Microsoft.ContainerInstance/containerGroups"
)

// Limits of a Standard container group (Azure quota documentation).
const (
	MaxCPU      = 31.0
	MaxMemoryGB = 240.0
	maxTags     = 50
)

// GPUSKUs are the SKUs the 2023-05-01 ACI API accepts.
var GPUSKUs = []string{"K80", "P100", "V100"}

var (
	deploymentNameRE = regexp.MustCompile(`^[-\w._()]{1,64}$`)
	envNameRE        = regexp.MustCompile(`^[A-Za-z0-9_]{1,63}$`)
	locationRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ]{0,63}$`)
)

// ValidateGroupName checks Azure's container group naming rule: 1-63
// lowercase letters, digits and hyphens, not starting or ending with a
// hyphen, no two hyphens in a row.
func ValidateGroupName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("container group name is empty")
	case len(name) > 63:
		return fmt.Errorf("container group name %q is %d characters long; the limit is 63", name, len(name))
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return fmt.Errorf("container group name %q must not start or end with '-'", name)
	case strings.Contains(name, "--"):
		return fmt.Errorf("container group name %q must not contain '--'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("container group name %q has %q; only lowercase letters, digits and '-' are allowed", name, r)
		}
	}
	return nil
}

// ValidateDeploymentName checks ARM's deployment naming rule.
func ValidateDeploymentName(name string) error {
	if !deploymentNameRE.MatchString(name) {
		return fmt.Errorf("deployment name %q is invalid: 1-64 letters, digits, '-', '_', '.', '(' or ')'", name)
	}
	return nil
}

// ValidateEnvName checks ACI's environment variable naming rule.
func ValidateEnvName(name string) error {
	if !envNameRE.MatchString(name) || strings.HasPrefix(name, "_") || strings.HasSuffix(name, "_") {
		return fmt.Errorf("environment variable name %q is invalid: 1-63 letters, digits and '_', not starting or ending with '_'", name)
	}
	return nil
}

// ValidateCPU checks a vCPU request.
func ValidateCPU(cpu float64) error {
	if math.IsNaN(cpu) || cpu <= 0 || cpu > MaxCPU {
		return fmt.Errorf("cpu %v is out of range: must be more than 0 and at most %v", cpu, MaxCPU)
	}
	return nil
}

// ValidateMemory checks a memory request in GB.
func ValidateMemory(gb float64) error {
	if math.IsNaN(gb) || gb <= 0 || gb > MaxMemoryGB {
		return fmt.Errorf("memory %v GB is out of range: must be more than 0 and at most %v", gb, MaxMemoryGB)
	}
	return nil
}

func validateIdentityID(field, id string) error {
	l := strings.ToLower(id)
	if !strings.HasPrefix(l, "/subscriptions/") || !strings.Contains(l, "/providers/microsoft.managedidentity/userassignedidentities/") || strings.HasSuffix(l, "/") {
		return fmt.Errorf("%s %q is not a user-assigned identity resource id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})", field, id)
	}
	return nil
}

// validate checks every field of the job that Prepare writes.
func (j *Job) validate() error {
	if err := ValidateGroupName(j.GroupName); err != nil {
		return fmt.Errorf("group name: %w", err)
	}
	if err := ValidateDeploymentName(j.deploymentName()); err != nil {
		return err
	}
	if strings.ContainsFunc(j.Image, isSpaceOrControl) {
		return fmt.Errorf("image %q must not contain spaces or control characters", j.Image)
	}
	if j.CPU != 0 {
		if err := ValidateCPU(j.CPU); err != nil {
			return err
		}
	}
	if j.MemoryGB != 0 {
		if err := ValidateMemory(j.MemoryGB); err != nil {
			return err
		}
	}
	if err := validateGPU(j.GPUCount, j.GPUSKU); err != nil {
		return err
	}
	for _, e := range j.Env {
		if err := ValidateEnvName(e.Name); err != nil {
			return err
		}
	}
	for _, id := range j.Identities {
		if err := validateIdentityID("identity", id); err != nil {
			return err
		}
	}
	if r := j.Registry; r != nil {
		if r.Server == "" || strings.ContainsFunc(r.Server, isSpaceOrControl) {
			return fmt.Errorf("registry server %q is invalid: give a host name such as myregistry.azurecr.io", r.Server)
		}
		switch {
		case r.Identity != "" && (r.Username != "" || r.Password != ""):
			return fmt.Errorf("registry %q: give either an identity or a username and password, not both", r.Server)
		case r.Identity != "":
			if err := validateIdentityID("registry identity", r.Identity); err != nil {
				return err
			}
		case r.Username == "":
			return fmt.Errorf("registry %q: username is empty (or give a managed identity)", r.Server)
		case r.Password == "":
			return fmt.Errorf("registry %q: password is empty", r.Server)
		}
	}
	for _, s := range j.SubnetIDs {
		l := strings.ToLower(s)
		if !strings.HasPrefix(l, "/subscriptions/") || !strings.Contains(l, "/subnets/") {
			return fmt.Errorf("subnet id %q is not a subnet resource id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet})", s)
		}
	}
	for _, d := range j.DNSServers {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("dns server %q is not an IP address", d)
		}
	}
	if j.Location != "" && !locationRE.MatchString(j.Location) {
		return fmt.Errorf("location %q is invalid: use a region name such as eastus", j.Location)
	}
	for k, v := range j.Tags {
		if err := validateTag(k, v); err != nil {
			return err
		}
	}
	return nil
}

func validateGPU(count int, sku string) error {
	if count == 0 {
		return nil
	}
	if count != 1 && count != 2 && count != 4 {
		return fmt.Errorf("gpu count %d is invalid: ACI offers 1, 2 or 4 GPUs", count)
	}
	for _, s := range GPUSKUs {
		if s == sku {
			return nil
		}
	}
	return fmt.Errorf("gpu sku %q is invalid: must be one of %s", sku, strings.Join(GPUSKUs, ", "))
}

func validateTag(k, v string) error {
	if k == "" || len(k) > 512 || strings.ContainsAny(k, `<>%&\?/`) {
		return fmt.Errorf("tag name %q is invalid: 1-512 characters, none of <>%%&\\?/", k)
	}
	if len(v) > 256 {
		return fmt.Errorf("tag %q: value is %d characters long; the limit is 256", k, len(v))
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func (j *Job) deploymentName() string {
	if j.DeploymentName != "" {
		return j.DeploymentName
	}
	return "prefect-" + j.GroupName
}
