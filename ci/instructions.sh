#!/usr/bin/env bash
# Instructions per request of each process on the HTTP-front path, counted by
# callgrind: the front (`iiswsgi sim serve`, nginx) and the gateway behind
# it, for the benchmark's hello request. Unlike the timed benchmark this is
# exact and repeatable on a loaded machine (the same build gives the same
# count to within a few instructions), but it counts user space only: the
# kernel's share (the same socket calls for both fronts) is not in it.
#
#   bash ci/instructions.sh [REQUESTS]      (default 2000)
#
# It measures the wheel installed in .venv (or $IISWSGI_PYTHON's): run
# ci/setup.sh first, which builds it from this checkout and installs valgrind.
#
# Each process is measured alone under callgrind, with instrumentation
# switched on after 300 warm-up requests and off after REQUESTS more, sent
# one after the other on one keep-alive connection (`iiswsgi-bench load`).
# See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
PY=${IISWSGI_PYTHON:-$PWD/.venv/bin/python}
# The load driver (`iiswsgi-bench load`) is built here, in the debug
# profile: its own speed does not enter the counts.
cargo build -q -p iiswsgi-harness --bin iiswsgi-bench
BENCH=$PWD/target/debug/iiswsgi-bench
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
APPS=$PWD/fixtures/apps
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
"$PY" -c "import iiswsgi" 2>/dev/null || { echo "$PY has no iiswsgi (bash ci/setup.sh)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/iiswsgi-instructions.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    pkill -f "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

VG=(valgrind --tool=callgrind --instr-atstart=no)

# Counts what process $1 runs for N requests to $2 (instructions per request).
count() {
    local pid=$1 url=$2 out
    "$BENCH" load "$url" --requests 300 >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    "$BENCH" load "$url" --requests "$N" >/dev/null
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    for _ in $(seq 50); do
        out=$(ls "$WORK"/cg."$pid".* 2>/dev/null | grep -v '\.out$' | head -1 || true)
        [ -n "$out" ] && [ -s "$out" ] && grep -q '^totals:' "$out" && break
        sleep 0.1
    done
    local total
    total=$(grep '^totals:' "$out" | awk '{print $2}')
    echo $((total / N))
}

wait_for() { # file or socket to appear
    for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
    echo "timed out waiting for $1" >&2
    return 1
}

sim_url() { # the first binding's URL from sim serve's output $1
    for _ in $(seq 600); do
        grep -o 'http://127[^ ]*' "$1" 2>/dev/null | head -1 && return 0
        sleep 0.1
    done
    echo "sim serve did not start: $(cat "$1")" >&2
    return 1
}

# The simulated machine, one process (so one process serves every request).
"$BENCH" prepare-sim "$WORK/root" 1
cat >"$WORK/python-under-callgrind" <<EOF
#!/bin/sh
exec ${VG[*]} --callgrind-out-file=$WORK/cg.%p "$PY" "\$@" 2>>$WORK/valgrind.log
EOF
chmod +x "$WORK/python-under-callgrind"

# 1. The simulator's front under callgrind, the gateway as it is.
"${VG[@]}" --callgrind-out-file="$WORK/cg.%p" "$PY" -m iiswsgi sim serve "$WORK/root" >"$WORK/sim1.out" 2>"$WORK/sim1.err" &
PIDS+=($!)
url=$(sim_url "$WORK/sim1.out")
sim_front=$(count "${PIDS[-1]}" "${url}hello")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 2. The gateway behind the simulator under callgrind (the machine's
#    C:\Python311\python.exe mapped to python under callgrind).
"$PY" - "$WORK/root/sim.toml" "$WORK/python-under-callgrind" <<'EOF'
import re, sys
path, wrapper = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"^('C:\\Python311\\python.exe' = ).*$", lambda m: m.group(1) + '"' + wrapper + '"', text, flags=re.M)
open(path, "w").write(text)
EOF
rm -f "$WORK/root/sim-serve.json"
"$PY" -m iiswsgi sim serve "$WORK/root" >"$WORK/sim2.out" 2>"$WORK/sim2.err" &
PIDS+=($!)
url=$(sim_url "$WORK/sim2.out")
"$BENCH" load "${url}hello" --requests 1 >/dev/null
gw=$(pgrep -P "${PIDS[-1]}" | head -1)
sim_gateway=$(count "$gw" "${url}hello")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 3 and 4. nginx in front of `iiswsgi serve --bind`, each under callgrind in turn.
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx"
# The benchmark cell's nginx.conf (harness/src/bench_http.rs).
"$BENCH" nginx-conf "$WORK/nginx" "$WORK/nginx/gw.sock" "$port"
nginx_pair() { # $1: which one runs under callgrind (front|gateway)
    rm -f "$WORK/nginx/gw.sock"
    local gwcmd=("$PY") ngcmd=("$NGINX")
    [ "$1" = gateway ] && gwcmd=("${VG[@]}" --callgrind-out-file="$WORK/cg.%p" "$PY")
    [ "$1" = front ] && ngcmd=("${VG[@]}" --callgrind-out-file="$WORK/cg.%p" "$NGINX")
    (cd "$WORK/nginx" && PYTHONPATH="$APPS" WSGI_RESTART_FILE_REGEX='' \
        exec "${gwcmd[@]}" -m iiswsgi serve conformance:app --bind "unix:$WORK/nginx/gw.sock" 2>>"$WORK/gateway.log") &
    PIDS+=($!)
    local gpid=$!
    wait_for "$WORK/nginx/gw.sock"
    "${ngcmd[@]}" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>>"$WORK/nginx.log" &
    PIDS+=($!)
    local npid=$!
    for _ in $(seq 600); do "$BENCH" load "http://127.0.0.1:$port/hello" --requests 1 >/dev/null 2>&1 && break; sleep 0.1; done
    if [ "$1" = gateway ]; then count "$gpid" "http://127.0.0.1:$port/hello"; else count "$npid" "http://127.0.0.1:$port/hello"; fi
    kill "$npid" "$gpid"; wait "$npid" "$gpid" 2>/dev/null || true
}
nginx_front=$(nginx_pair front)
nginx_gateway=$(nginx_pair gateway)

cat <<EOF

Instructions per hello request (callgrind, user space, $N requests on one connection):

| process | behind nginx | behind iiswsgi sim serve | sim ÷ nginx |
|---|---:|---:|---:|
| front | $nginx_front | $sim_front | $(awk "BEGIN{printf \"%.2f\", $sim_front/$nginx_front}")× |
| gateway (iiswsgi serve) | $nginx_gateway | $sim_gateway | $(awk "BEGIN{printf \"%.2f\", $sim_gateway/$nginx_gateway}")× |
EOF
