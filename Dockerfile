# Guidepost: one static-ish binary on Debian slim.
#
#   docker build -t guidepost .
#   docker run -p 8080:8080 -v guidepost-data:/var/lib/guidepost guidepost serve --listen 0.0.0.0:8080 --demo
#
# Without GUIDEPOST_DATABASE_URL the server uses SQLite (guidepost.db in the working
# directory, /var/lib/guidepost); compose.yaml runs it against PostgreSQL instead.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts (BuildKit / Buildah) keep the crate registry and build artifacts between
# builds; the binary is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p guidepost \
    && install -m 0755 target/release/guidepost /usr/local/bin/guidepost

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
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
