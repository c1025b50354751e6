#!/usr/bin/env bash
# The benchmark: iiswsgi against the transport's ceiling, wfastcgi 3.0.0 and
# flup 1.0.3, in one run on this machine. Writes the results into
# docs/PERFORMANCE.md. Extra arguments go to iiswsgi-bench (e.g. --smoke,
# --duration 10, --only hello, --peer iiswsgi).
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
cargo build --release -q -p iiswsgi-harness --bin iiswsgi-bench
write=--write-docs
for a in "$@"; do [ "$a" = --smoke ] && write=; done
IISWSGI_PYTHON="$PWD/.venv/bin/python" exec target/release/iiswsgi-bench $write "$@"
