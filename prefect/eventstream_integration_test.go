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
		done <- c.StreamFlowRunStates(ctx, prefect.StreamOptions{Connected: func() { connected <- struct{}{} }},
			func(st prefect.FlowRunState) {
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
	err = c.StreamFlowRunStates(ctxFor(t), prefect.StreamOptions{}, func(prefect.FlowRunState) {})
	if !errors.Is(err, prefect.ErrStreamRefused) || strings.Contains(err.Error(), "wrong-password-123") {
		t.Fatalf("wrong auth string: %v, want ErrStreamRefused without the secret", err)
	}
}
