package prefect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

// streamSees subscribes with c and moves fresh runs of a deployment to
// Completed until the stream announces one of them final: Prefect
// subscribes the socket to its live stream a moment after the filter
// message, so a state set in between can be missed.
func streamSees(t *testing.T, s *prefecttest.Server, c *prefect.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxFor(t), 90*time.Second)
	defer cancel()
	admin := client(t, s)
	fx := setup(t, admin)

	connected := make(chan struct{}, 1)
	states := make(chan prefect.FlowRunState, 64)
	done := make(chan error, 1)
	go func() {
		done <- c.StreamEvents(ctx, prefect.StreamOptions{Connected: func() { connected <- struct{}{} }},
			func(ev prefect.Event) {
				st, ok := ev.FlowRunState()
				if !ok {
					return
				}
				select {
				case states <- st:
				default:
				}
			})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("stream ended before subscribing: %v", err)
	}
	runID := fx.run.ID
	for attempt := 0; ; attempt++ {
		for _, typ := range []string{prefect.StatePending, prefect.StateRunning, prefect.StateCompleted} {
			if _, err := admin.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: typ}, true); err != nil {
				t.Fatal(err)
			}
		}
		wait := time.After(5 * time.Second)
	read:
		for {
			select {
			case st := <-states:
				if st.FlowRunID == runID && st.StateType == prefect.StateCompleted {
					cancel()
					if err := <-done; !errors.Is(err, context.Canceled) {
						t.Fatalf("stream ended with %v, want context.Canceled", err)
					}
					return
				}
			case err := <-done:
				t.Fatalf("stream ended: %v", err)
			case <-wait:
				break read
			case <-ctx.Done():
				t.Fatalf("no COMPLETED event for run %s after %d runs", runID, attempt+1)
			}
		}
		run, err := admin.CreateFlowRunFromDeployment(ctx, fx.deployment.ID, prefect.FlowRunCreate{})
		if err != nil {
			t.Fatal(err)
		}
		runID = run.ID
	}
}

// Prefect 3's server streams flow run state events over /events/out.
func TestFlowRunStateStream(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	streamSees(t, s, client(t, s))
}

// A server with an auth string wants it in the stream's auth message, and
// refuses a wrong one for good, without the secret in the error.
func TestFlowRunStateStreamAuth(t *testing.T) {
	t.Parallel()
	s := authServer.Get(t)
	streamSees(t, s, client(t, s))

	c, err := prefect.New(prefect.Config{APIURL: s.APIURL, AuthString: "admin:wrong-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.StreamEvents(ctxFor(t), prefect.StreamOptions{}, func(prefect.Event) {})
	if !errors.Is(err, prefect.ErrStreamRefused) || strings.Contains(err.Error(), "wrong-password-123") {
		t.Fatalf("wrong auth string: %v, want ErrStreamRefused without the secret", err)
	}
}

// Prefect 3.8.8 announces a work pool resumed (prefect.work-pool.ready or
// not-ready, the pool's id in the resource) and a new run of a deployment
// (prefect.flow-run.Scheduled, its pool among the related resources) over
// the same stream: what wakes a worker's poll.
func TestStreamAnnouncesAResumedPoolAndANewRun(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := client(t, s)
	fx := setup(t, admin)
	pool, err := admin.ReadWorkPool(ctx, fx.pool)
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 1)
	events := make(chan prefect.Event, 256)
	done := make(chan error, 1)
	go func() {
		done <- client(t, s).StreamEvents(ctx, prefect.StreamOptions{Connected: func() { connected <- struct{}{} }},
			func(ev prefect.Event) {
				select {
				case events <- ev:
				default:
				}
			})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("stream ended before subscribing: %v", err)
	}
	// The socket joins the live stream a moment after the filter message:
	// pause, resume and create a run again until both are seen.
	var resumed, scheduled bool
	for attempt := 0; !resumed || !scheduled; attempt++ {
		for _, verb := range []string{"pause", "resume"} {
			if out, err := s.CLI(ctx, "work-pool", verb, fx.pool); err != nil {
				t.Fatalf("prefect work-pool %s: %v\n%s", verb, err, out)
			}
		}
		run, err := admin.CreateFlowRunFromDeployment(ctx, fx.deployment.ID, prefect.FlowRunCreate{})
		if err != nil {
			t.Fatal(err)
		}
		wait := time.After(5 * time.Second)
	read:
		for !resumed || !scheduled {
			select {
			case ev := <-events:
				switch {
				case (ev.Event == "prefect.work-pool.ready" || ev.Event == "prefect.work-pool.not-ready") && ev.Resource["prefect.resource.id"] == "prefect.work-pool."+pool.ID:
					resumed = true
				case ev.Event == "prefect.flow-run.Scheduled" && ev.Resource["prefect.resource.id"] == "prefect.flow-run."+run.ID:
					id, name, _ := ev.RelatedTo("work-pool")
					if id != pool.ID || name != fx.pool {
						t.Fatalf("the new run's event names pool %q (%q), want %q (%q): %+v", id, name, pool.ID, fx.pool, ev.Related)
					}
					scheduled = true
				}
			case err := <-done:
				t.Fatalf("stream ended: %v", err)
			case <-wait:
				break read
			case <-ctx.Done():
				t.Fatalf("after %d attempts: pool resumed seen %v, new run seen %v", attempt+1, resumed, scheduled)
			}
		}
	}
}
