package aci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"

	"github.com/aciworker/aciworker/internal/backoff"
)

// ErrNotFound matches (errors.Is) every error for a resource that does not
// exist.
var ErrNotFound = errors.New("not found")

// AzureError is a failed Azure call, reduced to what a person needs: the
// operation, the HTTP status, and Azure's innermost code and message.
type AzureError struct {
	Op         string
	StatusCode int
	Code       string
	Message    string
	// RetryAfter is Azure's back-off hint on a throttled (429) response.
	RetryAfter time.Duration
	err        error
}

func (e *AzureError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "(HTTP %d)", e.StatusCode)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *AzureError) Unwrap() error { return e.err }

// Is makes a 404 match ErrNotFound.
func (e *AzureError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// armError is the "error" member of an ARM error body.
type armError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Target  string     `json:"target"`
	Details []armError `json:"details"`
}

// innermost follows details down to the root cause, since ARM wraps it in
// DeploymentFailed and sometimes ResourceDeploymentFailure.
func (e armError) innermost() armError {
	for len(e.Details) > 0 {
		next := e.Details[0]
		if next.Code == "" && next.Message == "" {
			break
		}
		e = next
	}
	return e
}

// parseARMError reads an ARM error body, or an LRO status body
// ({"status":"Failed","error":{...}}).
func parseARMError(body []byte) (armError, bool) {
	var b struct {
		Error *armError `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil || b.Error == nil {
		return armError{}, false
	}
	return *b.Error, true
}

// ErrNoAnswer matches (errors.Is) every error of a request that Azure
// accepted and did not answer in time: what it did with the request is
// unknown.
var ErrNoAnswer = errors.New("no answer from Azure in time")

// unanswered reports a try that timed out waiting for Azure: its own
// deadline (TryTimeout) or the transport's response-header timeout.
func unanswered(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retriedStatus are the answers the SDK's retry policy tries again by
// default; shouldRetry keeps them.
var retriedStatus = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// shouldRetry is the SDK's rule except for a try Azure did not answer:
// the SDK would repeat it up to MaxRetries times, a TryTimeout each, so a
// stalled endpoint would hold its caller for many minutes. call repeats
// such a request once instead (stallRounds).
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		return !unanswered(err)
	}
	return runtime.HasStatusCode(resp, retriedStatus...)
}

// wrapErr turns an SDK error into an *AzureError carrying Azure's reason.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: %w", op, err)
	}
	ae := &AzureError{Op: op, StatusCode: re.StatusCode, Code: re.ErrorCode, err: err}
	if re.RawResponse != nil {
		if body, rerr := runtime.Payload(re.RawResponse); rerr == nil {
			if e, ok := parseARMError(body); ok {
				in := e.innermost()
				ae.Code, ae.Message = in.Code, in.Message
				if ae.Code == "" {
					ae.Code = e.Code
				}
			}
		}
		if re.StatusCode == http.StatusTooManyRequests {
			ae.RetryAfter = retryAfter(re.RawResponse.Header, time.Now(), time.Second)
		}
	}
	return ae
}

// isServerError reports ARM's transient server errors (the codes the SDK
// itself retries).
func isServerError(err error) bool {
	var ae *AzureError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func isStatus(err error, code int) bool {
	var ae *AzureError
	return errors.As(err, &ae) && ae.StatusCode == code
}

// Client runs the Azure operations aciworker needs, for one subscription.
type Client struct {
	sub         string
	deployments *armdeployments.DeploymentsClient
	groups      *armcontainerinstance.ContainerGroupsClient
	containers  *armcontainerinstance.ContainersClient
	budget      *Budget
	clock       backoff.Clock
	log         *slog.Logger

	mu      sync.Mutex
	pollers map[string]*runtime.Poller[armdeployments.DeploymentsClientCreateOrUpdateResponse]
}

// NewClient builds the SDK clients for a subscription. Every request passes
// the subscription's shared budget.
func NewClient(subscriptionID string, cred azcore.TokenCredential, s Settings) (*Client, error) {
	if subscriptionID == "" {
		return nil, errors.New("subscription id is empty")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cfg := s.Cloud()
	b := s.Budget
	if b == nil {
		b = NewBudget(s)
	}
	retry := policy.RetryOptions{
		MaxRetries:    s.MaxRetries,
		RetryDelay:    s.RetryDelay,
		MaxRetryDelay: s.MaxRetryDelay,
	}
	if retry.MaxRetries == 0 {
		retry.MaxRetries = DefaultMaxRetries
	}
	if retry.RetryDelay == 0 {
		retry.RetryDelay = DefaultRetryDelay
	}
	if retry.MaxRetryDelay == 0 {
		retry.MaxRetryDelay = DefaultMaxRetryDelay
	}
	// The try timeout is tryTimeoutPolicy's, after the budget: azcore's
	// (RetryOptions.TryTimeout) starts before the per-try policies, so a
	// request queued behind thousands of others for its budget token
	// would time out unsent and be taken for one Azure did not answer.
	retry.TryTimeout = 0
	retry.ShouldRetry = shouldRetry
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud:            cfg,
		Transport:        s.transport(),
		Retry:            retry,
		Telemetry:        s.telemetry(),
		PerRetryPolicies: append([]policy.Policy{budgetPolicy{b}, tryTimeoutPolicy{s.tryTimeout()}}, s.Policies...),
	}}
	dc, err := armdeployments.NewDeploymentsClient(subscriptionID, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("deployments client: %w", err)
	}
	gc, err := armcontainerinstance.NewContainerGroupsClient(subscriptionID, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("container groups client: %w", err)
	}
	cc, err := armcontainerinstance.NewContainersClient(subscriptionID, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("containers client: %w", err)
	}
	return &Client{
		sub: subscriptionID, deployments: dc, groups: gc, containers: cc, budget: b,
		clock:   backoff.Or(s.Clock),
		log:     slog.New(slog.DiscardHandler),
		pollers: map[string]*runtime.Poller[armdeployments.DeploymentsClientCreateOrUpdateResponse]{},
	}, nil
}

// SetLogger sets where the client logs retries and throttling.
func (c *Client) SetLogger(l *slog.Logger) {
	if l != nil {
		c.log = l
	}
}

// SubscriptionID is the client's subscription.
func (c *Client) SubscriptionID() string { return c.sub }

// Throttled counts the 429 responses the subscription's budget has seen.
func (c *Client) Throttled() int64 { return c.budget.throttled.Load() }

// serverErrorRounds is how many more times call repeats an operation that
// still ends in a server error after the SDK's own retries. The SDK counts
// throttling and server errors against one retry limit, so a burst of 429s
// can spend it and leave a passing 5xx as the last answer. Every operation
// here is idempotent (PUT by name, GET, DELETE, POST of a stop), so
// repeating one is safe.
const serverErrorRounds = 3

// stallRounds is how many more times call repeats an operation whose try
// Azure did not answer: one stalled connection may be bad luck, two in a
// row mean Azure (or the way to it) is not answering, and the caller
// decides what next with its own bounds.
const stallRounds = 1

// call runs one SDK operation: a 429 the SDK hands back is waited out (the
// shared budget's pause) for as long as ctx allows, and a server error is
// tried again up to serverErrorRounds times.
func (c *Client) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	rounds, stalls := 0, 0
	for {
		raw := f(ctx)
		if ctx.Err() != nil {
			return wrapErr(op, raw) // the caller's deadline, not Azure's silence
		}
		err := wrapErr(op, raw)
		if unanswered(raw) {
			err = fmt.Errorf("%s: %w: %w", op, ErrNoAnswer, raw)
		}
		var wait time.Duration
		switch {
		case errors.Is(err, ErrNoAnswer) && stalls < stallRounds:
			stalls++
			wait = time.Second
			c.log.Warn("Azure did not answer in time; trying again", "op", op, "err", err)
		case isStatus(err, http.StatusTooManyRequests):
			wait = max(c.budget.pauseLeft(), 100*time.Millisecond)
			c.log.Warn("Azure throttled the request; waiting", "op", op, "wait", wait)
		case isServerError(err) && rounds < serverErrorRounds:
			rounds++
			wait = time.Duration(rounds) * time.Second
			c.log.Warn("Azure answered a server error after retries; trying again", "op", op, "err", err, "round", rounds, "wait", wait)
		default:
			return err
		}
		if backoff.Sleep(ctx, c.clock, wait) != nil {
			return err
		}
	}
}

func pollerKey(rg, name string) string { return strings.ToLower(rg + "/" + name) }

// Deploy submits the deployment and returns once ARM has accepted it.
func (c *Client) Deploy(ctx context.Context, rg string, p *Prepared) error {
	params := map[string]*armdeployments.DeploymentParameter{}
	for k, v := range p.Parameters {
		m, _ := v.(map[string]any)
		params[k] = &armdeployments.DeploymentParameter{Value: m["value"]}
	}
	mode := armdeployments.DeploymentModeIncremental
	d := armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: &mode, Template: p.Template, Parameters: params,
	}}
	if len(p.Tags) > 0 {
		d.Tags = map[string]*string{}
		for k, v := range p.Tags {
			d.Tags[k] = &v
		}
	}
	var poller *runtime.Poller[armdeployments.DeploymentsClientCreateOrUpdateResponse]
	err := c.call(ctx, "deploy "+p.DeploymentName, func(ctx context.Context) error {
		var err error
		poller, err = c.deployments.BeginCreateOrUpdate(ctx, rg, p.DeploymentName, d, nil)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.pollers[pollerKey(rg, p.DeploymentName)] = poller
	c.mu.Unlock()
	return nil
}

// DeploymentResult is a deployment's terminal state.
type DeploymentResult struct {
	Name              string
	ProvisioningState string // Succeeded, Failed or Canceled
	// Error is Azure's innermost reason when the deployment failed.
	Error *DeploymentError
}

// Succeeded reports a successful deployment.
func (r *DeploymentResult) Succeeded() bool {
	return strings.EqualFold(r.ProvisioningState, "Succeeded")
}

// DeploymentError is the root cause of a failed deployment.
type DeploymentError struct {
	Code, Message, Target string
}

func (e *DeploymentError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

func isTerminal(state string) bool {
	switch strings.ToLower(state) {
	case "succeeded", "failed", "canceled", "cancelled":
		return true
	}
	return false
}

// PollDeployment checks a deployment once. It returns the result when the
// deployment is terminal, else nil and how long Azure asks to wait before
// the next check (0 when it gave no hint).
func (c *Client) PollDeployment(ctx context.Context, rg, name string) (*DeploymentResult, time.Duration, error) {
	key := pollerKey(rg, name)
	c.mu.Lock()
	poller := c.pollers[key]
	c.mu.Unlock()
	if poller == nil {
		return c.getDeployment(ctx, rg, name)
	}
	var hint time.Duration
	err := c.call(ctx, "poll deployment "+name, func(ctx context.Context) error {
		resp, err := poller.Poll(ctx)
		if err == nil && resp != nil {
			hint = retryAfter(resp.Header, c.clock.Now(), 0)
		}
		return err
	})
	if err != nil {
		// A poller that failed may be stuck on its error (the SDK's
		// pollers keep some): the next check reads the deployment
		// afresh, which also drops the poller from the map.
		c.dropPoller(key)
		return nil, 0, err
	}
	if !poller.Done() {
		return nil, hint, nil
	}
	var res armdeployments.DeploymentsClientCreateOrUpdateResponse
	err = c.call(ctx, "deployment "+name, func(ctx context.Context) error {
		var err error
		res, err = poller.Result(ctx)
		return err
	})
	out := &DeploymentResult{Name: name}
	var ae *AzureError
	switch {
	case err == nil:
		out.ProvisioningState = "Succeeded"
		if res.Properties != nil && res.Properties.ProvisioningState != nil {
			out.ProvisioningState = string(*res.Properties.ProvisioningState)
		}
	case errors.As(err, &ae) && ae.StatusCode < 300:
		// A failed LRO surfaces as a ResponseError carrying the 200 status
		// poll; its body says Failed or Canceled and why.
		out.ProvisioningState = "Failed"
		var body struct {
			Status string `json:"status"`
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.RawResponse != nil {
			if b, perr := runtime.Payload(re.RawResponse); perr == nil && json.Unmarshal(b, &body) == nil && body.Status != "" {
				out.ProvisioningState = body.Status
			}
		}
		out.Error = &DeploymentError{Code: ae.Code, Message: ae.Message}
	default:
		c.dropPoller(key)
		return nil, 0, err
	}
	c.dropPoller(key)
	return out, 0, nil
}

// dropPoller forgets a deployment's poller: it is done, failed, or its
// deployment is being cancelled or deleted.
func (c *Client) dropPoller(key string) {
	c.mu.Lock()
	delete(c.pollers, key)
	c.mu.Unlock()
}

// Pollers is how many deployments the client is polling.
func (c *Client) Pollers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pollers)
}

// getDeployment reads a deployment's state when this client did not start
// it (e.g. after a restart).
func (c *Client) getDeployment(ctx context.Context, rg, name string) (*DeploymentResult, time.Duration, error) {
	var resp armdeployments.DeploymentsClientGetResponse
	err := c.call(ctx, "get deployment "+name, func(ctx context.Context) error {
		var err error
		resp, err = c.deployments.Get(ctx, rg, name, nil)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if resp.Properties == nil || resp.Properties.ProvisioningState == nil {
		return nil, 0, nil
	}
	state := string(*resp.Properties.ProvisioningState)
	if !isTerminal(state) {
		return nil, 0, nil
	}
	out := &DeploymentResult{Name: name, ProvisioningState: state}
	if e := resp.Properties.Error; e != nil {
		in := sdkErrorInnermost(e)
		out.Error = &DeploymentError{Code: str(in.Code), Message: str(in.Message), Target: str(in.Target)}
	}
	return out, 0, nil
}

func sdkErrorInnermost(e *armdeployments.ErrorResponse) *armdeployments.ErrorResponse {
	for len(e.Details) > 0 && e.Details[0] != nil {
		e = e.Details[0]
	}
	return e
}

// DefaultPollInterval paces LRO polls when Azure gives no hint.
const DefaultPollInterval = 5 * time.Second

// WaitDeployment waits until the deployment is terminal, at the pace Azure
// asks for. A failed deployment is a result, not an error: its Error holds
// Azure's innermost reason.
func (c *Client) WaitDeployment(ctx context.Context, rg, name string) (*DeploymentResult, error) {
	for {
		res, hint, err := c.PollDeployment(ctx, rg, name)
		if err != nil {
			return nil, err
		}
		if res != nil {
			return res, nil
		}
		if hint <= 0 {
			hint = DefaultPollInterval
		}
		if err := backoff.Sleep(ctx, c.clock, min(hint, time.Minute)); err != nil {
			return nil, err
		}
	}
}

// CancelDeployment stops a running deployment; a deployment that is missing
// or already finished is left as it is.
func (c *Client) CancelDeployment(ctx context.Context, rg, name string) error {
	c.dropPoller(pollerKey(rg, name))
	err := c.call(ctx, "cancel deployment "+name, func(ctx context.Context) error {
		_, err := c.deployments.Cancel(ctx, rg, name, nil)
		return err
	})
	if errors.Is(err, ErrNotFound) || isStatus(err, http.StatusConflict) {
		return nil
	}
	return err
}

// GetGroup reads a container group with its instance view.
func (c *Client) GetGroup(ctx context.Context, rg, name string) (*Group, error) {
	var resp armcontainerinstance.ContainerGroupsClientGetResponse
	err := c.call(ctx, "get container group "+name, func(ctx context.Context) error {
		var err error
		resp, err = c.groups.Get(ctx, rg, name, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return groupFromSDK(&resp.ContainerGroup), nil
}

// ListGroups lists the container groups of a resource group (no instance
// views: Azure's list leaves them out).
func (c *Client) ListGroups(ctx context.Context, rg string) ([]GroupSummary, error) {
	return listAll(ctx, c, "list container groups in "+rg,
		func() *runtime.Pager[armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse] {
			return c.groups.NewListByResourceGroupPager(rg, nil)
		},
		func(page armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse) []GroupSummary {
			var out []GroupSummary
			for _, g := range page.Value {
				if g == nil {
					continue
				}
				s := GroupSummary{Name: str(g.Name), Tags: tagsFromSDK(g.Tags)}
				if g.Properties != nil {
					s.ProvisioningState = str(g.Properties.ProvisioningState)
				}
				out = append(out, s)
			}
			return out
		})
}

// listAll runs a whole listing as one operation for call to repeat: the
// SDK's pager stops for good at its first failed page (every later call
// hands back that error without asking Azure again), so a listing tried
// again after a 429 starts over from a new pager.
func listAll[P, T any](ctx context.Context, c *Client, op string, newPager func() *runtime.Pager[P], items func(P) []T) ([]T, error) {
	var out []T
	err := c.call(ctx, op, func(ctx context.Context) error {
		out = nil
		pager := newPager()
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return err
			}
			out = append(out, items(page)...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Logs reads a container's whole log (up to Azure's 4 MB window), every
// line prefixed with its timestamp.
func (c *Client) Logs(ctx context.Context, rg, group, container string) (string, error) {
	var resp armcontainerinstance.ContainersClientListLogsResponse
	ts := true
	err := c.call(ctx, "logs of "+group+"/"+container, func(ctx context.Context) error {
		var err error
		resp, err = c.containers.ListLogs(ctx, rg, group, container, &armcontainerinstance.ContainersClientListLogsOptions{Timestamps: &ts})
		return err
	})
	if err != nil {
		return "", err
	}
	return str(resp.Content), nil
}

// StopGroup stops a group's containers and keeps the group.
func (c *Client) StopGroup(ctx context.Context, rg, name string) error {
	return c.call(ctx, "stop container group "+name, func(ctx context.Context) error {
		_, err := c.groups.Stop(ctx, rg, name, nil)
		return err
	})
}

// DeleteGroup deletes a container group and waits until it is gone. A
// missing group is success.
func (c *Client) DeleteGroup(ctx context.Context, rg, name string) error {
	return deleteResource(ctx, c, "delete container group "+name, true, func(ctx context.Context) (*runtime.Poller[armcontainerinstance.ContainerGroupsClientDeleteResponse], error) {
		return c.groups.BeginDelete(ctx, rg, name, nil)
	})
}

// RequestGroupDelete asks Azure to delete a container group and returns
// once Azure has accepted the request: the deletion's progress is not
// polled, which saves reads, so a deletion that fails later is left to
// whoever looks for leftovers (the worker's reconcile). A missing group is
// success.
func (c *Client) RequestGroupDelete(ctx context.Context, rg, name string) error {
	return deleteResource(ctx, c, "delete container group "+name, false, func(ctx context.Context) (*runtime.Poller[armcontainerinstance.ContainerGroupsClientDeleteResponse], error) {
		return c.groups.BeginDelete(ctx, rg, name, nil)
	})
}

// DeleteDeployment deletes a deployment record (never its resources) and
// waits until it is gone. A missing record is success.
func (c *Client) DeleteDeployment(ctx context.Context, rg, name string) error {
	c.dropPoller(pollerKey(rg, name))
	return deleteResource(ctx, c, "delete deployment "+name, true, func(ctx context.Context) (*runtime.Poller[armdeployments.DeploymentsClientDeleteResponse], error) {
		return c.deployments.BeginDelete(ctx, rg, name, nil)
	})
}

// RequestDeploymentDelete asks Azure to delete a deployment record and
// returns once Azure has accepted the request (see RequestGroupDelete). A
// deployment still running cannot be deleted: Azure answers 409, which
// IsConflict reports. A missing record is success.
func (c *Client) RequestDeploymentDelete(ctx context.Context, rg, name string) error {
	c.dropPoller(pollerKey(rg, name))
	return deleteResource(ctx, c, "delete deployment "+name, false, func(ctx context.Context) (*runtime.Poller[armdeployments.DeploymentsClientDeleteResponse], error) {
		return c.deployments.BeginDelete(ctx, rg, name, nil)
	})
}

// IsConflict reports Azure's 409: the resource is in a state that does not
// allow the operation (e.g. deleting a running deployment).
func IsConflict(err error) bool { return isStatus(err, http.StatusConflict) }

// deleteResource sends a delete and, with wait, drives it to the end.
func deleteResource[T any](ctx context.Context, c *Client, op string, wait bool, begin func(context.Context) (*runtime.Poller[T], error)) error {
	var poller *runtime.Poller[T]
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		poller, err = begin(ctx)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || !wait {
		return err
	}
	return waitPoller(ctx, c, op, poller)
}

// waitPoller drives an LRO with Poll in our own loop: PollUntilDone refuses
// intervals under a second outside tests, and Azure's hint sets the pace.
func waitPoller[T any](ctx context.Context, c *Client, op string, p *runtime.Poller[T]) error {
	for !p.Done() {
		var hint time.Duration
		err := c.call(ctx, op, func(ctx context.Context) error {
			resp, err := p.Poll(ctx)
			if err == nil && resp != nil {
				hint = retryAfter(resp.Header, c.clock.Now(), 0)
			}
			return err
		})
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if p.Done() {
			break
		}
		if hint <= 0 {
			hint = time.Second
		}
		if err := backoff.Sleep(ctx, c.clock, min(hint, time.Minute)); err != nil {
			return err
		}
	}
	err := c.call(ctx, op, func(ctx context.Context) error {
		_, err := p.Result(ctx)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ListDeployments lists the deployment records of a resource group.
func (c *Client) ListDeployments(ctx context.Context, rg string) ([]DeploymentSummary, error) {
	return listAll(ctx, c, "list deployments in "+rg,
		func() *runtime.Pager[armdeployments.DeploymentsClientListByResourceGroupResponse] {
			return c.deployments.NewListByResourceGroupPager(rg, nil)
		},
		func(page armdeployments.DeploymentsClientListByResourceGroupResponse) []DeploymentSummary {
			var out []DeploymentSummary
			for _, d := range page.Value {
				if d == nil {
					continue
				}
				s := DeploymentSummary{Name: str(d.Name), Tags: tagsFromSDK(d.Tags)}
				if p := d.Properties; p != nil {
					if p.ProvisioningState != nil {
						s.ProvisioningState = string(*p.ProvisioningState)
					}
					if p.Timestamp != nil {
						s.Timestamp = *p.Timestamp
					}
				}
				out = append(out, s)
			}
			return out
		})
}

// ExportTemplate returns the template a deployment record holds, as anyone
// with the exportTemplate action can read it.
func (c *Client) ExportTemplate(ctx context.Context, rg, name string) (map[string]any, error) {
	var resp armdeployments.DeploymentsClientExportTemplateResponse
	err := c.call(ctx, "export template of deployment "+name, func(ctx context.Context) error {
		var err error
		resp, err = c.deployments.ExportTemplate(ctx, rg, name, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	m, _ := resp.Template.(map[string]any)
	return m, nil
}
