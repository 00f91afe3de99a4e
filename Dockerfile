# syntax=docker/dockerfile:1
#
# One image for the whole shop. Binaries in /usr/local/bin:
#   shop           everything in one process (default)
#   customer       customer service        (port 8081)
#   product-order  product-order service   (port 8082)
#   web            web front               (port 8080)
#
# Build:  docker build -t shop:latest .
# Run:    docker compose up   (see compose.yml)

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /app
ENV CARGO_TERM_COLOR=never

# The whole workspace (see .dockerignore for what is left out).
COPY . .

# Cache the registry and the target dir between builds; the target dir is a
# cache mount, so copy the binaries out of it inside the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/app/target \
    cargo build --release --locked --workspace --bins \
    && mkdir -p /out \
    && for bin in shop customer product-order web; do \
         cp "target/release/${bin}" /out/ || { echo "binary ${bin} was not built" >&2; exit 1; }; \
       done

# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates for TLS to external endpoints; curl for container healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --home-dir /app --shell /usr/sbin/nologin shop

WORKDIR /app
COPY --from=builder /out/ /usr/local/bin/

ENV RUST_LOG=info
USER shop:shop
EXPOSE 8080 8081 8082
CMD ["shop"]
