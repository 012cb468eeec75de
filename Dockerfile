# syntax=docker/dockerfile:1
# k8scop's container image: the host binary (release) and every shipped rule
# pack (each crate under rules-wasm/, built for wasm32-wasip2), in a small
# runtime image, as a non-root numeric user.
#
#   docker build -t registry.example.com/k8scop:0.1.0 .
#   docker run --rm registry.example.com/k8scop:0.1.0 rules list
#
# The packs sit in /usr/share/k8scop/rules, the image's working directory's
# `rules` folder (k8scop's default --rules). The Kubernetes manifests in
# deploy/ use them first and add a second rules folder from ConfigMaps, whose
# packs add to (or, by name, replace) the image's without a new image.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# One RUN, so the cached target folder never lands in a layer: the host, then
# every pack (the same script as `make packs`), copied out to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    cargo build --release --locked -p k8scop; \
    mkdir -p /out/rules; \
    cp target/release/k8scop /out/k8scop; \
    CARGO_FLAGS=--locked scripts/build-packs.sh /out/rules; \
    ls -l /out/rules

# glibc and libgcc, CA certificates, nothing else (no shell).
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/k8scop /usr/local/bin/k8scop
COPY --from=build /out/rules/ /usr/share/k8scop/rules/
WORKDIR /usr/share/k8scop
# The user the manifests in deploy/ run as (runAsUser: 10001).
USER 10001:10001
# /metrics, /healthz, /readyz, /status
EXPOSE 9464
ENTRYPOINT ["k8scop"]
CMD ["--help"]
