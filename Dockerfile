# The same image `make dist` writes to dist/aciworker-image.tar, for those
# who build with Docker:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ) -t aciworker .
# The binary alone, as /aciworker, run by user 65532; no shell and no CA
# files (the binary embeds Mozilla's roots); nothing is written at run time.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev COMMIT= DATE=1970-01-01T00:00:00Z
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= \
        -X github.com/aciworker/aciworker/internal/buildinfo.version=$VERSION \
        -X github.com/aciworker/aciworker/internal/buildinfo.commit=$COMMIT \
        -X github.com/aciworker/aciworker/internal/buildinfo.date=$DATE" \
      -o /out/aciworker ./cmd/aciworker

FROM scratch
ARG VERSION=dev COMMIT=
LABEL org.opencontainers.image.title=aciworker \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.source=https://github.com/aciworker/aciworker \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$COMMIT
COPY --from=build --chmod=0755 /out/aciworker /aciworker
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/aciworker"]
