package aci

import (
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
)

// Group is a container group as a GET returns it (with its instance view).
type Group struct {
	Name, ID          string
	ProvisioningState string // Pending, Creating, Succeeded, Failed, ...
	State             string // instance view: Running, Stopped, Pending, Succeeded, Failed
	Tags              map[string]string
	Events            []Event
	Containers        []Container
}

// Container is one container of a group with its instance view.
type Container struct {
	Name              string
	Current, Previous *ContainerState
	RestartCount      int32
	Events            []Event
}

// ContainerState is a container's current or previous state.
type ContainerState struct {
	State        string // Waiting, Running, Terminated
	ExitCode     *int32
	StartTime    time.Time
	FinishTime   time.Time
	DetailStatus string
}

// Event is an instance view event (Pulling, Pulled, Started, Failed,
// BackOff, Killing, ...).
type Event struct {
	Name, Type, Message string
	Count               int32
}

// GroupSummary is a group as a list returns it (no instance view).
type GroupSummary struct {
	Name, ProvisioningState string
	Tags                    map[string]string
}

// DeploymentSummary is a deployment record in a resource group's history.
type DeploymentSummary struct {
	Name, ProvisioningState string
	Timestamp               time.Time
	Tags                    map[string]string
}

const (
	stateTerminated = "Terminated"
	stateRunning    = "Running"
)

// Outcome is the job container's exit code once it has terminated. When
// the container already restarted (ACI may restart even with restart
// policy Never), the previous, first, termination is the outcome.
func (g *Group) Outcome() (exitCode int32, terminated bool) {
	if len(g.Containers) == 0 {
		return 0, false
	}
	c := g.Containers[0]
	pick := func(s *ContainerState) (int32, bool) {
		if s.ExitCode == nil {
			return -1, true
		}
		return *s.ExitCode, true
	}
	if c.RestartCount > 0 && c.Previous != nil && strings.EqualFold(c.Previous.State, stateTerminated) {
		return pick(c.Previous)
	}
	if c.Current != nil && strings.EqualFold(c.Current.State, stateTerminated) {
		return pick(c.Current)
	}
	return 0, false
}

// Started reports whether the job container has run: it is running or has
// terminated.
func (g *Group) Started() bool {
	if len(g.Containers) == 0 {
		return false
	}
	c := g.Containers[0]
	if c.RestartCount > 0 {
		return true
	}
	return c.Current != nil && (strings.EqualFold(c.Current.State, stateRunning) || strings.EqualFold(c.Current.State, stateTerminated))
}

// PullFailed reports whether ACI failed to pull an image; it keeps retrying
// while the deployment stays running, so the caller should give up.
func (g *Group) PullFailed() bool {
	return g.pullFailure() != ""
}

func (g *Group) pullFailure() string {
	for _, c := range g.Containers {
		for _, e := range c.Events {
			if isPullEvent(e) {
				return e.Message
			}
		}
	}
	for _, e := range g.Events {
		if isPullEvent(e) {
			return e.Message
		}
	}
	return ""
}

func isPullEvent(e Event) bool {
	if !strings.EqualFold(e.Name, "Failed") && !strings.EqualFold(e.Name, "BackOff") && !strings.EqualFold(e.Name, "ErrImagePull") {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "pull") || strings.Contains(m, "image")
}

// FailureReason is Azure's explanation of why the group or its container
// failed, from the instance view events: image pull failures, OOM kills,
// capacity and quota errors. "" when the events tell nothing.
func (g *Group) FailureReason() string {
	if m := g.pullFailure(); m != "" {
		return "image pull failed: " + m
	}
	var warnings []string
	add := func(e Event) {
		if e.Message == "" {
			return
		}
		name := strings.ToLower(e.Name)
		msg := strings.ToLower(e.Message)
		switch {
		case strings.Contains(name, "oom") || strings.Contains(msg, "oom") || strings.Contains(msg, "out of memory"):
			warnings = append(warnings, "out of memory: "+e.Message)
		case strings.EqualFold(e.Name, "Killing"):
			warnings = append(warnings, "container killed: "+e.Message)
		case strings.Contains(msg, "quota") || strings.Contains(msg, "capacity") || strings.Contains(msg, "not available"):
			warnings = append(warnings, e.Message)
		case strings.EqualFold(e.Type, "Warning"):
			warnings = append(warnings, e.Name+": "+e.Message)
		}
	}
	for _, c := range g.Containers {
		for _, e := range c.Events {
			add(e)
		}
	}
	for _, e := range g.Events {
		add(e)
	}
	if len(warnings) > 0 {
		return warnings[0]
	}
	if len(g.Containers) > 0 {
		c := g.Containers[0]
		for _, s := range []*ContainerState{c.Previous, c.Current} {
			if s != nil && s.DetailStatus != "" && !strings.EqualFold(s.DetailStatus, "Completed") && !strings.EqualFold(s.DetailStatus, "Error") && strings.EqualFold(s.State, stateTerminated) && (s.ExitCode == nil || *s.ExitCode != 0) {
				return s.DetailStatus
			}
		}
	}
	if strings.EqualFold(g.ProvisioningState, "Failed") {
		return "provisioning failed"
	}
	return ""
}

func groupFromSDK(cg *armcontainerinstance.ContainerGroup) *Group {
	g := &Group{Name: str(cg.Name), ID: str(cg.ID), Tags: tagsFromSDK(cg.Tags)}
	if p := cg.Properties; p != nil {
		g.ProvisioningState = str(p.ProvisioningState)
		if iv := p.InstanceView; iv != nil {
			g.State = str(iv.State)
			g.Events = eventsFromSDK(iv.Events)
		}
		for _, c := range p.Containers {
			if c == nil {
				continue
			}
			cc := Container{Name: str(c.Name)}
			if c.Properties != nil && c.Properties.InstanceView != nil {
				iv := c.Properties.InstanceView
				cc.Current = stateFromSDK(iv.CurrentState)
				cc.Previous = stateFromSDK(iv.PreviousState)
				if iv.RestartCount != nil {
					cc.RestartCount = *iv.RestartCount
				}
				cc.Events = eventsFromSDK(iv.Events)
			}
			g.Containers = append(g.Containers, cc)
		}
	}
	return g
}

func stateFromSDK(s *armcontainerinstance.ContainerState) *ContainerState {
	if s == nil {
		return nil
	}
	out := &ContainerState{State: str(s.State), DetailStatus: str(s.DetailStatus)}
	if s.ExitCode != nil {
		code := *s.ExitCode
		out.ExitCode = &code
	}
	if s.StartTime != nil {
		out.StartTime = *s.StartTime
	}
	if s.FinishTime != nil {
		out.FinishTime = *s.FinishTime
	}
	return out
}

func eventsFromSDK(es []*armcontainerinstance.Event) []Event {
	var out []Event
	for _, e := range es {
		if e == nil {
			continue
		}
		ev := Event{Name: str(e.Name), Type: str(e.Type), Message: str(e.Message)}
		if e.Count != nil {
			ev.Count = *e.Count
		}
		out = append(out, ev)
	}
	return out
}

func tagsFromSDK(t map[string]*string) map[string]string {
	if t == nil {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = str(v)
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
