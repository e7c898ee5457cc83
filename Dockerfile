# backlogd container image (SPEC §10): a Debian 12 builder builds librdkafka with
# scripts/librdkafka.sh (the release and checksum that script pins, linked in
# statically), compiles the binary with the -dev packages and installs it with
# `cmake --install`; the runtime stage is debian:12-slim with only the shared
# libraries, the binary, the contracts and the example configuration, run as a
# fixed non-root user. Everything comes from Debian packages and the source tree,
# except librdkafka's released source (stage librdkafka-source below).
#
#   docker build -t backlogd .
#   docker run --rm backlogd --help
#   docker run --rm -e BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=broker:9092 backlogd topics create
#
# Where no image registry is reachable (this project's machines), scripts/image.sh
# makes the two base images named below with debootstrap from Debian's mirror,
# builds this file with podman, and proves the image: `backlogd demo` and
# `backlogd run` against a real broker (docs/operations.md, "Building and proving
# the image"; `make test` runs it as integration.image).
#
# Configuration: /etc/backlogd/backlogd.json (config/backlogd.json; mount another file
# over it or override keys with BACKLOGD_<KEY> and BACKLOGD_KAFKA_<PROPERTY>).
# The contracts are at /usr/share/backlogd/schemas, the built-in schemas.dir.
# docs/operations.md tells how to run it; tests/cli/test_deploy.py checks this file.

ARG DEBIAN_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

# ---- librdkafka-source ---------------------------------------------------------
# librdkafka's released source reaches Debian 12 machines only inside the npm
# package node-rdkafka (scripts/librdkafka.sh says why and pins its SHA-512). This
# stage fetches that one archive with Debian's npm into /librdkafka. A build that
# has the archive already replaces the whole stage with a directory holding
# librdkafka/<archive> (a named build context; nothing of npm is then installed):
#   podman build --build-context librdkafka-source=DIR .     (buildah >= 1.27)
#   docker buildx build --build-context librdkafka-source=DIR .
# scripts/image.sh does so with the archive of the cache. Either way the builder
# checks the archive's checksum again before it unpacks anything. (On this
# project's machines npm's registry answers through a TLS-inspecting proxy whose
# CA only the host trusts: this stage fails there with SELF_SIGNED_CERT_IN_CHAIN,
# and the named context is the way.)
FROM ${DEBIAN_IMAGE} AS librdkafka-source
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/librdkafka.sh /usr/local/bin/librdkafka.sh
RUN BACKLOGD_CACHE=/librdkafka librdkafka.sh fetch \
 && find /librdkafka -mindepth 1 -maxdepth 1 ! -name '*.tgz' -exec rm -rf {} +

# ---- builder -------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS builder
ENV DEBIAN_FRONTEND=noninteractive
# The versions are Debian 12's (the image pins the release): the same packages that
# scripts/install-deps.sh installs for a developer build; the second line is what
# librdkafka is built with.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev \
      libavro-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# librdkafka first, in a layer of its own that only a change of the script or of
# the archive rebuilds: the archive's checksum verified (a verified archive in
# the cache is never fetched again), built into the cache /var/cache/backlogd,
# whose prefix CMake is then given. BACKLOGD_CACHE is set for these commands
# only: backlogd reads every BACKLOGD_* variable as configuration and would warn.
COPY --from=librdkafka-source /librdkafka/ /var/cache/backlogd/
COPY scripts/librdkafka.sh scripts/librdkafka.sh
RUN BACKLOGD_CACHE=/var/cache/backlogd scripts/librdkafka.sh build
# .dockerignore keeps build directories, caches, docs and deploy/ out of the context.
COPY . .
# Only the backlogd target is built (the tests and benchmarks are configured, not
# compiled); the installed binary then checks its own contracts and the example
# configuration, so a broken image fails here rather than at start-up.
RUN cmake -S . -B /build -G Ninja \
      -DBACKLOGD_RDKAFKA_PREFIX="$(BACKLOGD_CACHE=/var/cache/backlogd scripts/librdkafka.sh prefix)" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX=/usr \
      -DBACKLOGD_SCHEMAS_DIR=/usr/share/backlogd/schemas \
 && cmake --build /build --target backlogd \
 && DESTDIR=/staging cmake --install /build --strip \
 && BACKLOGD_SCHEMAS_DIR=/staging/usr/share/backlogd/schemas /staging/usr/bin/backlogd contracts check \
 && /staging/usr/bin/backlogd config check config/backlogd.json >/dev/null

# ---- runtime -------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="backlogd" \
      org.opencontainers.image.description="Kafka stream processor that governs the task backlog of an AI/ML platform"

# The runtime libraries of the -dev packages above (librdkafka itself is in the
# binary; the first five are what it links), and the CA bundle for TLS to the
# brokers and the Schema Registry. Nothing else: no shell tools beyond Debian's base.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libsasl2-2 libzstd1 liblz4-1 zlib1g \
      libavro23 libjansson4 libcurl4 libmicrohttpd12 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 backlogd \
 && useradd --system --uid 10001 --gid backlogd --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin backlogd

COPY --from=builder /staging/usr/bin/backlogd /usr/bin/backlogd
COPY --from=builder /staging/usr/share/backlogd/schemas /usr/share/backlogd/schemas
# The licences of librdkafka (and of the code it bundles), which the binary carries.
COPY --from=builder /staging/usr/share/doc/backlogd /usr/share/doc/backlogd
COPY config/backlogd.json /etc/backlogd/backlogd.json

# A fixed numeric UID/GID (10001), so that Kubernetes' runAsNonRoot can verify it and
# deploy/base/deployment.yaml names the same one. backlogd writes nothing to disk (logs
# go to stderr, state lives in Kafka), so the root filesystem can be read-only.
USER 10001:10001
ENV BACKLOGD_CONFIG=/etc/backlogd/backlogd.json

# /metrics, /healthz and /readyz (config keys http.address and http.port).
EXPOSE 9464

# /healthz answers 200 while the run loop turns (http.healthz_stale_ms). Only bash's
# /dev/tcp is used: the image has no curl. Meaningful for `run` only; Kubernetes uses
# its own probes (deploy/base/deployment.yaml) and ignores this.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BACKLOGD_HTTP_PORT:-9464} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop, a pod's termination) finishes the batch, commits, leaves the
# group and exits 0; give it the grace period to do so.
STOPSIGNAL SIGTERM
ENTRYPOINT ["backlogd"]
CMD ["run", "-c", "/etc/backlogd/backlogd.json"]
