#!/usr/bin/env bash
# Install a tool from the crates registry into the project's .tools/ unless that version is already there.
# usage: cargo-ensure.sh <crate> <version>   (the binary: .tools/bin/<crate>)
# cargo and rustc are on every machine here; a first build takes minutes (oha: ~8 min on two cores).
set -euo pipefail
crate=$1 version=$2
root="$(cd "$(dirname "$0")/../.." && pwd)/.tools"
if "$root/bin/$crate" --version 2>/dev/null | grep -qF " $version"; then exit 0; fi
command -v cargo >/dev/null || { echo "cargo-ensure: cargo not found (install Rust with rustup)" >&2; exit 1; }
echo "==> building $crate $version from crates.io into .tools/ (once; a few minutes)"
cargo install --quiet --locked --version "$version" --root "$root" "$crate"
