package emulator

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/emulator/runtime"
)

// containerGroup is one ACI container group and its running containers.
type containerGroup struct {
	e       *Emulator
	id      string
	key     string // lower-cased id: the list order and skip token
	name    string // as created
	rg      string // resource group name as created
	created time.Time

	mu          sync.Mutex
	spec        *groupSpec
	provState   string // Pending | Creating | Succeeded | Failed
	failCode    string
	failMsg     string
	stopped     bool
	removed     bool
	conts       []*runtime.Container // nil until started
	gen         int
	provisioned chan struct{} // closed when provState is terminal for gen
	events      []map[string]any
}

const aciType = "Microsoft.ContainerInstance/containerGroups"

func groupNotFound(rg, name string) *apiError {
	return newErr(http.StatusNotFound, "ResourceNotFound",
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", aciType, name, rg)
}

// putGroup creates or updates a container group; the direct ACI PUT and
// deployments share it, validation included.
func (e *Emulator) putGroup(rgName, name string, body map[string]any) (*containerGroup, bool, *apiError) {
	spec, aerr := validateGroup(name, body, e.cfg.AllowGPU)
	if aerr != nil {
		return nil, false, aerr
	}
	e.mu.Lock()
	rg := e.rgs[strings.ToLower(rgName)]
	if rg == nil {
		e.mu.Unlock()
		return nil, false, rgNotFound(rgName)
	}
	key := strings.ToLower(name)
	existing := rg.groups[key]
	if existing != nil && existing.location() != spec.location {
		e.mu.Unlock()
		return nil, false, newErr(http.StatusConflict, "InvalidResourceLocation",
			"The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.",
			name, existing.location(), rg.name, spec.location)
	}
	if aerr := e.checkQuota(spec, existing); aerr != nil {
		e.mu.Unlock()
		return nil, false, aerr
	}
	var pf *provisionFault
	takeFault := func() {
		if len(e.provFail) > 0 {
			f := e.provFail[0]
			e.provFail = e.provFail[1:]
			pf = &f
		}
	}
	if existing != nil {
		existing.mu.Lock()
		sameRun := reflect.DeepEqual(existing.spec.containers, spec.containers) &&
			existing.spec.restartPolicy == spec.restartPolicy && !existing.stopped &&
			existing.provState != "Failed"
		existing.spec = spec
		existing.mu.Unlock()
		if !sameRun {
			takeFault()
			existing.reprovision(pf)
		}
		e.mu.Unlock()
		return existing, false, nil
	}
	g := &containerGroup{
		e:       e,
		id:      rg.id + "/providers/" + aciType + "/" + name,
		key:     strings.ToLower(rg.id + "/providers/" + aciType + "/" + name),
		name:    name,
		rg:      rg.name,
		created: time.Now().UTC(),
		spec:    spec,
	}
	rg.groups[key] = g
	takeFault()
	g.reprovision(pf)
	e.mu.Unlock()
	return g, true, nil
}

// checkQuota applies the per-region group and core quotas; callers hold e.mu.
func (e *Emulator) checkQuota(spec *groupSpec, replacing *containerGroup) *apiError {
	groups, cores := 0, 0.0
	for _, rg := range e.rgs {
		for _, g := range rg.groups {
			if g == replacing || g.location() != spec.location {
				continue
			}
			groups++
			cores += g.activeCores()
		}
	}
	if replacing == nil && groups+1 > e.cfg.MaxGroups {
		return badRequest("ContainerGroupQuotaReached",
			"Resource type '%s' container group quota 'ContainerGroups' exceeded in region '%s'. Limit: '%d', Usage: '%d' Requested: '1'.",
			aciType, spec.location, e.cfg.MaxGroups, groups)
	}
	if cores+spec.cores > float64(e.cfg.MaxCores)+1e-9 {
		return badRequest("ContainerGroupQuotaReached",
			"Resource type '%s' container group quota 'StandardCores' exceeded in region '%s'. Limit: '%d', Usage: '%s' Requested: '%s'.",
			aciType, spec.location, e.cfg.MaxCores, fmtNum(cores), fmtNum(spec.cores))
	}
	return nil
}

func (g *containerGroup) location() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spec.location
}

// activeCores is what the group holds against the core quota: stopped
// groups are deallocated and hold none.
func (g *containerGroup) activeCores() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return 0
	}
	return g.spec.cores
}

// reprovision stops whatever runs and provisions the group afresh.
func (g *containerGroup) reprovision(pf *provisionFault) {
	g.mu.Lock()
	old := g.conts
	g.conts = nil
	g.gen++
	gen := g.gen
	g.stopped = false
	g.provState = "Pending"
	g.failCode, g.failMsg = "", ""
	g.provisioned = make(chan struct{})
	g.events = nil
	g.mu.Unlock()
	for _, c := range old {
		c.Stop()
	}
	e := g.e
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		g.provision(gen, pf)
	}()
}

// provision starts the containers after the configured delay and watches
// them until every one has started (Succeeded) or a pull failed (Failed).
func (g *containerGroup) provision(gen int, pf *provisionFault) {
	e := g.e
	if d := e.cfg.ProvisionDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	g.mu.Lock()
	if g.gen != gen || g.removed {
		g.mu.Unlock()
		return
	}
	if pf != nil {
		g.failLocked(pf.code, pf.message)
		g.mu.Unlock()
		return
	}
	g.provState = "Creating"
	spec := g.spec
	conts := make([]*runtime.Container, 0, len(spec.containers))
	for _, cs := range spec.containers {
		var pullErr string
		if rule, _ := e.rt.ImageRule(cs.image); rule.PullError == "" {
			pullErr = privatePullError(cs.image, spec.registries)
		}
		c, err := e.rt.Start(runtime.Spec{
			Group:         g.rg + "/" + g.name,
			Name:          cs.name,
			Image:         cs.image,
			Command:       cs.command,
			Env:           cs.env,
			RestartPolicy: spec.restartPolicy,
			PullError:     pullErr,
		})
		if err != nil {
			for _, s := range conts {
				s.Stop()
			}
			g.failLocked("ContainerGroupDeploymentFailed", fmt.Sprintf("Container '%s' in container group '%s' could not be started: %v", cs.name, g.name, err))
			g.mu.Unlock()
			return
		}
		conts = append(conts, c)
	}
	g.conts = conts
	g.mu.Unlock()

	wait := time.Millisecond
	for {
		g.mu.Lock()
		if g.gen != gen || g.removed {
			g.mu.Unlock()
			return
		}
		started, failedImage := true, ""
		for i, c := range conts {
			st := c.Status()
			if st.PullFailed {
				failedImage = spec.containers[i].image
				break
			}
			if !hasStarted(st, c) {
				started = false
			}
		}
		switch {
		case failedImage != "":
			g.failLocked("InaccessibleImage", fmt.Sprintf("The image '%s' in container group '%s' is not accessible. Please check the image and registry credential.", failedImage, g.name))
			g.mu.Unlock()
			return
		case started:
			g.provState = "Succeeded"
			close(g.provisioned)
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
}

func hasStarted(st runtime.Status, c *runtime.Container) bool {
	if st.Current.State == "Running" || st.Current.State == "Terminated" || st.RestartCount > 0 || st.Previous != nil {
		return true
	}
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// failLocked marks provisioning failed; callers hold g.mu.
func (g *containerGroup) failLocked(code, msg string) {
	g.provState = "Failed"
	g.failCode, g.failMsg = code, msg
	now := time.Now().UTC().Format(time.RFC3339)
	g.events = append(g.events, map[string]any{
		"count": 1, "firstTimestamp": now, "lastTimestamp": now,
		"name": code, "message": msg, "type": "Warning",
	})
	close(g.provisioned)
}

// outcome reports the provisioning result once it is terminal.
func (g *containerGroup) outcome() (done <-chan struct{}, state, code, msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.provisioned, g.provState, g.failCode, g.failMsg
}

func (g *containerGroup) stop() {
	g.mu.Lock()
	conts := g.conts
	g.stopped = true
	g.gen++
	if g.provState != "Succeeded" && g.provState != "Failed" {
		// A stop ends provisioning: nothing will start any more.
		g.provState = "Succeeded"
		close(g.provisioned)
	}
	g.mu.Unlock()
	for _, c := range conts {
		c.Stop()
	}
}

// remove kills the group's containers for a delete.
func (g *containerGroup) remove() {
	g.mu.Lock()
	g.removed = true
	g.gen++
	conts := g.conts
	if g.provState != "Succeeded" && g.provState != "Failed" {
		g.failLocked("ContainerGroupDeleted", fmt.Sprintf("The container group '%s' was deleted while it was being provisioned.", g.name))
	}
	g.mu.Unlock()
	for _, c := range conts {
		c.Stop()
	}
}

func (g *containerGroup) allDone() bool {
	g.mu.Lock()
	conts := g.conts
	g.mu.Unlock()
	for _, c := range conts {
		select {
		case <-c.Done():
		default:
			return false
		}
	}
	return true
}

// view renders the group as ACI returns it; list operations leave out the
// instance views.
func (g *containerGroup) view(withInstanceView bool) map[string]any {
	g.mu.Lock()
	spec, conts, prov, stopped := g.spec, g.conts, g.provState, g.stopped
	events := append([]map[string]any(nil), g.events...)
	g.mu.Unlock()

	props := make(map[string]any, len(spec.props)+2)
	for k, v := range spec.props {
		props[k] = v
	}
	props["provisioningState"] = prov
	var statuses []runtime.Status
	if withInstanceView {
		statuses = make([]runtime.Status, len(spec.containers))
		for i := range statuses {
			if i < len(conts) {
				statuses[i] = conts[i].Status()
			}
		}
		echoed, _ := spec.props["containers"].([]any)
		out := make([]any, len(echoed))
		for i, c := range echoed {
			cm := c.(map[string]any)
			cp := cm["properties"].(map[string]any)
			np := make(map[string]any, len(cp)+1)
			for k, v := range cp {
				np[k] = v
			}
			np["instanceView"] = containerInstanceView(statuses[i], i < len(conts))
			out[i] = map[string]any{"name": cm["name"], "properties": np}
		}
		props["containers"] = out
		evs := make([]any, 0, len(events))
		for _, ev := range events {
			evs = append(evs, ev)
		}
		props["instanceView"] = map[string]any{
			"events": evs,
			"state":  groupState(prov, stopped, conts, statuses, spec.restartPolicy),
		}
	}
	v := map[string]any{
		"id":         g.id,
		"name":       g.name,
		"type":       aciType,
		"location":   spec.location,
		"properties": props,
	}
	if spec.tags != nil {
		v["tags"] = spec.tags
	}
	if spec.identity != nil {
		v["identity"] = spec.identity
	}
	for k, x := range spec.extra {
		v[k] = x
	}
	return v
}

func groupState(prov string, stopped bool, conts []*runtime.Container, st []runtime.Status, policy string) string {
	switch {
	case stopped:
		return "Stopped"
	case prov == "Failed" || len(conts) == 0:
		return "Pending"
	}
	allDone, allZero, anyRunning, anyStarted := true, true, false, false
	for i, c := range conts {
		select {
		case <-c.Done():
		default:
			allDone = false
		}
		s := st[i]
		if s.Current.State == "Running" {
			anyRunning = true
		}
		if hasStarted(s, c) {
			anyStarted = true
		}
		if s.Current.State != "Terminated" || s.Current.ExitCode == nil || *s.Current.ExitCode != 0 {
			allZero = false
		}
	}
	switch {
	case allDone && policy != "Always":
		if allZero {
			return "Succeeded"
		}
		return "Failed"
	case anyRunning || anyStarted:
		return "Running"
	}
	return "Pending"
}

func stateJSON(s runtime.State) map[string]any {
	m := map[string]any{"state": s.State, "detailStatus": s.DetailStatus}
	if !s.StartTime.IsZero() {
		m["startTime"] = s.StartTime.UTC().Format(time.RFC3339Nano)
	}
	if !s.FinishTime.IsZero() {
		m["finishTime"] = s.FinishTime.UTC().Format(time.RFC3339Nano)
	}
	if s.ExitCode != nil {
		m["exitCode"] = *s.ExitCode
	}
	return m
}

func containerInstanceView(st runtime.Status, started bool) map[string]any {
	if !started {
		return map[string]any{
			"restartCount": 0,
			"currentState": map[string]any{"state": "Waiting", "detailStatus": ""},
			"events":       []any{},
		}
	}
	evs := make([]any, 0, len(st.Events))
	for _, ev := range st.Events {
		m := map[string]any{"count": ev.Count, "name": ev.Name, "message": ev.Message, "type": ev.Type}
		if !ev.FirstTimestamp.IsZero() {
			m["firstTimestamp"] = ev.FirstTimestamp.UTC().Format(time.RFC3339Nano)
		}
		if !ev.LastTimestamp.IsZero() {
			m["lastTimestamp"] = ev.LastTimestamp.UTC().Format(time.RFC3339Nano)
		}
		evs = append(evs, m)
	}
	iv := map[string]any{
		"restartCount": st.RestartCount,
		"currentState": stateJSON(st.Current),
		"events":       evs,
	}
	if st.Previous != nil {
		iv["previousState"] = stateJSON(*st.Previous)
	}
	return iv
}

// lookupGroup finds a container group in a resource group.
func (e *Emulator) lookupGroup(rgName, name string) (*containerGroup, *apiError) {
	rg, g, aerr := lookupIn(e, rgName, name, groupsOf)
	if aerr == nil && g == nil {
		aerr = groupNotFound(rg.name, name)
	}
	return g, aerr
}

func (e *Emulator) serveContainerGroups(q *armRequest) {
	rt, r := q.rt, q.r
	switch {
	case rt.op == "containerGroups.listBySubscription" || rt.op == "containerGroups.list":
		if r.Method != http.MethodGet {
			q.fail(methodNotAllowed(r))
			return
		}
		e.listGroups(q)
	case rt.op == "containers.logs":
		if r.Method != http.MethodGet {
			q.fail(methodNotAllowed(r))
			return
		}
		e.groupLogs(q)
	case rt.action != "":
		if r.Method != http.MethodPost {
			q.fail(methodNotAllowed(r))
			return
		}
		e.groupAction(q)
	case r.Method == http.MethodGet:
		g, aerr := e.lookupGroup(rt.rg, rt.name)
		if aerr != nil {
			q.fail(aerr)
			return
		}
		q.json(http.StatusOK, g.view(true))
	case r.Method == http.MethodPut:
		e.putGroupHTTP(q)
	case r.Method == http.MethodPatch:
		e.patchGroup(q)
	case r.Method == http.MethodDelete:
		e.deleteGroup(q)
	default:
		q.fail(methodNotAllowed(r))
	}
}

func (e *Emulator) putGroupHTTP(q *armRequest) {
	if aerr := validateGroupName(q.rt.name); aerr != nil {
		q.fail(aerr)
		return
	}
	if _, aerr := e.lookupRG(q.rt.rg); aerr != nil {
		q.fail(aerr)
		return
	}
	body, aerr := readBody(q.r)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	g, created, aerr := e.putGroup(q.rt.rg, q.rt.name, body)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	op := e.newOp(q.rt.sub, g.id, g.opStatus())
	loc := g.location()
	e.aciAsyncOperation(q, loc, op.id)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	q.json(status, g.view(false))
}

// opStatus follows the group's current provisioning.
func (g *containerGroup) opStatus() func() (string, *apiError) {
	return func() (string, *apiError) {
		done, state, code, msg := g.outcome()
		select {
		case <-done:
		default:
			return "Running", nil
		}
		if state == "Failed" {
			return "Failed", &apiError{Status: http.StatusBadRequest, Code: code, Message: msg}
		}
		return "Succeeded", nil
	}
}

func (e *Emulator) patchGroup(q *armRequest) {
	g, aerr := e.lookupGroup(q.rt.rg, q.rt.name)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	body, aerr := readBody(q.r)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	tags, aerr := validateTags(body)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	g.mu.Lock()
	cp := *g.spec
	cp.tags = tags
	g.spec = &cp
	g.mu.Unlock()
	q.json(http.StatusOK, g.view(false))
}

func (e *Emulator) deleteGroup(q *armRequest) {
	g, aerr := removeFrom(e, q.rt.rg, q.rt.name, groupsOf, nil)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	if g == nil {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	g.remove()
	op := e.newOp(q.rt.sub, g.id, func() (string, *apiError) {
		if g.allDone() {
			return "Succeeded", nil
		}
		return "Running", nil
	})
	e.aciAsyncOperation(q, g.location(), op.id)
	q.w.WriteHeader(http.StatusAccepted)
}

func (e *Emulator) groupAction(q *armRequest) {
	g, aerr := e.lookupGroup(q.rt.rg, q.rt.name)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	switch q.rt.action {
	case "stop":
		g.stop()
		q.w.WriteHeader(http.StatusNoContent)
	case "restart":
		g.mu.Lock()
		stopped := g.stopped
		g.mu.Unlock()
		if stopped {
			q.fail(newErr(http.StatusConflict, "ContainerGroupStopped", "The container group '%s' is stopped. Start it instead of restarting it.", g.name))
			return
		}
		g.reprovision(nil)
		q.w.WriteHeader(http.StatusNoContent)
	case "start":
		g.reprovision(nil)
		op := e.newOp(q.rt.sub, g.id, g.opStatus())
		e.acceptedWithLocation(q, op.id)
	}
}

func (e *Emulator) groupLogs(q *armRequest) {
	g, aerr := e.lookupGroup(q.rt.rg, q.rt.name)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	qs := q.r.URL.Query()
	tail := 0
	if s := qs.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			q.fail(badRequest("InvalidRequestParameter", "The value '%s' of query parameter 'tail' is invalid. It must be a non-negative integer.", s))
			return
		}
		tail = n
	}
	ts := false
	if s := qs.Get("timestamps"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			q.fail(badRequest("InvalidRequestParameter", "The value '%s' of query parameter 'timestamps' is invalid. It must be 'true' or 'false'.", s))
			return
		}
		ts = b
	}
	g.mu.Lock()
	idx := -1
	for i, c := range g.spec.containers {
		if c.name == q.rt.child || eq(c.name, q.rt.child) {
			idx = i
			break
		}
	}
	var c *runtime.Container
	if idx >= 0 && idx < len(g.conts) {
		c = g.conts[idx]
	}
	g.mu.Unlock()
	if idx < 0 {
		q.fail(newErr(http.StatusNotFound, "ContainerNotFound", "The container '%s' could not be found in container group '%s'.", q.rt.child, g.name))
		return
	}
	content := ""
	if c != nil {
		content = c.Logs(tail, ts)
	}
	q.json(http.StatusOK, map[string]any{"content": content})
}

const listPageSize = 100

func (e *Emulator) listGroups(q *armRequest) {
	var groups []*containerGroup
	e.mu.RLock()
	if q.rt.op == "containerGroups.list" {
		rg := e.rgs[strings.ToLower(q.rt.rg)]
		if rg == nil {
			e.mu.RUnlock()
			q.fail(rgNotFound(q.rt.rg))
			return
		}
		groups = make([]*containerGroup, 0, len(rg.groups))
		for _, g := range rg.groups {
			groups = append(groups, g)
		}
	} else {
		for _, rg := range e.rgs {
			for _, g := range rg.groups {
				groups = append(groups, g)
			}
		}
	}
	e.mu.RUnlock()
	// Stable order (by id) so that a skip token resumes where a page ended.
	sort.Slice(groups, func(i, j int) bool { return groups[i].key < groups[j].key })
	start := 0
	if tok := q.r.URL.Query().Get("$skipToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			q.fail(badRequest("InvalidSkipToken", "The skip token '%s' is invalid.", tok))
			return
		}
		last := string(raw)
		start = sort.Search(len(groups), func(i int) bool { return groups[i].key > last })
	}
	end := min(start+listPageSize, len(groups))
	value := make([]any, 0, end-start)
	for _, g := range groups[start:end] {
		value = append(value, g.view(false))
	}
	body := map[string]any{"value": value}
	if end < len(groups) {
		tok := base64.RawURLEncoding.EncodeToString([]byte(groups[end-1].key))
		body["nextLink"] = q.base() + q.r.URL.Path + "?api-version=" + q.apiVersion() + "&$skipToken=" + tok
	}
	q.json(http.StatusOK, body)
}

// serveUsages reports quota usage like ACI's List Usage API.
func (e *Emulator) serveUsages(q *armRequest) {
	loc := normLocation(q.rt.loc)
	groups, cores := 0, 0.0
	e.mu.RLock()
	for _, rg := range e.rgs {
		for _, g := range rg.groups {
			if g.location() == loc {
				groups++
				cores += g.activeCores()
			}
		}
	}
	e.mu.RUnlock()
	usage := func(name, display string, cur, lim int) map[string]any {
		return map[string]any{"unit": "Count", "currentValue": cur, "limit": lim,
			"name": map[string]any{"value": name, "localizedValue": display}}
	}
	q.json(http.StatusOK, map[string]any{"value": []any{
		usage("ContainerGroups", "Container Groups", groups, e.cfg.MaxGroups),
		usage("StandardCores", "Standard Cores", int(math.Ceil(cores)), e.cfg.MaxCores),
	}})
}

// KillContainer crashes every container of a group as a node failure or an
// OOM kill would (exit 137); the restart policy applies.
func (e *Emulator) KillContainer(resourceGroup, group string) error {
	g, aerr := e.lookupGroup(resourceGroup, group)
	if aerr != nil {
		return fmt.Errorf("kill container: %w", aerr)
	}
	g.mu.Lock()
	conts := g.conts
	g.mu.Unlock()
	if len(conts) == 0 {
		return fmt.Errorf("kill container: container group %q has no running containers", group)
	}
	for _, c := range conts {
		c.Kill()
	}
	return nil
}
