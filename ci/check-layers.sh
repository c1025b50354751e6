#!/usr/bin/env bash
# Checks the direction of the crate graph (docs/ARCHITECTURE.md): nothing in
# core/ depends on the simulator or the composition root, and the FastCGI
# codec depends on no I/O or Python crate.
set -euo pipefail
cd "$(dirname "$0")/.."

core='^iiswsgi-(fastcgi|wsgi|gateway|iisconfig|deploy|cli) '
fail=0
for top in iiswsgi-sim iiswsgi-native; do
    if bad=$(cargo tree -q -i "$top" --workspace -e normal,build --prefix none | grep -E "$core"); then
        printf 'layering: %s depends on %s\n' "$(echo "$bad" | tr '\n' ' ')" "$top" >&2
        fail=1
    fi
done
if bad=$(cargo tree -q -p iiswsgi-fastcgi -e normal,build --prefix none | grep -E '^(pyo3|pyo3-ffi|tokio|mio|socket2|libc|windows-sys|hyper) '); then
    printf 'layering: iiswsgi-fastcgi must stay sans-IO, but depends on: %s\n' "$(echo "$bad" | tr '\n' ' ')" >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "layering: core depends on neither sim nor native; fastcgi is sans-IO"
exit "$fail"
