package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aciworker/aciworker/aci"
)

// jobConfig is prefect-azure's AzureContainerJobConfiguration after
// templating: the rendered job_configuration validated field by field with
// pydantic's lax coercions ("2" is a float 2.0, "true" a bool), so that
// templates that work with the Python worker work here.
type jobConfig struct {
	Command          string            // "" -> Prefect's default command
	Env              map[string]string // nulls already dropped
	EnvOrder         []string          // env names in a stable order
	Labels           map[string]string
	Name             string
	Image            string
	ImageDefaulted   bool // no image was set: the worker picks one (defaultImage)
	ResourceGroup    string
	SubscriptionID   string
	Identities       []string
	Entrypoint       string
	Registry         *aci.Registry
	CPU, Memory      float64
	GPUCount         int
	GPUSKU           string
	SubnetIDs        []string
	DNSServers       []string
	StreamOutput     bool
	Credentials      credentials
	StartTimeout     time.Duration
	PollInterval     time.Duration
	ARMTemplate      map[string]any
	KeepGroup        bool
	nullEnv          map[string]bool // names set to null: they delete a worker-provided variable
	explicitNullEntr bool
	// secretEnv are the env names whose value came from a secret source
	// (a Secret block, a block's secret field, a credentials block).
	secretEnv map[string]bool
	// Warnings are adjustments made to the job variables (clamped values),
	// for the run's logs.
	Warnings []string
}

// Bounds of what job variables may ask for. A poll interval below a second
// spends the subscription's read budget, shared by every run and every
// worker on it; Azure answers provisioning no faster than that anyway. A
// start timeout below 10 s fails every run before ACI can answer; above
// 2 hours a run that never starts holds its slot for longer than any image
// pull takes (ACI's largest images pull in well under an hour).
const (
	minPollInterval = time.Second
	maxPollInterval = 5 * time.Minute
	minStartTimeout = 10 * time.Second
	maxStartTimeout = 2 * time.Hour
)

// credentials is the aci_credentials block's data: a service principal when
// all three are set, else the worker's own Azure credential chain.
type credentials struct {
	ClientID, TenantID, ClientSecret string
}

func (c credentials) servicePrincipal() bool {
	return c.ClientID != "" && c.TenantID != "" && c.ClientSecret != ""
}

// missing names the service principal fields the block leaves empty.
func (c credentials) missing() []string {
	var out []string
	for _, f := range []struct{ name, v string }{{"client_id", c.ClientID}, {"tenant_id", c.TenantID}, {"client_secret", c.ClientSecret}} {
		if f.v == "" {
			out = append(out, f.name)
		}
	}
	return out
}

// parseJobConfig validates a rendered job configuration. Errors name the
// field and the offending value (secrets excepted).
func parseJobConfig(m map[string]any) (*jobConfig, error) {
	c := &jobConfig{
		Image:          aci.DefaultImage,
		ImageDefaulted: true,
		Entrypoint:     aci.DefaultEntrypoint,
		CPU:            aci.DefaultCPU,
		Memory:         aci.DefaultMemoryGB,
		StartTimeout:   240 * time.Second,
		PollInterval:   5 * time.Second,
		Env:            map[string]string{},
		Labels:         map[string]string{},
		nullEnv:        map[string]bool{},
		secretEnv:      map[string]bool{},
	}
	for _, f := range jobConfigFields {
		v, ok := m[f.name]
		switch {
		case ok && v != nil:
			if err := f.decode(c, v); err != nil {
				return nil, fieldError(f.name, err)
			}
		case f.required != "":
			return nil, fieldError(f.name, errors.New(f.required))
		case ok && f.null != nil:
			f.null(c)
		}
	}
	c.EnvOrder = slices.Sorted(maps.Keys(c.Env))
	return c, nil
}

// jobField decodes one field of a rendered job configuration.
type jobField struct {
	name string
	// decode reads a value that is present and not null into c.
	decode func(c *jobConfig, v any) error
	// required, when set, is the error for a field absent or null.
	required string
	// null, when set, is what an explicit null means (absent means the
	// default).
	null func(c *jobConfig)
}

// subFieldError is an error about a part of a field (labels.a).
type subFieldError struct {
	sub string
	err error
}

func (e *subFieldError) Error() string { return e.err.Error() }
func (e *subFieldError) Unwrap() error { return e.err }

// fieldError names the field (or the part of it) an error is about.
func fieldError(field string, err error) error {
	var se *subFieldError
	if errors.As(err, &se) {
		field += "." + se.sub
		err = se.err
	}
	return fmt.Errorf("job configuration field %q: %w", field, err)
}

// jobConfigFields are prefect-azure's job configuration fields, in the
// order they are checked (the first bad one is reported).
var jobConfigFields = []jobField{
	{name: "command", decode: func(c *jobConfig, v any) (err error) { c.Command, err = asString(v); return err }},
	{name: "env", decode: decodeEnv},
	{name: "labels", decode: decodeLabels},
	{name: "name", decode: func(c *jobConfig, v any) (err error) { c.Name, err = asString(v); return err }},
	{name: "image", decode: func(c *jobConfig, v any) (err error) {
		c.ImageDefaulted = false
		c.Image, err = asString(v)
		return err
	}},
	{name: "resource_group_name", required: "is required (set the job variable resource_group_name)",
		decode: func(c *jobConfig, v any) (err error) {
			if c.ResourceGroup, err = asString(v); err != nil || c.ResourceGroup == "" {
				return fmt.Errorf("must be a non-empty string, got %s", describe(v))
			}
			return nil
		}},
	{name: "subscription_id", required: "is required (set the job variable subscription_id)",
		decode: func(c *jobConfig, v any) (err error) {
			if c.SubscriptionID, err = asString(v); err != nil || c.SubscriptionID == "" {
				return errors.New("must be a non-empty string")
			}
			return nil
		}},
	{name: "identities", decode: func(c *jobConfig, v any) (err error) { c.Identities, err = asStrings(v); return err }},
	{name: "entrypoint", decode: func(c *jobConfig, v any) (err error) { c.Entrypoint, err = asString(v); return err },
		null: func(c *jobConfig) { c.Entrypoint, c.explicitNullEntr = "", true }},
	{name: "image_registry", decode: func(c *jobConfig, v any) (err error) { c.Registry, err = parseRegistry(v); return err }},
	{name: "cpu", decode: func(c *jobConfig, v any) (err error) { c.CPU, err = asFloat(v); return err }},
	{name: "memory", decode: func(c *jobConfig, v any) (err error) { c.Memory, err = asFloat(v); return err }},
	{name: "gpu_count", decode: func(c *jobConfig, v any) error {
		n, err := asInt(v)
		c.GPUCount = int(n)
		return err
	}},
	{name: "gpu_sku", decode: func(c *jobConfig, v any) (err error) { c.GPUSKU, err = asString(v); return err }},
	{name: "subnet_ids", decode: func(c *jobConfig, v any) (err error) { c.SubnetIDs, err = asStrings(v); return err }},
	{name: "dns_servers", decode: func(c *jobConfig, v any) (err error) { c.DNSServers, err = asStrings(v); return err }},
	{name: "stream_output", decode: func(c *jobConfig, v any) (err error) { c.StreamOutput, err = asBool(v); return err }},
	{name: "keep_container_group", decode: func(c *jobConfig, v any) (err error) { c.KeepGroup, err = asBool(v); return err }},
	{name: "aci_credentials", decode: decodeCredentials},
	{name: "task_start_timeout_seconds", decode: decodeStartTimeout},
	{name: "task_watch_poll_interval", decode: decodePollInterval},
	{name: "arm_template", required: "is required", decode: func(c *jobConfig, v any) error {
		t, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("must be an object, got %s", describe(v))
		}
		c.ARMTemplate = t
		return nil
	}},
}

func decodeEnv(c *jobConfig, v any) error {
	env, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("must be an object of strings, got %s", describeType(v))
	}
	for k, ev := range env {
		if ev == nil {
			c.nullEnv[k] = true
			continue
		}
		// BaseJobConfiguration._coerce_env: str() of whatever came out
		// of templating.
		if s, isStr := ev.(string); isStr {
			c.Env[k] = s
		} else {
			c.Env[k] = pyStr(ev)
		}
	}
	return nil
}

func decodeLabels(c *jobConfig, v any) error {
	labels, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("must be an object of strings, got %s", describe(v))
	}
	for k, lv := range labels {
		s, isStr := lv.(string)
		if !isStr {
			return &subFieldError{sub: k, err: fmt.Errorf("must be a string, got %s", describe(lv))}
		}
		c.Labels[k] = s
	}
	return nil
}

func decodeCredentials(c *jobConfig, v any) error {
	cm, isMap := v.(map[string]any)
	if !isMap {
		return fmt.Errorf("must be an azure-container-instance-credentials block, got %s", describeType(v))
	}
	for key, dst := range map[string]*string{"client_id": &c.Credentials.ClientID, "tenant_id": &c.Credentials.TenantID, "client_secret": &c.Credentials.ClientSecret} {
		if s, isStr := cm[key].(string); isStr {
			*dst = s
		}
	}
	if missing := c.Credentials.missing(); len(missing) > 0 && len(missing) < 3 {
		// prefect-azure's block refuses a partial service principal;
		// falling back to the worker's own identity would run the flow
		// under credentials nobody chose.
		return fmt.Errorf("a service principal needs client_id, tenant_id and client_secret; the block lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

func decodeStartTimeout(c *jobConfig, v any) error {
	n, err := asInt(v)
	if err != nil || n < 0 {
		return fmt.Errorf("must be a non-negative integer, got %s", describe(v))
	}
	// Clamped in seconds, before the conversion that would overflow.
	lo, hi := int64(minStartTimeout/time.Second), int64(maxStartTimeout/time.Second)
	secs := min(max(n, lo), hi)
	c.StartTimeout = time.Duration(secs) * time.Second
	if secs != n {
		c.Warnings = append(c.Warnings, fmt.Sprintf("task_start_timeout_seconds %d is outside [%d, %d]; using %d", n, lo, hi, secs))
	}
	return nil
}

func decodePollInterval(c *jobConfig, v any) error {
	f, err := asFloat(v)
	if err != nil || f <= 0 {
		return fmt.Errorf("must be a positive number, got %s", describe(v))
	}
	// Clamped as a float, before the conversion that would overflow.
	lo, hi := minPollInterval.Seconds(), maxPollInterval.Seconds()
	secs := min(max(f, lo), hi)
	c.PollInterval = time.Duration(secs * float64(time.Second))
	if secs != f {
		c.Warnings = append(c.Warnings, fmt.Sprintf("task_watch_poll_interval %g is outside [%g, %g] seconds; using %g", f, lo, hi, secs))
	}
	return nil
}

// markSecret records where values from a secret source (see
// jobtemplate.Options.MarkSecret) landed. They may land only where they
// stay hidden: env (sent as secure values), the registry's password (or the
// whole registry block) and aci_credentials (never sent). Anywhere else they
// would reach Azure in plain text, so the run is refused, naming the field.
func (c *jobConfig) markSecret(paths [][]string) error {
	for _, p := range paths {
		switch {
		case len(p) >= 1 && p[0] == "env":
			if len(p) == 1 {
				for k := range c.Env {
					c.secretEnv[k] = true
				}
			} else {
				c.secretEnv[p[1]] = true
			}
		case len(p) >= 1 && p[0] == "aci_credentials":
		case len(p) >= 1 && p[0] == "image_registry" && (len(p) == 1 || p[1] == "password"):
		default:
			return fmt.Errorf("job configuration field %q holds a value from a secret block field; secrets may go only in env (sent as secure values), image_registry.password and aci_credentials", strings.Join(p, "."))
		}
	}
	return nil
}

func parseRegistry(v any) (*aci.Registry, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be an object, got %s", describeType(v))
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	r := &aci.Registry{Server: str("registry_url"), Username: str("username"), Password: str("password"), Identity: str("identity")}
	if r.Server == "" {
		return nil, fmt.Errorf("registry_url is required")
	}
	return r, nil
}

// asStrings reads a list of strings.
func asStrings(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of strings, got %s", describe(v))
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("item %d must be a string, got %s", i, describe(item))
		}
		out = append(out, s)
	}
	return out, nil
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	default:
		return "", fmt.Errorf("must be a string, got %s", describe(v))
	}
}

func asFloat(v any) (float64, error) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		err = fmt.Errorf("not a number")
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("must be a number, got %s", describe(v))
	}
	return f, nil
}

func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, nil
		}
	case bool:
		return 0, fmt.Errorf("must be an integer, got %s", describe(v))
	}
	// pydantic accepts floats without a fractional part.
	f, err := asFloat(v)
	if err != nil || f != math.Trunc(f) {
		return 0, fmt.Errorf("must be an integer, got %s", describe(v))
	}
	return int64(f), nil
}

func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "y", "on", "t":
			return true, nil
		case "false", "0", "no", "n", "off", "f":
			return false, nil
		}
	case json.Number:
		switch x.String() {
		case "0", "0.0":
			return false, nil
		case "1", "1.0":
			return true, nil
		}
	}
	return false, fmt.Errorf("must be a boolean, got %s", describe(v))
}

// describeType names only the type of a JSON value, for fields that hold
// credentials (aci_credentials, image_registry, env): a string given where
// a block belongs is often the secret itself.
func describeType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// describe names a JSON value for an error message without echoing long
// text. Fields that may hold credentials use describeType instead.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 60 {
			return fmt.Sprintf("a string of %d characters", len(x))
		}
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64, int, int64:
		return fmt.Sprint(x)
	default:
		return describeType(v)
	}
}
