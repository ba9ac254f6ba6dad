# smsq release image: every command in one small static image.
#
#   docker build -t smsq:local .
#   docker run --rm smsq:local /usr/local/bin/worker -help
#
# Binaries, all under /usr/local/bin: worker, scheduler, enqueue, sandbox
# and healthcheck (a tiny HTTP prober for container health checks: the final
# image has no shell, curl or wget).
#
# Nothing is downloaded while building except Go modules, through the Go
# module proxy (pass --build-arg GOPROXY=... to use a mirror).
# There is deliberately no "# syntax=" line and no RUN --mount: both would
# make the build fetch a BuildKit frontend or need BuildKit, and the classic
# builder used by docker-compose 1.x must work too.

# GO_VERSION must match the go directive in go.mod (deploy_test checks it).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
# Unset: Go's default proxy. Build arguments reach RUN as variables.
ARG GOPROXY
# GOTOOLCHAIN=local: an older image fails loudly instead of fetching a
# newer Go toolchain.
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local
WORKDIR /src
# Modules first, so source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# -s -w drop the symbol table and DWARF; panics still carry file:line.
RUN mkdir -p /out \
 && go build -trimpath -ldflags="-s -w" -o /out/ \
      ./cmd/worker ./cmd/scheduler ./cmd/enqueue ./cmd/sandbox ./deploy/healthcheck

# distroless/static: CA certificates, tzdata and /etc/passwd with a nonroot
# user (65532), no shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
# 8080: the worker's /healthz /readyz /monitoring (/metrics); 7380: sandbox.
EXPOSE 8080 7380
# No ENTRYPOINT: each service names its command (docker-compose.yml and the
# Kubernetes manifests do). The default is the worker.
CMD ["/usr/local/bin/worker"]
