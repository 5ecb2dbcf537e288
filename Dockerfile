# agentstorm in a small image: built with the Rust toolchain, run on Debian slim as a
# non-root user. Used by deploy/kubernetes/job.yaml (docs/distributed.md):
#   docker build -t agentstorm:latest .
#   docker run --rm agentstorm:latest run /usr/share/agentstorm/scenarios/smoke.toml

FROM rust:1.95-slim-bookworm AS build
WORKDIR /build
# Dependencies first, in their own layer: rebuilt only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin agentstorm \
    && strip target/release/agentstorm

FROM debian:bookworm-slim
# CA certificates: real gateways are verified against the system roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 agentstorm \
    && useradd --system --uid 10001 --gid 10001 --home-dir /work --create-home agentstorm
COPY --from=build /build/target/release/agentstorm /usr/local/bin/agentstorm
COPY scenarios /usr/share/agentstorm/scenarios
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/agentstorm"]
CMD ["--help"]
