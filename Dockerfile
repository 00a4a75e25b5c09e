# Guidepost: one static-ish binary on Debian slim.
#
#   docker build -t guidepost .
#   docker run -p 8080:8080 -v guidepost-data:/var/lib/guidepost guidepost serve --listen 0.0.0.0:8080 --demo
#
# Without GUIDEPOST_DATABASE_URL the server uses SQLite (guidepost.db in the working
# directory, /var/lib/guidepost); compose.yaml runs it against PostgreSQL instead.
# The image has node, npm and python3, so the catalog's npm and PyPI entries install from
# it; fetched packages are cached in /var/lib/guidepost/guidepost-cache.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts (BuildKit / Buildah) keep the crate registry and build artifacts between
# builds; the binary is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p guidepost \
    && install -m 0755 target/release/guidepost /usr/local/bin/guidepost

# Node 22 (with its npm) for the catalog's npm entries: the official build, pinned; Debian
# bookworm's own nodejs is 18, older than the reference servers need.
FROM node:22.23.3-bookworm-slim AS node

FROM debian:bookworm-slim
# python3 and pip fetch and run the catalog's PyPI entries (`pip install --target`, which
# PEP 668's externally-managed marker does not stop).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && node --version && npm --version && python3 -m pip --version
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/guidepost --create-home \
        --shell /usr/sbin/nologin guidepost
COPY --from=builder /usr/local/bin/guidepost /usr/local/bin/guidepost
USER guidepost
WORKDIR /var/lib/guidepost
EXPOSE 8080
# No curl in this image: bash's /dev/tcp asks /readyz (200 once the store is reachable).
# Assumes the default port 8080.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["guidepost"]
# Flags win over GUIDEPOST_* variables: to listen elsewhere, override the command.
CMD ["serve", "--listen", "0.0.0.0:8080"]
