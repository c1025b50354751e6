#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, the Windows build, the Rust
# tests (codec, bridge, gateway end to end, nginx) and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

ci/setup.sh

say "crate layering"
ci/check-layers.sh
say "file and function sizes"
ci/check-sizes.py
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
say "cargo check for Windows (x86_64-pc-windows-gnu)"
cargo clippy --workspace --all-targets --target x86_64-pc-windows-gnu -- -D warnings
say "cargo test"
IISWSGI_PYTHON="$PWD/.venv/bin/python" cargo test --workspace
say "benchmark, smoke mode (proves it runs; asserts nothing about speed)"
IISWSGI_PYTHON="$PWD/.venv/bin/python" cargo run -q -p iiswsgi-harness --bin iiswsgi-bench -- --smoke
say "instructions per request, smoke mode (proves ci/instructions.sh runs)"
ci/instructions.sh 50
say "pytest"
.venv/bin/python -m pytest tests/python -q
