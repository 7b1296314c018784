# syntax=docker/dockerfile:1.7
#
# One image with the three services and the `viral` CLI; the command picks what runs:
#
#   docker build -t viral:dev .
#   docker run --rm -p 9900:9900 viral:dev                        # viral standalone (the demo)
#   docker run --rm -v $PWD/viral.toml:/etc/viral/viral.toml:ro viral:dev \
#       viral-aggregator --config /etc/viral/viral.toml             # one service
#
# Configuration: a TOML file (--config FILE or VIRAL_CONFIG) and VIRAL__SECTION__KEY
# environment overrides (README: Configuration). The image sets
# VIRAL__HTTP__LISTEN=0.0.0.0:9900, so /metrics, /healthz and /readyz are on port 9900
# whatever the file says; override the variable to move them (and the HEALTHCHECK with it).
#
# The runtime stage is distroless (glibc, CA certificates, no shell, no package manager)
# and runs as the unprivileged user 65532. The health check is BusyBox's wget, a static
# binary copied in under the name `wget`, so it is the only applet it acts as.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# librdkafka is built from source by rdkafka-sys: cmake, and the libcurl headers that its
# CMake build looks for even with curl disabled. SQLite is bundled (C compiler only).
# Build stage only, from the pinned Debian release: package versions are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target directory are BuildKit cache mounts: a rebuild after a source
# change recompiles the workspace crates only, not librdkafka and the dependencies.
# They are not part of any layer, so the binaries are copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        -p viral -p viral-producer -p viral-aggregator -p viral-alerter \
 && mkdir -p /out/bin /out/data \
 && cp target/release/viral target/release/viral-producer \
       target/release/viral-aggregator target/release/viral-alerter /out/bin/

# A statically linked BusyBox, for the health check only.
FROM busybox:1.37-musl AS probe

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="viral" \
      org.opencontainers.image.description="Am I going viral? Mentions counted in time windows on Kafka, alerts when the volume is abnormal" \
      org.opencontainers.image.source="https://github.com/viral-dev/viral" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=probe /bin/busybox /usr/local/bin/wget
COPY --from=builder /out/bin/ /usr/local/bin/
# Working directory for a SQLite file (standalone); mount a volume here to keep it.
COPY --from=builder --chown=65532:65532 /out/data/ /var/lib/viral/
WORKDIR /var/lib/viral
ENV VIRAL__HTTP__LISTEN=0.0.0.0:9900
EXPOSE 9900
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9900/healthz"]
# Exec form, no shell: SIGTERM reaches the process, which commits and exits within 10 s.
CMD ["viral", "standalone"]
