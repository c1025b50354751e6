#!/usr/bin/env bash
# The main job: the whole IIS deployment of a sample project (default: the
# Pyramid sample, fixtures/pyramid_app; any project folder with a
# pyproject.toml: `ci/main.sh fixtures/django_app`) on a simulated IIS, as a
# Windows user goes through it (iiswsgi sim deploy: init, package, feed, a
# fresh simulated machine, WebPI install with Web Deploy and its runCommand,
# iiswsgi install with a real virtualenv and pip, FastCGI registration, smoke
# test, sim serve), then the app answering curl through the simulated IIS.
# KEEP=1 leaves it serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

fixture=${1:-fixtures/pyramid_app}
[ -f "$fixture/pyproject.toml" ] || {
    echo "==> $fixture has no pyproject.toml: give a project folder (e.g. fixtures/flask_app)" >&2
    exit 2
}
fixture=$(cd "$fixture" && pwd)

ci/setup.sh

work=$(mktemp -d /tmp/iiswsgi-main.XXXXXX)
# A copy, named after the folder, so that the build's outputs (dist/,
# Manifest.xml, iis_install.stamp) stay out of the checkout.
project="$work/$(basename "$fixture")"
cp -r "$fixture" "$project"
rm -rf "$project/dist"
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

# iiswsgi's own wheel (built by ci/setup.sh) for the application's virtualenv.
export PIP_FIND_LINKS="$PWD/target/wheels"
echo "==> iiswsgi sim deploy $project --root $work/root --keep" >&2
.venv/bin/iiswsgi sim deploy "$project" --root "$work/root" --keep > "$work/stdout" &
pid=$!
url=
for _ in $(seq 1800); do
    url=$(sed -n 's/^the application answers at //p' "$work/stdout")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "==> the deployment failed (see above)" >&2; exit 1; }
    sleep 0.5
done
[ -n "$url" ] || { echo "==> no URL after 15 minutes" >&2; exit 1; }
cat "$work/stdout"
echo "==> curl -si $url" >&2
curl -si "$url"
echo
echo "==> the simulated machine, its applicationHost.config and every log: $work/root" >&2
if [ "${KEEP:-0}" = 1 ]; then
    echo "==> serving until Ctrl-C" >&2
    wait "$pid"
fi
