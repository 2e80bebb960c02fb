package emulator

// Emulator choices where Azure's exact behaviour is not documented (or could
// not be verified offline). Codes marked * are Azure's documented or observed
// codes; the others are chosen to read like Azure's and are stable here.
//
// Entra ID
//   - Tokens are opaque random strings; expires_in 3599 (SetTokenLifetime for
//     tests). Wrong secret: 401 invalid_client AADSTS7000215*; unknown client:
//     400 unauthorized_client AADSTS700016*; unknown tenant: 400 AADSTS90002*;
//     unsupported grant: 400 unsupported_grant_type AADSTS70003*; a scope
//     without "/.default": 400 invalid_scope AADSTS70011*; a resource other
//     than ARM's audiences (or the emulator's own names): 400 invalid_resource
//     AADSTS500011*.
//   - Instance discovery answers for whatever authority it is asked about.
//
// ARM
//   - 401s: missing or malformed header AuthenticationFailed*, unknown token
//     InvalidAuthenticationToken*, expired token ExpiredAuthenticationToken*,
//     always with WWW-Authenticate: Bearer authorization_uri=...,
//     error="invalid_token".
//   - Bad api-version: Microsoft.Resources types answer
//     InvalidApiVersionParameter*, ACI answers NoRegisteredProviderFound*;
//     missing: MissingApiVersionParameter*.
//   - Throttling: per subscription token buckets (reads 250 @ 25/s, writes
//     200 @ 10/s, deletes 200 @ 10/s), 429 SubscriptionRequestsThrottled* with
//     Retry-After in whole seconds. LRO polls count as reads. Not applied to
//     Entra or the admin API.
//   - Long-running operations: container group PUT 201/200 + Azure-AsyncOperation
//     (…/locations/{loc}/operations/{id}); DELETE 202 + Azure-AsyncOperation,
//     done once every container process has exited; start 202 + Location;
//     restart 204; deployment PUT 201/200 + Azure-AsyncOperation
//     (…/operationStatuses/{id}); deployment and resource group DELETE 202 +
//     Location (…/operationresults/{id}: 202 while running, 204 when done).
//     Retry-After-Ms carries Config.LROPollHint.
//
// Discovery (what a general client asks first)
//   - GET /metadata/endpoints answers without a token and for any api-version,
//     in the single-cloud form a custom cloud serves: resourceManager and
//     authentication.loginEndpoint are the emulator's own origin (as the
//     client reached it); services it does not emulate keep Azure's public
//     values.
//   - One subscription and one tenant: GET /subscriptions, /subscriptions/{id}
//     (another id: 404 SubscriptionNotFound*), /tenants,
//     /subscriptions/{id}/locations (the ACI regions), at the subscriptions
//     api-versions (2022-12-01 and older).
//   - Providers Microsoft.ContainerInstance and Microsoft.Resources, list and
//     get at subscription and tenant scope, with the resource types the
//     emulator serves and their api-versions; always Registered, so register
//     answers 200 at once; any other namespace: 404 InvalidResourceNamespace.
//
// Checked against Microsoft's API description: every ARM answer in the
// emulator package's tests decodes into the Azure SDK for Go's model for its
// operation with nothing left over, enum values among the SDK's, the
// spec's success codes, required and read-only properties present
// (spec_test.go); long-running operation polls against ARM's status shape.
// Entra and metadata answers have no SDK model and are not part of that
// check.
//
// Deployments
//   - Only Incremental mode (Complete: 400 DeploymentModeNotSupported);
//     templateLink/parametersLink: 400 InvalidRequestContent.
//   - Preflight (400 InvalidTemplateDeployment* with inner details): every
//     resource must be Microsoft.ContainerInstance/containerGroups at a known
//     api-version (else NoRegisteredProviderFound*) and pass the direct-PUT
//     validation. Quota and provisioning failures happen while running:
//     status Failed, DeploymentFailed* with the group's error as the only
//     detail (InaccessibleImage*, ContainerGroupQuotaReached*, or the code
//     given to FailProvisioning).
//   - A PUT of a running deployment's name cancels the earlier run (ARM only
//     completes the last). DELETE of a running deployment: 409
//     DeploymentActive; cancel of a finished one: 409
//     DeploymentCannotBeCanceled; missing: 404 DeploymentNotFound*.
//   - GET echoes parameters with capitalised types; secure parameters carry
//     only their type. exportTemplate returns the template as sent.
//
// Container groups (api 2023-05-01 and the other versions listed)
//   - Names: InvalidContainerGroupName, InvalidContainerName* (1-63,
//     [a-z0-9]([-a-z0-9]*[a-z0-9])?, groups also without "--").
//   - InvalidOsType* (missing/unknown), OsVersionNotSupported for Windows (no
//     Windows processes here), InvalidRestartPolicy, NoContainersInContainerGroup,
//     DuplicateContainerName, InvalidContainerImage (empty), a missing required
//     member: InvalidRequestContent*, ResourceRequestsNotSpecified*,
//     InvalidContainerResourceRequest (cpu must be in (0,4], memoryInGB in
//     (0,16]), ContainerLimitLessThanRequest, InvalidEnvironmentVariableName
//     (letters, digits, underscore; <= 63), InvalidEnvironmentVariable (exactly
//     one of value and secureValue), DuplicateEnvironmentVariableName,
//     InvalidIdentityType, InvalidUserAssignedIdentityId, InvalidImageRegistryServer,
//     InvalidImageRegistryCredential(Type|Identity) (an identity credential must
//     name one of the group's user-assigned identities), InvalidSubnetId,
//     InvalidDnsConfig, InvalidGpuCount, InvalidGpuSku; tag names with
//     < > % & \ ? / are rejected (InvalidTagNameCharacters*), as in Azure.
//   - GPU requests are recorded but refused unless Config.AllowGPU: 409
//     ServiceUnavailable* (ACI's GPU offering is retired).
//   - Quotas per region: ContainerGroupQuotaReached* (400) for 'ContainerGroups'
//     and 'StandardCores'; stopped groups hold no cores.
//   - Images (docs/emulator.md has the table): an image on a private
//     registry (any host but Docker Hub, mcr.microsoft.com, ghcr.io, quay.io,
//     public.ecr.aws, registry.k8s.io, gcr.io) with no imageRegistryCredentials
//     for its server fails to pull like an anonymous pull the registry refuses
//     (401); the credentials' values are not checked.
//   - Provisioning: Pending, then Creating while containers start, Succeeded
//     once every container has started, Failed on a pull failure
//     (InaccessibleImage*) or an injected failure. Group instanceView.state:
//     Pending, Running, Succeeded/Failed when every container of a
//     Never/OnFailure group has exited (all exit codes 0 or not), Stopped after
//     stop (provisioningState stays Succeeded).
//   - A deleted or stopped group takes all its processes with it, also those
//     that left the process group (setsid) and ignore SIGTERM, and so does
//     the emulator's Close: each container's main process is the init of
//     its own PID namespace where the machine allows (so, as in a container
//     without an init, it ignores the signals it sends itself), else every
//     process carrying the container's ACIWORKER_EMULATOR_CONTAINER marker
//     and its descendants are killed (see runtime/contain.go).
//   - Containers of the image aciworker/emulator-script run no process: the
//     command is a script of sleep, echo, stderr, call and exit steps that
//     the runtime plays (runtime/script.go), with the same states, events,
//     restarts, logs, kill and stop as a process; exit 2 for a script that
//     does not parse, 1 for a call without a 2xx answer, 137 when killed.
//   - secureValue and registry passwords are never returned; lists have no
//     instance views and page with nextLink every 100 groups.
//   - Logs of a container that has not started are empty; an unknown container
//     name is 404 ContainerNotFound.
