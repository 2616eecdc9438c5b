# hookrelay: one image, both binaries (hookrelay-api, the default command, and
# hookrelay-worker), running as a non-root user.
#
# Stages: cargo-chef plans the dependency graph (recipe.json changes only when a manifest
# or Cargo.lock does), the builder compiles the dependencies from that recipe (a cached
# layer) and then the workspace, and the runtime stage is Debian slim with CA certificates.
#
#   docker build -t hookrelay .
#   docker run -p 8080:8080 -e API_KEYS=... -e DATABASE_URL=... -e REDIS_URL=... hookrelay
#   docker run -e DATABASE_URL=... -e REDIS_URL=... hookrelay hookrelay-worker

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only (of the default members: shared, api, worker, as `cargo build` picks
# them); this layer is rebuilt only when recipe.json changes.
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p hookrelay-api -p hookrelay-worker \
    && cp target/release/hookrelay-api target/release/hookrelay-worker /usr/local/bin/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hookrelay \
    && useradd --system --uid 10001 --gid hookrelay --no-create-home \
       --shell /usr/sbin/nologin hookrelay
COPY --from=builder /usr/local/bin/hookrelay-api /usr/local/bin/hookrelay-api
COPY --from=builder /usr/local/bin/hookrelay-worker /usr/local/bin/hookrelay-worker
USER hookrelay:hookrelay
# Container platforms set PORT; HOST is 0.0.0.0 by default.
ENV PORT=8080
EXPOSE 8080
CMD ["hookrelay-api"]
