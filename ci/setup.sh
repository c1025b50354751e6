#!/usr/bin/env bash
# Prepares a fresh Debian machine of this project's kind: system packages
# (nginx, the mingw linker, valgrind for ci/instructions.sh), the Windows Rust target, and .venv with iiswsgi
# built from this checkout plus the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    say "adding the Rust target x86_64-pc-windows-gnu"
    rustup target add x86_64-pc-windows-gnu >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
say "installing test tools into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -r ci/requirements-test.txt
say "building iiswsgi's wheel from this checkout into target/wheels and installing it"
# The wheel is kept: the installer tests and the simulated deployments pip
# install iiswsgi into application virtualenvs from it (PIP_FIND_LINKS).
rm -f target/wheels/iiswsgi-*.whl
.venv/bin/python -m pip wheel -q --disable-pip-version-check --no-deps -w target/wheels .
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/iiswsgi-*.whl
