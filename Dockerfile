# Novera Assistant: a two-stage build. The runtime image holds only the binary.
#   docker build -t novera-assistant .
#   docker run --env-file .env -v novera-data:/data -p 127.0.0.1:8080:8080 novera-assistant

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# The patched serenity (vendor/README.md) and the workspace's other member, the simulator
# the tests use: cargo reads every member's manifest even to build one binary.
COPY vendor ./vendor
COPY crates ./crates
# Cargo reads every target the manifest declares, benchmarks included.
COPY benches ./benches
# The `dist` profile: whole-program optimisation for the smallest binary. Slower to build than
# `--release`, which is what `cargo run --release` uses.
# Without the sandbox (a local Discord for trying the bot), which a server has no use for.
RUN cargo build --profile dist --locked --no-default-features --bin novera-assistant

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home novera
COPY --from=builder /src/target/dist/novera-assistant /usr/local/bin/novera-assistant
USER novera
WORKDIR /data
# The database lives in the /data volume. The health server's default is loopback only; in a
# container it must listen on the container's interface for -p 8080:8080 to reach it.
# GLIBC_TUNABLES: glibc's per-thread cache of freed blocks off, so that memory freed after a
# burst goes back to the system (src/memory.rs).
ENV DATABASE_URL=sqlite:///data/novera.db \
    HEALTH_ADDR=0.0.0.0:8080 \
    RUST_LOG=info \
    GLIBC_TUNABLES=glibc.malloc.tcache_count=0
EXPOSE 8080
# Readiness: 503 while the gateway session is down; retries ride out a short reconnect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
# SIGTERM is a clean shutdown (exit 0 within 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/novera-assistant"]
