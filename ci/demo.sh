#!/usr/bin/env bash
# The main job: serve the sample WSGI application through the iiswsgi gateway
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

user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
cat > "$work/nginx.conf" <<CONF
$user
daemon off;
master_process off;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path $work/client_body;
    fastcgi_temp_path $work/fastcgi;
    proxy_temp_path $work/proxy;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    client_max_body_size 0;
    upstream iiswsgi { server unix:$work/gateway.sock; keepalive 8; }
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO \$uri;
            fastcgi_keep_conn on;
            fastcgi_pass iiswsgi;
        }
    }
}
CONF
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
