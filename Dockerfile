# Static build of the exporter on a distroless, non-root base.
#   docker build --build-arg VERSION=$(cat VERSION) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t mirrord-exporter .
# Without --build-arg VERSION the binary reports the VERSION file's version.
# deploy/chartcheck runs the build command below (the RUN with go build) and
# checks that it gives a static binary carrying the version.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# GOWORK=off: the binary is built from the root go.mod alone, even where a
# developer's go.work joins other modules.
ENV CGO_ENABLED=0 GOWORK=off
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown
RUN go build -trimpath -o /out/exporter -ldflags "-s -w \
      -X github.com/prometheus/common/version.Version=${VERSION:-$(cat VERSION)} \
      -X github.com/prometheus/common/version.Revision=${REVISION} \
      -X github.com/prometheus/common/version.Branch=${BRANCH} \
      -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
      -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      ./cmd/exporter

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=
ARG REVISION=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="mirrord-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the mirrord operator's log stream" \
      org.opencontainers.image.source="https://github.com/mirrord-exporter/mirrord-exporter" \
      org.opencontainers.image.url="https://github.com/mirrord-exporter/mirrord-exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/exporter /bin/mirrord-exporter
# uid/gid 65532, as the chart's podSecurityContext expects.
USER nonroot:nonroot
EXPOSE 9174
ENTRYPOINT ["/bin/mirrord-exporter"]
