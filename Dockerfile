# wsedge container image: docs/operations.md#container-image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t wsedge .
#   docker run --ulimit nofile=1048576:1048576 -p 8080:8080 -p 127.0.0.1:9090:9090 wsedge
#
# The build stage runs make build, the same command as a local build, so the
# two cannot drift. Keep the Go version in step with go.mod (a test checks).

FROM golang:1.26-trixie AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum stay the same.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not sent (see .dockerignore), so the version comes in as an argument;
# empty means "dev". CGO_ENABLED=0: a static binary that needs no libc.
ARG VERSION=
RUN CGO_ENABLED=0 make build VERSION="${VERSION}"

# distroless/static: CA certificates, tzdata and a nonroot user (65532), no
# shell, no package manager.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /src/bin/wsedge /usr/local/bin/wsedge
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# Inside a container the default admin address (127.0.0.1:9090) cannot be
# reached by Prometheus or by probes: listen on every interface of the
# container and publish or expose the port only where it is safe (pprof).
ENV WSEDGE_ADDR=:8080 \
    WSEDGE_ADMIN_ADDR=:9090
# 8080: WebSocket clients and /health; 9090: admin (/metrics, /health, pprof).
EXPOSE 8080 9090
# No HEALTHCHECK: the image has no shell or curl to run one, and
# orchestrators probe over HTTP themselves (Kubernetes ignores HEALTHCHECK;
# deploy/k8s/ probes the admin port). With plain docker, watch
# http://HOST:9090/health from outside.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wsedge"]
