package aci

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aciworker/aciworker/internal/jsonvalue"
)

// SecretParameterPrefix starts the names of the secureString parameters
// Prepare adds; a number follows, bumped past any name the template already
// declares.
const SecretParameterPrefix = "aciworkerSecret"

// Prepare turns a job into the ARM deployment to submit, applying to the
// template's first resource and its first container the same edits as
// prefect-azure's prepare_for_flow_run, with three fixes: GPU requests reach
// the container, secrets become secureString parameters instead of literals
// in the template body, and plain strings that look like ARM expressions are
// escaped so that ARM takes them literally.
func Prepare(job Job) (*Prepared, error) {
	if err := job.validate(); err != nil {
		return nil, err
	}
	if job.Template == nil {
		// The stock template is Prefect's (package prefectaci); this
		// package edits whatever template the caller brings.
		return nil, errors.New("job Template is empty: give the ARM template to deploy")
	}
	p := &preparer{job: &job, tmpl: jsonvalue.Copy(job.Template)}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.out, nil
}

type preparer struct {
	job       *Job
	tmpl      map[string]any
	params    map[string]any // the template's "parameters" object
	group     map[string]any // resources[0]
	props     map[string]any // resources[0].properties
	container map[string]any // resources[0].properties.containers[0].properties
	out       *Prepared
	nextParam int
	secrets   []string
}

const (
	pathGroup     = "template resources[0]"
	pathContainer = "template resources[0].properties.containers[0]"
)

func (p *preparer) run() error {
	if err := p.locate(); err != nil {
		return err
	}
	p.out = &Prepared{
		DeploymentName: p.job.deploymentName(),
		GroupName:      p.job.GroupName,
		Template:       p.tmpl,
		Parameters:     map[string]any{},
		Tags:           maps.Clone(p.job.Tags),
	}
	groupParam, ok := p.paramName(GroupParameter)
	if !ok {
		return fmt.Errorf("template declares no %q parameter, which aciworker always sets to the container group name; add it to the template's parameters", GroupParameter)
	}
	if err := p.checkGroupName(groupParam); err != nil {
		return err
	}
	p.out.Parameters[groupParam] = map[string]any{"value": p.job.GroupName}

	if err := p.setEnv(); err != nil {
		return err
	}
	if err := p.setCommand(); err != nil {
		return err
	}
	if p.job.Image != "" {
		p.container["image"] = escape(p.job.Image)
	}
	if img, ok := p.container["image"].(string); !ok || img == "" {
		return fmt.Errorf("%s.properties.image is %s: set an image", pathContainer, describe(p.container["image"]))
	}
	if err := p.checkRequests(); err != nil {
		return err
	}
	if err := p.setGPU(); err != nil {
		return err
	}
	if err := p.setRegistry(); err != nil {
		return err
	}
	if err := p.setIdentities(); err != nil {
		return err
	}
	if len(p.job.SubnetIDs) > 0 {
		subnets := make([]any, len(p.job.SubnetIDs))
		for i, s := range p.job.SubnetIDs {
			subnets[i] = map[string]any{"id": escape(s)}
		}
		p.props["subnetIds"] = subnets
	}
	if len(p.job.DNSServers) > 0 {
		dns, _ := p.props["dnsConfig"].(map[string]any)
		if dns == nil {
			dns = map[string]any{}
		}
		dns["nameServers"] = stringsToAny(escapeAll(p.job.DNSServers))
		p.props["dnsConfig"] = dns
	}
	if err := p.setLocation(); err != nil {
		return err
	}
	if err := p.setTags(); err != nil {
		return err
	}
	p.out.ContainerName = p.containerName()
	p.out.Secrets = sortSecrets(p.secrets)
	return p.checkNoSecretInBody()
}

// MinSecretLength is the shortest secret looked for in text: in a template
// body, and by redaction. Shorter values ("1", "true", "prod") match
// ordinary text by chance, so hiding them garbles logs while protecting
// little: eight characters is the least any credential policy issues
// (NIST SP 800-63B's minimum for passwords). Shorter secrets still travel as
// secure values.
const MinSecretLength = 8

// checkNoSecretInBody refuses a template that carries a secret value outside
// the secure parameters, e.g. a user template with a literal copy of it.
func (p *preparer) checkNoSecretInBody() error {
	body, err := json.Marshal(p.tmpl)
	if err != nil {
		return fmt.Errorf("encode ARM template: %w", err)
	}
	for _, s := range append(slices.Clone(p.out.Secrets), p.job.Withheld...) {
		if len(s) < MinSecretLength {
			continue
		}
		enc, _ := json.Marshal(s)
		if strings.Contains(string(body), string(enc[1:len(enc)-1])) {
			return fmt.Errorf("the ARM template body contains the value of a secret (%d characters); remove the literal from the template, secrets are passed as secure parameters", len(s))
		}
	}
	return nil
}

// locate finds the container group and its first container, as
// prefect-azure expects them: the first resource, its first container.
func (p *preparer) locate() error {
	if p.tmpl["parameters"] == nil {
		p.tmpl["parameters"] = map[string]any{}
	}
	params, ok := p.tmpl["parameters"].(map[string]any)
	if !ok {
		return fmt.Errorf("template parameters is %s, not an object", describe(p.tmpl["parameters"]))
	}
	p.params = params
	resources, ok := p.tmpl["resources"].([]any)
	if !ok || len(resources) == 0 {
		return fmt.Errorf("template resources is %s: it must be an array whose first element is the %s resource", describe(p.tmpl["resources"]), containerGroupsType)
	}
	group, ok := resources[0].(map[string]any)
	if !ok {
		return fmt.Errorf("%s is %s, not an object", pathGroup, describe(resources[0]))
	}
	if typ, _ := group["type"].(string); !strings.EqualFold(typ, containerGroupsType) {
		return fmt.Errorf("%s.type is %s: the first resource must be a %s resource", pathGroup, describe(group["type"]), containerGroupsType)
	}
	props, ok := group["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s.properties is %s, not an object", pathGroup, describe(group["properties"]))
	}
	containers, ok := props["containers"].([]any)
	if !ok || len(containers) == 0 {
		return fmt.Errorf("%s.properties.containers is %s: it must hold the job container", pathGroup, describe(props["containers"]))
	}
	c, ok := containers[0].(map[string]any)
	if !ok {
		return fmt.Errorf("%s is %s, not an object", pathContainer, describe(containers[0]))
	}
	cp, ok := c["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s.properties is %s, not an object", pathContainer, describe(c["properties"]))
	}
	p.group, p.props, p.container = group, props, cp
	return nil
}

// paramName finds a declared parameter; ARM matches names case-insensitively.
func (p *preparer) paramName(name string) (string, bool) {
	if _, ok := p.params[name]; ok {
		return name, true
	}
	for k := range p.params {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// checkGroupName makes sure the deployed group gets the name the caller
// watches and deletes afterwards.
func (p *preparer) checkGroupName(param string) error {
	name, ok := p.group["name"].(string)
	if !ok {
		return fmt.Errorf("%s.name is %s, not a string", pathGroup, describe(p.group["name"]))
	}
	if !isExpression(name) {
		if name != p.job.GroupName {
			return fmt.Errorf("%s.name is the literal %q but the group is named %q: use \"[parameters('%s')]\"", pathGroup, name, p.job.GroupName, param)
		}
		return nil
	}
	if compactExpr(name) != "[parameters('"+strings.ToLower(param)+"')]" {
		return fmt.Errorf("%s.name is %q: it must be \"[parameters('%s')]\" so that the group gets the name aciworker watches", pathGroup, name, param)
	}
	return nil
}

// newSecretParam declares a secureString parameter for value and returns a
// reference to it. Names never collide with the template's own parameters.
func (p *preparer) newSecretParam(value, description string) string {
	var name string
	for {
		name = SecretParameterPrefix + strconv.Itoa(p.nextParam)
		p.nextParam++
		if _, taken := p.paramName(name); !taken {
			break
		}
	}
	p.params[name] = map[string]any{
		"type":     "secureString",
		"metadata": map[string]any{"description": description},
	}
	p.out.Parameters[name] = map[string]any{"value": value}
	if value != "" {
		p.secrets = append(p.secrets, value)
	}
	return "[parameters('" + name + "')]"
}

// setEnv writes the container's environment like _get_arm_environment:
// later duplicates win, first position kept. Entries the template already
// has stay unless the job sets the same name (prefect-azure drops them).
func (p *preparer) setEnv() error {
	order := []string{}
	byName := map[string]EnvVar{}
	for _, e := range p.job.Env {
		if _, seen := byName[e.Name]; !seen {
			order = append(order, e.Name)
		}
		byName[e.Name] = e
	}
	var env []any
	switch existing := p.container["environmentVariables"].(type) {
	case nil:
	case []any:
		for i, item := range existing {
			m, ok := item.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.properties.environmentVariables[%d] is %s, not an object", pathContainer, i, describe(item))
			}
			name, _ := m["name"].(string)
			if _, overridden := byName[name]; overridden {
				continue
			}
			env = append(env, m)
		}
	default:
		return fmt.Errorf("%s.properties.environmentVariables is %s, not an array", pathContainer, describe(existing))
	}
	for _, name := range order {
		e := byName[name]
		if e.Secret {
			ref := p.newSecretParam(e.Value, "environment variable "+e.Name+" (set by aciworker)")
			env = append(env, map[string]any{"name": e.Name, "secureValue": ref})
		} else {
			env = append(env, map[string]any{"name": e.Name, "value": escape(e.Value)})
		}
	}
	if env == nil {
		env = []any{}
	}
	p.container["environmentVariables"] = env
	return nil
}

// setCommand puts the entrypoint in front of the command, as prefect-azure
// does, because an ACI command replaces the image's ENTRYPOINT.
func (p *preparer) setCommand() error {
	var cmd []any
	if len(p.job.Command) > 0 {
		cmd = stringsToAny(escapeAll(p.job.Command))
	} else {
		switch c := p.container["command"].(type) {
		case nil:
		case []any:
			cmd = c
		default:
			return fmt.Errorf("%s.properties.command is %s: it must be an array of strings", pathContainer, describe(c))
		}
	}
	if p.job.Entrypoint != "" {
		cmd = append([]any{escape(p.job.Entrypoint)}, cmd...)
	}
	if cmd != nil {
		p.container["command"] = cmd
	}
	return nil
}

func (p *preparer) requests() (map[string]any, error) {
	res, ok := p.container["resources"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.properties.resources is %s, not an object", pathContainer, describe(p.container["resources"]))
	}
	req, ok := res["requests"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.properties.resources.requests is %s, not an object", pathContainer, describe(res["requests"]))
	}
	return req, nil
}

// checkRequests validates literal cpu and memory values the template holds;
// expressions are left to ARM.
func (p *preparer) checkRequests() error {
	req, err := p.requests()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		key   string
		check func(float64) error
	}{{"cpu", ValidateCPU}, {"memoryInGB", ValidateMemory}} {
		v, present := req[f.key]
		if !present {
			return fmt.Errorf("%s.properties.resources.requests.%s is missing", pathContainer, f.key)
		}
		if s, ok := v.(string); ok && isExpression(s) {
			continue
		}
		n, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("%s.properties.resources.requests.%s is %s, not a number", pathContainer, f.key, describe(v))
		}
		if err := f.check(n); err != nil {
			return fmt.Errorf("%s.properties.resources.requests: %w", pathContainer, err)
		}
	}
	return nil
}

// setGPU puts the GPU request where ACI reads it; prefect-azure accepts
// gpu_count and gpu_sku but never writes them.
func (p *preparer) setGPU() error {
	if p.job.GPUCount == 0 {
		return nil
	}
	req, err := p.requests()
	if err != nil {
		return err
	}
	req["gpu"] = map[string]any{"count": json.Number(strconv.Itoa(p.job.GPUCount)), "sku": p.job.GPUSKU}
	return nil
}

func (p *preparer) setRegistry() error {
	r := p.job.Registry
	if r == nil {
		return nil
	}
	cred := map[string]any{"server": escape(r.Server)}
	if r.Identity != "" {
		cred["identity"] = escape(r.Identity)
	} else {
		cred["username"] = escape(r.Username)
		cred["password"] = p.newSecretParam(r.Password, "password of registry "+r.Server+" (set by aciworker)")
	}
	p.props["imageRegistryCredentials"] = []any{cred}
	return nil
}

// setIdentities attaches user-assigned identities, including the registry's
// managed identity, which ACI can only use for pulls when the group has it.
func (p *preparer) setIdentities() error {
	ids := slices.Clone(p.job.Identities)
	if r := p.job.Registry; r != nil && r.Identity != "" && !slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, r.Identity) }) {
		ids = append(ids, r.Identity)
	}
	if len(ids) == 0 {
		return nil
	}
	assigned := map[string]any{}
	typ := "UserAssigned"
	switch existing := p.group["identity"].(type) {
	case nil:
	case map[string]any:
		if t, _ := existing["type"].(string); strings.Contains(strings.ToLower(t), "systemassigned") {
			typ = "SystemAssigned, UserAssigned"
		}
		if m, ok := existing["userAssignedIdentities"].(map[string]any); ok {
			maps.Copy(assigned, m)
		}
	default:
		return fmt.Errorf("%s.identity is %s, not an object", pathGroup, describe(existing))
	}
	for _, id := range ids {
		assigned[id] = map[string]any{}
	}
	p.group["identity"] = map[string]any{"type": typ, "userAssignedIdentities": assigned}
	return nil
}

// setLocation passes the location the way the template expects it: as its
// "location" parameter when it declares one (the default template does),
// else literally on the resource.
func (p *preparer) setLocation() error {
	if p.job.Location == "" {
		return nil
	}
	if name, ok := p.paramName("location"); ok {
		p.out.Parameters[name] = map[string]any{"value": p.job.Location}
		return nil
	}
	p.group["location"] = escape(p.job.Location)
	return nil
}

func (p *preparer) setTags() error {
	if len(p.job.Tags) == 0 {
		return nil
	}
	tags := map[string]any{}
	switch existing := p.group["tags"].(type) {
	case nil:
	case map[string]any:
		maps.Copy(tags, existing)
	default:
		return fmt.Errorf("%s.tags is %s: aciworker needs an object to add its tags to", pathGroup, describe(existing))
	}
	for k, v := range p.job.Tags {
		tags[k] = escape(v)
	}
	if len(tags) > maxTags {
		return fmt.Errorf("%s.tags: %d tags; Azure allows at most %d", pathGroup, len(tags), maxTags)
	}
	p.group["tags"] = tags
	return nil
}

// containerName resolves the container's name when no ARM evaluation is
// needed for it.
func (p *preparer) containerName() string {
	containers := p.props["containers"].([]any)
	name, _ := containers[0].(map[string]any)["name"].(string)
	if !isExpression(name) {
		return name
	}
	c := compactExpr(name)
	const pre, post = "[parameters('", "')]"
	if !strings.HasPrefix(c, pre) || !strings.HasSuffix(c, post) {
		return ""
	}
	pn, ok := p.paramName(c[len(pre) : len(c)-len(post)])
	if !ok {
		return ""
	}
	if v, ok := p.out.Parameters[pn].(map[string]any); ok {
		s, _ := v["value"].(string)
		return s
	}
	decl, _ := p.params[pn].(map[string]any)
	def, _ := decl["defaultValue"].(string)
	if isExpression(def) {
		return ""
	}
	return unescape(def)
}

// isExpression reports whether ARM evaluates s: it starts with '[' and ends
// with ']' and is not escaped with "[[".
func isExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[")
}

// escape makes ARM read s literally: a string that starts with '[' and ends
// with ']' gets one more '['.
func escape(s string) string {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return "[" + s
	}
	return s
}

func unescape(s string) string {
	if strings.HasPrefix(s, "[[") && strings.HasSuffix(s, "]") {
		return s[1:]
	}
	return s
}

func escapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escape(s)
	}
	return out
}

// compactExpr lower-cases an expression and drops whitespace outside string
// literals, for comparing simple expressions.
func compactExpr(s string) string {
	var b strings.Builder
	inStr := false
	for _, r := range s {
		if r == '\'' {
			inStr = !inStr
		}
		if !inStr && (r == ' ' || r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "missing"
	case string:
		return strconv.Quote(x)
	case json.Number:
		return "the number " + x.String()
	case float64, int, int64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return fmt.Sprintf("an array of %d", len(x))
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sortSecrets(s []string) []string {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b string) int {
		if d := len(b) - len(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(s)
}
