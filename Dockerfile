# syntax=docker/dockerfile:1
# One image with every Stream-Admin binary: ingest, normalizer, cdc-bridge, warehouse-sink,
# anomaly, admin, views and the stream-admin CLI, in /usr/local/bin.
#   docker build -t stream-admin:0.1.0 .
#   docker run --rm stream-admin:0.1.0 ingest --help
# Used by docker-compose.yml and the Helm chart (deploy/helm/stream-admin).

ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------- build ---
FROM debian:${DEBIAN_RELEASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src

# Dependencies first, so this layer is reused while only the sources change.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
ARG BUILD_TYPE=RelWithDebInfo
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DSA_BUILD_BENCH=OFF \
 && cmake --build /build -j "$(nproc)" \
      --target ingest normalizer cdc-bridge warehouse-sink anomaly admin views stream-admin

# The binaries (debug info moved out of the runtime image) and the list of
# Debian packages holding the shared libraries they load.
RUN set -eux; \
    mkdir -p /out/bin; \
    for b in ingest normalizer cdc-bridge warehouse-sink anomaly admin views stream-admin; do \
      strip --strip-debug -o "/out/bin/$b" "/build/bin/$b"; \
    done; \
    bash deploy/docker/runtime-packages.sh /out/bin/* > /out/runtime-packages.txt; \
    cat /out/runtime-packages.txt

# -------------------------------------------------------------- runtime ---
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 10001 streamadmin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin streamadmin \
 && mkdir -p /etc/stream-admin

COPY --from=build /out/bin/ /usr/local/bin/

# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
# gRPC 7101..7107, HTTP (/metrics /healthz /readyz) 9101..9107.
EXPOSE 7101 7102 7103 7104 7105 7106 7107 9101 9102 9103 9104 9105 9106 9107
# No ENTRYPOINT: the command names the service, e.g.
#   ingest --config /etc/stream-admin/config.yaml
# The service is PID 1 and drains on SIGTERM (server.shutdown_grace_s).
CMD ["stream-admin", "--help"]

LABEL org.opencontainers.image.title="stream-admin" \
      org.opencontainers.image.description="Stream-Admin services: ingest, normalizer, cdc-bridge, warehouse-sink, anomaly, admin, views, CLI" \
      org.opencontainers.image.version="0.1.0"
