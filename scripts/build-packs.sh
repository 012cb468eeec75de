#!/usr/bin/env bash
# Build rule packs (crates under rules-wasm/) for wasm32-wasip2 in release
# and copy their .wasm files into OUT_DIR. The one place packs are built for
# shipping: the Dockerfile and `make packs` / `make pack` call it, so the
# image, the demo and CI build them the same way.
#
#   scripts/build-packs.sh OUT_DIR            # every pack
#   scripts/build-packs.sh OUT_DIR my-pack    # only these (workspace packages)
#   scripts/build-packs.sh OUT_DIR ~/my-pack  # a crate folder of its own
#
# The tests build every pack they load through it too (the testkit), so CI
# runs exactly what the image build runs.
#
# Environment: CARGO (default cargo), PACKS_TARGET_DIR (default
# target/packs, the testkit's too, so a test run reuses the build),
# CARGO_FLAGS (extra flags for cargo build, e.g. --locked).
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 OUT_DIR [PACK...]" >&2
    exit 2
fi
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
out="$(absolute "$1")"
shift
# Crate folders are named from where the caller stands.
args=()
for arg in "$@"; do
    if [ -f "$arg/Cargo.toml" ]; then args+=("$(absolute "$arg")"); else args+=("$arg"); fi
done
set -- ${args[@]+"${args[@]}"}
cd "$(dirname "$0")/.."

target=wasm32-wasip2
cargo="${CARGO:-cargo}"
target_dir="${PACKS_TARGET_DIR:-target/packs}"

# Idempotent: only added when missing, and only where rustup manages the
# toolchain (a distro cargo must have the target already).
if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi

packs=("$@")
if [ ${#packs[@]} -eq 0 ]; then
    for dir in rules-wasm/*/; do
        [ -f "$dir/Cargo.toml" ] && packs+=("$(basename "$dir")")
    done
fi

names=()
dirs=()
for pack in "${packs[@]}"; do
    if [ -f "$pack/Cargo.toml" ]; then dirs+=("$pack"); else names+=("$pack"); fi
done
# Whole-program optimisation (fat LTO, one codegen unit): the packs run
# 3-5% faster in the sandbox and are 4-14% smaller (BENCHMARKS.md), for
# about the same build time. Given through cargo's environment so a crate
# folder of its own is built the same way; the caller's values win.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-fat}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}"
build() {
    # shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
    "$cargo" build --release ${CARGO_FLAGS:-} --target "$target" --target-dir "$target_dir" "$@"
}
if [ ${#names[@]} -gt 0 ]; then
    build $(printf -- '-p %s ' "${names[@]}")
fi
for dir in ${dirs[@]+"${dirs[@]}"}; do
    build --manifest-path "$dir/Cargo.toml"
    names+=("$(sed -n 's/^name = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -1)")
done

mkdir -p "$out"
for pack in "${names[@]}"; do
    cp "$target_dir/$target/release/${pack//-/_}.wasm" "$out/"
done
ls -1 "$out" >&2
