#!/usr/bin/env bash
# Runs mod_wsgi's own WSGI test suite (tests/wsgi of GrahamDumpleton/mod_wsgi)
# through nginx and `iiswsgi serve --bind`. The suite is read at run time and
# never copied into this repository: MOD_WSGI_SRC names a checkout (or a bare
# git directory); without it the public repository is cloned into a temporary
# folder. Its assertion helpers are taken from its scripts/run-tests.sh and
# its .sh files are sourced as that script does; ci/mod_wsgi_dispatch.py mounts
# each tests/wsgi/NAME.py at /test/wsgi/NAME as its WSGIScriptAlias lines do.
#
#   ci/mod_wsgi_suite.sh            # the portable tests (see docs/CONFORMANCE.md)
#   ci/mod_wsgi_suite.sh --all      # every test, Apache-specific ones included
#   IISWSGI_PYTHON=/other/venv/bin/python ci/mod_wsgi_suite.sh   # another install
#
# Prints one line per test file and the totals; exits 0 (a score, not a gate).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SKIP_SETUP:-}" ] || ci/setup.sh

# Tests that need no Apache directive (.conf) and no mod_wsgi-only API.
PORTABLE="environ file_wrapper headers response start_response"
ALL=0
[ "${1:-}" = --all ] && ALL=1

work="$(mktemp -d "${TMPDIR:-/tmp}/iiswsgi-mod_wsgi.XXXXXX")"
gw_pid=""
nginx_pid=""
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

src="${MOD_WSGI_SRC:-}"
if [ -n "$src" ] && [ -d "$src/tests/wsgi" ]; then
    :
elif [ -n "$src" ] && git --git-dir="$src" rev-parse HEAD >/dev/null 2>&1; then
    mkdir "$work/mod_wsgi"
    git --git-dir="$src" archive HEAD tests scripts | tar -x -C "$work/mod_wsgi"
    echo "mod_wsgi $(git --git-dir="$src" describe --tags --always HEAD)" >&2
    src="$work/mod_wsgi"
else
    git clone -q --depth 1 https://github.com/GrahamDumpleton/mod_wsgi "$work/mod_wsgi"
    echo "mod_wsgi $(git -C "$work/mod_wsgi" describe --tags --always HEAD)" >&2
    src="$work/mod_wsgi"
fi

# What scripts/run-tests.sh provides to the test files.
PORT=9876
SERVER_NAME=localhost
BASE_URL="http://$SERVER_NAME:$PORT"
SERVER_ROOT="$work"
CURL_COMMON=(--resolve "$SERVER_NAME:$PORT:127.0.0.1")
PASS=0
FAIL=0
ERRORS=""
eval "$(sed -n '/^# ---- Assertion helpers/,/^start_server()/p' "$src/scripts/run-tests.sh" | sed '$d')"

sock="$work/gw.sock"
PYTHONPATH="$PWD/ci" MOD_WSGI_TESTS="$src/tests/wsgi" \
    "${IISWSGI_PYTHON:-.venv/bin/python}" -m iiswsgi serve mod_wsgi_dispatch:application \
    --bind "unix:$sock" --log "$work/gateway.log" >>"$work/error_log" 2>&1 &
gw_pid=$!

# Debian's fastcgi_params sends $host (no port) as HTTP_HOST; Apache passes the
# Host header as the client sent it, which the suite expects (nginx then passes
# the request's Host header itself).
grep -v "HTTP_HOST" /etc/nginx/fastcgi_params >"$work/fastcgi_params"
# shellcheck source=ci/nginx_conf.sh
. ci/nginx_conf.sh
nginx_conf "$work" "$PORT" "$sock" "$work/fastcgi_params" >"$work/nginx.conf"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
"$nginx_bin" -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

total_pass=0
total_fail=0
set +eu
for test_sh in "$src"/tests/wsgi/*.sh; do
    name="$(basename "${test_sh%.sh}")"
    if [ $ALL = 0 ] && ! grep -qw "$name" <<<"$PORTABLE"; then
        echo "$name: not run (needs Apache directives or the mod_wsgi module)"
        continue
    fi
    PASS=0
    FAIL=0
    ERRORS=""
    # shellcheck disable=SC1090
    source "$test_sh" >"$work/$name.out" 2>&1
    echo "$name: $PASS passed, $FAIL failed"
    [ $FAIL -gt 0 ] && grep "FAIL:" "$work/$name.out" | sed 's/^/    /'
    total_pass=$((total_pass + PASS))
    total_fail=$((total_fail + FAIL))
done
set -eu
echo "total: $total_pass passed, $total_fail failed, of $((total_pass + total_fail)) assertions"
