# Release builds and the checks CI runs. `make dist` needs Go and git only:
# no Docker daemon, no C toolchain.

GO      ?= go
PKG     := github.com/aciworker/aciworker
DIST    ?= dist
# PLATFORMS are the image's; dist also has a binary for Apple silicon.
PLATFORMS := linux/amd64 linux/arm64
BINARY_PLATFORMS := $(PLATFORMS) darwin/arm64

# The version is the tag (or the commit) of the checkout; the build date is
# the commit's date, so that a second build gives the same bytes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
DATE    ?= $(shell git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo 1970-01-01T00:00:00Z)

LDFLAGS := -s -w -buildid= \
	-X $(PKG)/internal/buildinfo.version=$(VERSION) \
	-X $(PKG)/internal/buildinfo.commit=$(COMMIT) \
	-X $(PKG)/internal/buildinfo.date=$(DATE)
# Static (no cgo), no machine paths (-trimpath), no VCS stamp (the ldflags
# carry it): the same source gives the same binary on any machine.
BUILDFLAGS := -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'

BINARIES := $(foreach p,$(BINARY_PLATFORMS),$(DIST)/aciworker_$(subst /,_,$(p)))

.PHONY: all build dist binaries image reproducible test stress lint clean FORCE

all: build

build:
	$(GO) build -o aciworker ./cmd/aciworker

dist: binaries image
	cd $(DIST) && sha256sum aciworker_* aciworker-image.tar > SHA256SUMS

binaries: $(BINARIES)

# Always rebuilt (FORCE): Go's cache makes that cheap, and make cannot see
# the sources' changes.
$(DIST)/aciworker_%: FORCE
	@mkdir -p $(DIST)
	GOOS=$(word 1,$(subst _, ,$*)) GOARCH=$(word 2,$(subst _, ,$*)) CGO_ENABLED=0 \
		$(GO) build $(BUILDFLAGS) -o $@ ./cmd/aciworker

image: binaries
	$(GO) run ./internal/tools/mkimage -o $(DIST)/aciworker-image.tar \
		-tag aciworker:$(VERSION) -created $(DATE) -version $(VERSION) -revision $(COMMIT) \
		$(foreach p,$(PLATFORMS),$(p)=$(DIST)/aciworker_$(subst /,_,$(p)))

# Builds everything twice into separate directories, each from an empty
# build cache of its own (nothing reused from an earlier build, as on a
# fresh CI machine), and compares the bytes of every binary and the image.
reproducible:
	rm -rf $(DIST)/.r1 $(DIST)/.r2
	@caches=$$(mktemp -d) && trap 'rm -rf "$$caches"' EXIT && \
	for i in 1 2; do \
		echo "reproducible: build $$i with an empty GOCACHE"; \
		GOCACHE="$$caches/$$i" GOFLAGS=-trimpath $(MAKE) --no-print-directory dist DIST=$(DIST)/.r$$i || exit 1; \
	done
	cmp $(DIST)/.r1/SHA256SUMS $(DIST)/.r2/SHA256SUMS
	@for f in $(notdir $(BINARIES)) aciworker-image.tar; do cmp $(DIST)/.r1/$$f $(DIST)/.r2/$$f || exit 1; done
	@echo "reproducible: two builds from empty caches gave the same bytes"; cat $(DIST)/.r1/SHA256SUMS
	rm -rf $(DIST)/.r1 $(DIST)/.r2

# The README's test command.
test:
	$(GO) test -race -timeout 25m ./...

# The lifecycle scenarios where watch, the event stream, cancellation,
# hand-backs and adoption overlap, again and again under the race
# detector: a race or an ordering the tests met once in many runs shows
# up here. Not in CI (tens of minutes); STRESS_COUNT=1 is a quick look.
STRESS_COUNT ?= 20
STRESS_RUN := ^(TestCancelRunning|TestGroupDeletedBehindBack|TestCrashedWhileCancellingEndsCancelled|TestCancelledAfterGroupVanished|TestCancelledWhilePendingEndsCancelled|TestHandedBackWhileDeploying|TestHandBackThatOvertookTheEnd|TestAdoptedClaimWithFailedProvisioning|TestKillOutlivesTheStop|TestStreamerLearnsTheContainerName|TestFinalStatesFromTheEventStream|TestTwoWorkersOnePool|TestTwoWorkersImpatientOrphanRecovery|TestKillAndRestart|TestNoAdoptionOfARunEndedDuringTheListing|TestCancelGraceOnTheClock|TestOrphanAfterOnTheClock|TestExitBeforeFlowStarts|TestOrphanedClaimsAreRescheduled|TestAdoptionWithoutProgressBacksOff|TestAdoptedClaimThatOvertookTheEnd|TestStillClaimed)$$

stress:
	$(GO) test -race -timeout 120m -count $(STRESS_COUNT) -run '$(STRESS_RUN)' ./worker/

# What .ci/run checks before the tests.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

clean:
	rm -rf $(DIST) aciworker

FORCE:
