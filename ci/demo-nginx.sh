#!/usr/bin/env bash
# A second example (the main job is ci/main.sh): serve the sample WSGI application through the iiswsgi gateway
# behind a real nginx on 127.0.0.1, and show it answering. With KEEP=1 both stay
# up until Ctrl-C (open the printed URL in a browser).
set -euo pipefail
cd "$(dirname "$0")/.."

ci/setup.sh

work=$(mktemp -d /tmp/iiswsgi-demo.XXXXXX)
port=${PORT:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "==> starting the gateway: iiswsgi serve sample:app --bind unix:$work/gateway.sock" >&2
PYTHONPATH="$PWD/fixtures/apps" .venv/bin/iiswsgi serve sample:app \
    --bind "unix:$work/gateway.sock" --log "$work/gateway.log" &
pids+=($!)

# shellcheck source=ci/nginx_conf.sh
. ci/nginx_conf.sh
nginx_conf "$work" "$port" "$work/gateway.sock" > "$work/nginx.conf"
for _ in $(seq 100); do [ -S "$work/gateway.sock" ] && break; sleep 0.1; done
echo "==> starting nginx on 127.0.0.1:$port" >&2
nginx=/usr/sbin/nginx; command -v nginx >/dev/null && nginx=$(command -v nginx)
"$nginx" -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

echo "==> GET http://127.0.0.1:$port/" >&2
curl -sS -i "http://127.0.0.1:$port/?from=readme" | sed -e 's/<tr>/\n<tr>/g' | head -n 24
echo
echo "==> POST 5 MB to http://127.0.0.1:$port/upload" >&2
head -c 5000000 /dev/zero | curl -sS --data-binary @- -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$port/upload"
echo "==> gateway log ($work/gateway.log):" >&2
cat "$work/gateway.log" >&2

if [ "${KEEP:-0}" = 1 ]; then
    echo "==> serving on http://127.0.0.1:$port/ until Ctrl-C" >&2
    wait
fi
