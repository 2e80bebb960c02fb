package emulator

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/emulator/armtemplate"
)

// deployment is a resource-group deployment record. It keeps what ARM keeps:
// the template as sent (exportTemplate returns it), the effective
// parameters with secure values dropped, state, error and outputs. The
// evaluated resources, which may hold secret values, live only in the
// goroutine that deploys them.
type deployment struct {
	id, name, rg string

	mu              sync.Mutex
	gen             int
	state           string // Accepted | Running | Succeeded | Failed | Canceled
	err             *apiError
	template        map[string]any
	params          map[string]any
	tags            map[string]any
	outputs         map[string]any
	outputResources []any
	providers       []any
	mode            string
	templateHash    string
	correlationID   string
	started         time.Time
	updated         time.Time
	cancel          chan struct{}
}

var deploymentNameRE = regexp.MustCompile(`^[-\w\._\(\)]+$`)

const deploymentFailedMsg = "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details."

func deploymentNotFound(name string) *apiError {
	return newErr(http.StatusNotFound, "DeploymentNotFound", "Deployment '%s' could not be found.", name)
}

func active(state string) bool { return state == "Accepted" || state == "Running" }

// cancelRun stops the running deployment, if any; callers may hold e.mu.
func (d *deployment) cancelRun() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if active(d.state) {
		d.state = "Canceled"
		d.updated = time.Now().UTC()
		close(d.cancel)
	}
}

// finish records a terminal state for run gen (ignored if superseded).
func (d *deployment) finish(gen int, state string, err *apiError, outRes []any, outputs map[string]any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen != gen || !active(d.state) {
		return
	}
	d.state, d.err, d.updated = state, err, time.Now().UTC()
	if state == "Succeeded" {
		d.outputResources, d.outputs = outRes, outputs
	}
}

func (d *deployment) view() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	end := d.updated
	if active(d.state) {
		end = time.Now().UTC()
	}
	props := map[string]any{
		"templateHash":      d.templateHash,
		"parameters":        d.params,
		"mode":              d.mode,
		"provisioningState": d.state,
		"timestamp":         d.updated.Format(time.RFC3339Nano),
		"duration":          isoDuration(end.Sub(d.started)),
		"correlationId":     d.correlationID,
		"providers":         d.providers,
		"dependencies":      []any{},
	}
	if d.state == "Succeeded" {
		props["outputResources"] = d.outputResources
		if len(d.outputs) > 0 {
			props["outputs"] = d.outputs
		}
	}
	if d.err != nil {
		props["error"] = d.err
	}
	v := map[string]any{
		"id":         d.id,
		"name":       d.name,
		"type":       "Microsoft.Resources/deployments",
		"properties": props,
	}
	if len(d.tags) > 0 {
		v["tags"] = d.tags
	}
	return v
}

func isoDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return "PT" + fmtNum(float64(d.Round(time.Microsecond))/float64(time.Second)) + "S"
}

// capitalType is how ARM echoes a parameter type ("securestring" ->
// "SecureString").
func capitalType(t string) string {
	switch strings.ToLower(t) {
	case "string":
		return "String"
	case "securestring":
		return "SecureString"
	case "int":
		return "Int"
	case "bool":
		return "Bool"
	case "object":
		return "Object"
	case "secureobject":
		return "SecureObject"
	case "array":
		return "Array"
	}
	return t
}

func typedValues(ps map[string]armtemplate.Param) map[string]any {
	out := make(map[string]any, len(ps))
	for name, p := range ps {
		t := capitalType(p.Type)
		if t == "SecureString" || t == "SecureObject" {
			out[name] = map[string]any{"type": t}
			continue
		}
		out[name] = map[string]any{"type": t, "value": p.Value}
	}
	return out
}

func (e *Emulator) lookupDeployment(rgName, name string) (*resourceGroup, *deployment, *apiError) {
	rg, d, aerr := lookupIn(e, rgName, name, deploymentsOf)
	if aerr == nil && d == nil {
		aerr = deploymentNotFound(name)
	}
	return rg, d, aerr
}

func (e *Emulator) serveDeployments(q *armRequest) {
	rt, r := q.rt, q.r
	switch {
	case rt.op == "deployments.list":
		if r.Method != http.MethodGet {
			q.fail(methodNotAllowed(r))
			return
		}
		rg, aerr := e.lookupRG(rt.rg)
		if aerr != nil {
			q.fail(aerr)
			return
		}
		e.mu.RLock()
		ds := make([]*deployment, 0, len(rg.deployments))
		for _, d := range rg.deployments {
			ds = append(ds, d)
		}
		e.mu.RUnlock()
		sort.Slice(ds, func(i, j int) bool { return strings.ToLower(ds[i].name) < strings.ToLower(ds[j].name) })
		value := make([]any, 0, len(ds))
		for _, d := range ds {
			value = append(value, d.view())
		}
		q.json(http.StatusOK, map[string]any{"value": value})
	case rt.action == "cancel":
		if r.Method != http.MethodPost {
			q.fail(methodNotAllowed(r))
			return
		}
		_, d, aerr := e.lookupDeployment(rt.rg, rt.name)
		if aerr != nil {
			q.fail(aerr)
			return
		}
		d.mu.Lock()
		state := d.state
		d.mu.Unlock()
		if !active(state) {
			q.fail(newErr(http.StatusConflict, "DeploymentCannotBeCanceled",
				"The deployment '%s' cannot be canceled because it is in '%s' state. Only deployments in 'Accepted' or 'Running' state can be canceled.", d.name, state))
			return
		}
		d.cancelRun()
		q.w.WriteHeader(http.StatusNoContent)
	case rt.action == "exporttemplate":
		if r.Method != http.MethodPost {
			q.fail(methodNotAllowed(r))
			return
		}
		_, d, aerr := e.lookupDeployment(rt.rg, rt.name)
		if aerr != nil {
			q.fail(aerr)
			return
		}
		d.mu.Lock()
		t := d.template
		d.mu.Unlock()
		q.json(http.StatusOK, map[string]any{"template": t})
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		_, d, aerr := e.lookupDeployment(rt.rg, rt.name)
		if r.Method == http.MethodHead {
			if aerr != nil {
				q.w.WriteHeader(http.StatusNotFound)
			} else {
				q.w.WriteHeader(http.StatusNoContent)
			}
			return
		}
		if aerr != nil {
			q.fail(aerr)
			return
		}
		q.json(http.StatusOK, d.view())
	case r.Method == http.MethodPut:
		e.putDeployment(q)
	case r.Method == http.MethodDelete:
		e.deleteDeployment(q)
	default:
		q.fail(methodNotAllowed(r))
	}
}

func (e *Emulator) deleteDeployment(q *armRequest) {
	// ARM refuses to delete a deployment that is still running.
	d, aerr := removeFrom(e, q.rt.rg, q.rt.name, deploymentsOf, func(d *deployment) *apiError {
		d.mu.Lock()
		state := d.state
		d.mu.Unlock()
		if !active(state) {
			return nil
		}
		return newErr(http.StatusConflict, "DeploymentActive",
			"The deployment '%s' is in '%s' state and cannot be deleted. Cancel it or wait until it finishes, then delete it.", d.name, state)
	})
	if aerr != nil {
		q.fail(aerr)
		return
	}
	if d == nil {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	op := e.newOp(q.rt.sub, d.id, func() (string, *apiError) { return "Succeeded", nil })
	e.acceptedWithLocation(q, op.id)
}

// deploymentRequest is a deployment PUT's body, checked.
type deploymentRequest struct {
	mode   string
	tags   map[string]any
	tmpl   map[string]any
	params map[string]any
}

// putDeployment is ARM's deployment PUT: the request is checked, the
// template evaluated and preflighted, the deployment recorded as Accepted
// and run in the background behind an async operation.
func (e *Emulator) putDeployment(q *armRequest) {
	name := q.rt.name
	if len(name) > 64 || !deploymentNameRE.MatchString(name) {
		q.fail(badRequest("InvalidDeploymentName",
			"The deployment name '%s' is invalid. It must be 1-64 characters of letters, digits, underscores, hyphens, periods and parentheses.", name))
		return
	}
	rg, aerr := e.lookupRG(q.rt.rg)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	req, aerr := readDeploymentRequest(q.r)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	res, aerr := e.evaluateDeployment(rg, name, req)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	d, gen, cancel, created := e.recordDeployment(rg, name, req, res, q.corr)
	if d == nil {
		q.fail(rgNotFound(q.rt.rg)) // deleted meanwhile
		return
	}
	op := e.newOp(q.rt.sub, d.id, func() (string, *apiError) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen != gen {
			return "Canceled", nil
		}
		if d.state == "Accepted" {
			return "Running", nil
		}
		return d.state, d.err
	})
	// ARM's PUT always answers with the deployment as accepted, however
	// quickly it then runs; the SDK reads a terminal state in that answer
	// as the outcome and never polls the operation for its error.
	accepted := d.view()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.runDeployment(d, gen, rg.name, res, cancel)
	}()
	q.w.Header().Set("Azure-AsyncOperation", q.base()+"/subscriptions/"+q.rt.sub+"/resourcegroups/"+rg.name+"/providers/Microsoft.Resources/deployments/"+name+"/operationStatuses/"+op.id+"?api-version="+q.apiVersion())
	e.setPollHint(q.w)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	q.json(status, accepted)
}

// readDeploymentRequest checks a deployment PUT's body the way ARM
// deserializes it: properties, an incremental mode, an inline template.
func readDeploymentRequest(r *http.Request) (*deploymentRequest, *apiError) {
	body, aerr := readBody(r)
	if aerr != nil {
		return nil, aerr
	}
	props, aerr := obj(body, "properties", "")
	if aerr != nil {
		return nil, aerr
	}
	// Deployments carry tags like any resource, under the same rules.
	req := &deploymentRequest{}
	if req.tags, aerr = validateTags(body); aerr != nil {
		return nil, aerr
	}
	if props == nil {
		return nil, required("", "properties")
	}
	if req.mode, aerr = deploymentMode(props); aerr != nil {
		return nil, aerr
	}
	for _, k := range []string{"templateLink", "parametersLink"} {
		if v, ok := props[k]; ok && v != nil {
			return nil, badRequest("InvalidRequestContent", "The deployment property '%s' is not supported by this emulator: send the template and parameters inline. Path 'properties.%s'.", k, k)
		}
	}
	if req.tmpl, aerr = obj(props, "template", "properties"); aerr != nil {
		return nil, aerr
	}
	if req.tmpl == nil {
		return nil, badRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'Required property 'template' not found in JSON. Path 'properties'.'")
	}
	if req.params, aerr = obj(props, "parameters", "properties"); aerr != nil {
		return nil, aerr
	}
	if req.params == nil {
		req.params = map[string]any{}
	}
	return req, nil
}

// deploymentMode is properties.mode: only Incremental is served.
func deploymentMode(props map[string]any) (string, *apiError) {
	mode, _, aerr := str(props, "mode", "properties")
	if aerr != nil {
		return "", aerr
	}
	switch strings.ToLower(mode) {
	case "incremental":
		return "Incremental", nil
	case "complete":
		return "", badRequest("DeploymentModeNotSupported",
			"The deployment mode 'Complete' is not supported by this emulator: it would delete resources that are not in the template. Use 'Incremental'.")
	case "":
		return "", required("properties", "mode")
	default:
		return "", badRequest("InvalidRequestContent",
			"The request content was invalid and could not be deserialized: 'Error converting value \"%s\" to type 'DeploymentMode'. Path 'properties.mode'.'", mode)
	}
}

// evaluateDeployment evaluates the template in the resource group's scope
// and preflights what it would create.
func (e *Emulator) evaluateDeployment(rg *resourceGroup, name string, req *deploymentRequest) (*armtemplate.Result, *apiError) {
	scope := armtemplate.Scope{
		SubscriptionID: e.cfg.SubscriptionID,
		TenantID:       e.cfg.TenantID,
		ResourceGroup:  rg.name,
		Location:       rg.location,
		DeploymentName: name,
	}
	e.mu.RLock()
	if rg.tags != nil {
		scope.ResourceGroupTags = map[string]string{}
		for k, v := range rg.tags {
			scope.ResourceGroupTags[k] = fmt.Sprint(v)
		}
	}
	e.mu.RUnlock()
	res, err := armtemplate.Evaluate(req.tmpl, req.params, scope)
	if err != nil {
		if te, ok := err.(*armtemplate.Error); ok {
			return nil, fromTemplateError(http.StatusBadRequest, te)
		}
		return nil, badRequest("InvalidTemplate", "Deployment template validation failed: '%v'.", err)
	}
	if aerr := e.preflight(name, res); aerr != nil {
		return nil, aerr
	}
	return res, nil
}

// deploymentProviders is the providers section of a deployment that
// creates res's resources: container groups, in the locations used.
func deploymentProviders(res *armtemplate.Result) []any {
	if len(res.Resources) == 0 {
		return []any{}
	}
	locs := map[string]bool{}
	for _, r := range res.Resources {
		locs[normLocation(r.Location)] = true
	}
	ls := slices.Sorted(maps.Keys(locs))
	return []any{map[string]any{"namespace": "Microsoft.ContainerInstance", "resourceTypes": []any{
		map[string]any{"resourceType": "containerGroups", "locations": ls},
	}}}
}

// recordDeployment records the deployment as Accepted, replacing (and
// cancelling the run of) one of the same name; gen and cancel belong to
// the new run. d is nil when the resource group was deleted meanwhile.
func (e *Emulator) recordDeployment(rg *resourceGroup, name string, req *deploymentRequest, res *armtemplate.Result, corr string) (d *deployment, gen int, cancel chan struct{}, created bool) {
	now := time.Now().UTC()
	providers := deploymentProviders(res)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rgs[strings.ToLower(rg.name)] != rg {
		return nil, 0, nil, false
	}
	key := strings.ToLower(name)
	d = rg.deployments[key]
	if d == nil {
		d = &deployment{id: rg.id + "/providers/Microsoft.Resources/deployments/" + name, name: name, rg: rg.name}
		rg.deployments[key] = d
		created = true
	} else {
		// ARM completes only the last of concurrent same-name deployments.
		d.cancelRun()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.state = "Accepted"
	d.err = nil
	d.template = req.tmpl
	d.params = typedValues(res.Parameters)
	d.tags = req.tags
	d.outputs, d.outputResources = nil, nil
	d.providers = providers
	d.mode = req.mode
	d.templateHash = armtemplate.TemplateHash(req.tmpl)
	d.correlationID = corr
	d.started, d.updated = now, now
	d.cancel = make(chan struct{})
	return d, d.gen, d.cancel, created
}

// preflight is ARM's validation by the resource providers: every resource
// must be a type the emulator serves, at a known api-version, and pass the
// same checks as a direct PUT.
func (e *Emulator) preflight(deploymentName string, res *armtemplate.Result) *apiError {
	var details []*apiError
	for _, r := range res.Resources {
		if !eq(r.Type, aciType) {
			ns, typ, _ := strings.Cut(r.Type, "/")
			details = append(details, &apiError{Code: "NoRegisteredProviderFound", Target: r.Name, Message: fmt.Sprintf(
				"No registered resource provider found for resource type '%s' in namespace '%s'. This emulator serves only '%s' resources in deployments.", typ, ns, aciType)})
			continue
		}
		if !aciAPIVersionSupported(r.APIVersion) {
			details = append(details, &apiError{Code: "NoRegisteredProviderFound", Target: r.Name, Message: fmt.Sprintf(
				"No registered resource provider found for location '%s' and API version '%s' for type 'containerGroups'. The supported api-versions are '%s'.",
				normLocation(r.Location), r.APIVersion, strings.Join(apiVersionsACI, ", "))})
			continue
		}
		if _, aerr := validateGroup(r.Name, r.Body, e.cfg.AllowGPU); aerr != nil {
			aerr.Target = r.Name
			aerr.Status = 0
			details = append(details, aerr)
		}
	}
	if len(details) == 0 {
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidTemplateDeployment", Details: details, Message: fmt.Sprintf(
		"The template deployment '%s' is not valid according to the validation procedure. The tracking id is '%s'. See inner errors for details.", deploymentName, newGUID())}
}

// runDeployment creates the container groups in order and waits for each
// to finish provisioning.
func (e *Emulator) runDeployment(d *deployment, gen int, rgName string, res *armtemplate.Result, cancel <-chan struct{}) {
	d.mu.Lock()
	if d.gen == gen && d.state == "Accepted" {
		d.state = "Running"
	}
	d.mu.Unlock()
	fail := func(inner *apiError) {
		inner.Status = 0
		d.finish(gen, "Failed", &apiError{Code: "DeploymentFailed", Message: deploymentFailedMsg, Details: []*apiError{inner}}, nil, nil)
	}
	var outRes []any
	for _, r := range res.Resources {
		g, _, aerr := e.putGroup(rgName, r.Name, r.Body)
		if aerr != nil {
			fail(aerr)
			return
		}
		done, _, _, _ := g.outcome()
		select {
		case <-done:
		case <-cancel:
			return
		case <-e.ctx.Done():
			return
		}
		_, state, code, msg := g.outcome()
		if state == "Failed" {
			fail(&apiError{Code: code, Message: msg})
			return
		}
		outRes = append(outRes, map[string]any{"id": g.id})
	}
	if outRes == nil {
		outRes = []any{}
	}
	d.finish(gen, "Succeeded", nil, outRes, typedValues(res.Outputs))
}

func (e *Emulator) serveDeploymentStatus(q *armRequest) {
	if _, _, aerr := e.lookupDeployment(q.rt.rg, q.rt.name); aerr != nil {
		q.fail(aerr)
		return
	}
	op := e.lookupOp(q.rt.child)
	if op == nil {
		q.fail(newErr(http.StatusNotFound, "OperationNotFound", "The operation '%s' could not be found.", q.rt.child))
		return
	}
	st, aerr := op.status()
	body := map[string]any{"status": st}
	if aerr != nil {
		body["error"] = aerr
	}
	if active(st) || st == "Running" {
		e.setPollHint(q.w)
	}
	q.json(http.StatusOK, body)
}
