// Package worker is a Prefect 3 worker for Azure Container Instances: a
// drop-in replacement for prefect-azure's `azure-container-instance`
// worker that accepts the same work pools, templates and deployments.
//
// It follows Prefect's worker protocol over REST (pool sync and heartbeat,
// polling, the Pending claim, job templating, prepare_for_flow_run, the
// infrastructure pid, Crashed on a non-zero exit) and names container groups
// and deployment records exactly as prefect-azure does. Beyond it:
//
//   - One watcher follows every run in flight: per round one Prefect query
//     for all their states and one list per resource group; a group is read
//     when that tells something new (the run is final in Prefect, the group
//     is provisioning or missing from the list) and otherwise at a pace that
//     keeps routine reads within a share of the subscription's read budget,
//     however many runs there are.
//   - Nothing is left behind: groups carry tags (aciworker.flow-run-id,
//     aciworker.pool, aciworker.worker, aciworker.keep); a reconcile loop
//     removes groups and deployment records of final or deleted runs (kept
//     groups excepted); deployment records are deleted after every run, so
//     no template history remains.
//   - State lives in Prefect and Azure. On SIGINT/SIGTERM (context end) the
//     worker stops polling and leaves running containers alone; a worker
//     started again re-adopts the pool's Pending, Running and Cancelling runs
//     that are its own (label prefect.worker.name is its name) or whose
//     worker is no longer online, and watches them to the end.
//   - A Crashed state says why: Prefect's exit-code explanation plus Azure's
//     reason (image pull failure, OOM kill, quota, deleted group), and the
//     last 50 lines of the container's output go to the run's logs.
//
// Secrets: PREFECT_API_KEY, PREFECT_API_AUTH_STRING and
// PREFECT_CLIENT_CUSTOM_HEADERS always travel as secure values (secureString
// deployment parameters, never in the template body). A pool or deployment
// marks more with the job variable secret_env (a list of variable names);
// credential-shaped names and values, and values from Secret blocks, secret
// block fields and credentials blocks, are secret whatever their name (see
// secrets.go and the README's security section). Only client-side Prefect
// settings reach the container, and {{ $VAR }} cannot read the worker's own
// credentials. Each run's secrets are redacted from the worker's log and
// from the messages it writes about that run.
package worker
