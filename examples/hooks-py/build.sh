#!/usr/bin/env bash
# Builds the Python migrate-wait hook into examples/hooks-py/target/migrate_wait_py.wasm with
# the pinned componentize-py (scripts/hook-tools.sh installs it into .tools/ when missing),
# the Python SDK (hooks-sdk-py: package kubes_hook) on its path.
# Bindings are generated here, from the repository's wit/, never committed. Nothing is done
# when no input changed since the component was built (the tests call this often). Prints the
# component's path on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/target/migrate_wait_py.wasm"
inputs=("$here/app.py" "$here/build.sh" "$root/hooks-sdk-py/kubes_hook" "$root/wit" "$root/scripts/hook-tools.sh" "$root/scripts/hook-build.sh")

# shellcheck source=../../scripts/hook-build.sh
source "$root/scripts/hook-build.sh"
if kubes_up_to_date_or_lock "$out" "${inputs[@]}"; then
  echo "$out"
  exit 0
fi
kubes_hook_tools "$root"

# The world: the repository's `hook` (it imports the monotonic clock the wait's timer needs).
work="$here/target/build"
rm -rf "$work"
mkdir -p "$work"

started=$(date +%s%N)
# Bounded: a tool gone wrong fails the build instead of eating the machine (measured: ~15 s;
# the cap is on address space, which wasmtime inside the tool reserves generously:
# 4 GiB kills it, 8 GiB is enough).
kubes_bounded 120 12288 "$KUBES_COMPONENTIZE_PY" -d "$root/wit" -w hook \
  bindings "$work/bindings" >&2
kubes_bounded 300 12288 "$KUBES_COMPONENTIZE_PY" -d "$root/wit" -w hook \
  componentize app -p "$here" -p "$root/hooks-sdk-py" -p "$work/bindings" -o "$work/out.wasm" >&2
mv "$work/out.wasm" "$out"
kubes_report_built hooks-py "$out" "$started"
