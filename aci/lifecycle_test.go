package aci_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/runtime"
	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
	"github.com/aciworker/aciworker/prefectaci"
)

// prepared is a job of the default template, prepared for the emulator.
func prepared(t *testing.T, image string, command ...string) *aci.Prepared {
	t.Helper()
	job := aci.Job{Image: image, Entrypoint: "", Command: command, CPU: 1, MemoryGB: 1, GroupName: aci.NewRunGroupName()}
	job.DeploymentName = aci.RunDeploymentName(job.GroupName)
	var err error
	if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		t.Fatal(err)
	}
	p, err := aci.Prepare(job)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) lifecycle(p *aci.Prepared) *aci.Lifecycle {
	return aci.NewLifecycle(e.c, e.rg, p.GroupName, p.DeploymentName)
}

// WaitStarted waits on the client's clock: with a fake one, a 10 s poll
// interval costs no real time, and no wait is longer than the interval.
func TestLifecycleWaitsOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *emulator.Config) { c.DisableThrottling = true })
	clock := fakeclock.New(time.Now())
	s := e.s
	s.Clock = clock
	c, err := aci.NewClient(e.sub, e.cred, s)
	if err != nil {
		t.Fatal(err)
	}
	p := prepared(t, aci.DefaultImage, "sleep", "30")
	l := aci.NewLifecycle(c, e.rg, p.GroupName, p.DeploymentName)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Deploy(ctx, p); err != nil {
		t.Fatal(err)
	}
	const interval = 10 * time.Second
	var groups int
	done := make(chan error, 1)
	go func() {
		done <- l.WaitStarted(ctx, interval, aci.StartWatch{Group: func(*aci.Group) { groups++ }})
	}()
	stop := make(chan struct{})
	steps := make(chan []time.Duration, 1)
	go func() {
		s, _ := clock.Drive(ctx, stop)
		steps <- s
	}()
	err = <-done
	close(stop)
	if err != nil {
		t.Fatalf("WaitStarted: %v", err)
	}
	for _, d := range <-steps {
		if d > interval {
			t.Errorf("a wait of %s, longer than the poll interval %s", d, interval)
		}
	}
	if groups == 0 {
		t.Error("the watch heard no group read")
	}
	if err := l.RemoveGroup(ctx, aci.Delete); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecord(ctx, true); err != nil {
		t.Fatal(err)
	}
	e.assertGone(t, result{group: p.GroupName, deployment: p.DeploymentName})
}

// Each way a start fails is a StartFailure that says where, with Azure's
// reason, and is an ErrProvisioningFailed.
func TestLifecycleStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		image  string
		setup  func(*emulator.Emulator)
		stage  string
		reason string
	}{
		{"pull", "private/broken:1", nil, "pull", "manifest for private/broken:1 not found"},
		{"provisioning", aci.DefaultImage, func(emu *emulator.Emulator) {
			emu.FailProvisioning(1, "ServiceUnavailable", "no capacity in the region")
		}, "deployment", "no capacity in the region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *emulator.Config) {
				c.Images = append(c.Images, runtime.Image{Pattern: "private/broken:*", PullError: "manifest for private/broken:1 not found"})
			})
			if tc.setup != nil {
				tc.setup(e.emu)
			}
			p := prepared(t, tc.image, "true")
			l := e.lifecycle(p)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := l.Deploy(ctx, p); err != nil {
				t.Fatal(err)
			}
			err := l.WaitStarted(ctx, 50*time.Millisecond, aci.StartWatch{})
			var sf *aci.StartFailure
			if !errors.As(err, &sf) || !errors.Is(err, aci.ErrProvisioningFailed) {
				t.Fatalf("WaitStarted = %v, want a StartFailure", err)
			}
			if sf.Stage != tc.stage {
				t.Errorf("stage %q, want %q", sf.Stage, tc.stage)
			}
			if !strings.Contains(sf.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", sf.Reason, tc.reason)
			}
			if err := l.RemoveGroup(ctx, aci.Delete); err != nil {
				t.Fatal(err)
			}
			if err := l.DeleteRecord(ctx, true); err != nil {
				t.Fatal(err)
			}
			e.assertGone(t, result{group: p.GroupName, deployment: p.DeploymentName})
		})
	}
}

// A record whose deployment is still running is cancelled, then deleted;
// a record that does not exist is no error; a kept group that is gone is
// ErrNotFound to the caller, who decides what that means.
func TestLifecycleCleanup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *emulator.Config) { c.ProvisionDelay = time.Hour })
	p := prepared(t, aci.DefaultImage, "true")
	l := e.lifecycle(p)
	l.SetRecordWait(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Deploy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveGroup(ctx, aci.Delete); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecord(ctx, true); err != nil {
		t.Fatalf("DeleteRecord of a running deployment: %v", err)
	}
	e.assertGone(t, result{group: p.GroupName, deployment: p.DeploymentName})

	// Requested, not followed: a running deployment's record is refused
	// (409), cancelled, then deleted; the group's deletion is asked for.
	p2 := prepared(t, aci.DefaultImage, "true")
	l2 := e.lifecycle(p2)
	l2.SetRecordWait(100 * time.Millisecond)
	if err := l2.Deploy(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if err := l2.RemoveGroup(ctx, aci.RequestDelete); err != nil {
		t.Fatal(err)
	}
	if err := l2.DeleteRecord(ctx, false); err != nil {
		t.Fatalf("DeleteRecord (requested) of a running deployment: %v", err)
	}
	gone := result{group: p2.GroupName, deployment: p2.DeploymentName}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ds, err := e.c.ListDeployments(ctx, e.rg)
		if err != nil {
			t.Fatal(err)
		}
		_, gerr := e.c.GetGroup(ctx, e.rg, p2.GroupName)
		if !slices.ContainsFunc(ds, func(d aci.DeploymentSummary) bool { return d.Name == p2.DeploymentName }) && errors.Is(gerr, aci.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			e.assertGone(t, gone)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	other := e.lifecycle(prepared(t, aci.DefaultImage, "true"))
	if err := other.DeleteRecord(ctx, true); err != nil {
		t.Errorf("DeleteRecord of a record that never existed: %v", err)
	}
	if err := other.RemoveGroup(ctx, aci.Stop); !errors.Is(err, aci.ErrNotFound) {
		t.Errorf("stopping a group that does not exist: %v, want ErrNotFound", err)
	}
}
