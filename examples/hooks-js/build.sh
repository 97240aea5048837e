#!/usr/bin/env bash
# Builds the JavaScript annotate-deployment hook into
# examples/hooks-js/target/annotate_deployment.wasm with the pinned componentize-js
# (scripts/hook-tools.sh installs it into .tools/ when missing), straight from the
# repository's wit/ (world `hook`). Nothing is done when no input changed since
# the component was built (the tests call this often). Prints the component's path on stdout.
#
# `-d http fetch-event`: without it the component imports wasi:http, which a hook host does
# not provide (hooks reach the cluster only through kubes:hook/cluster).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/target/annotate_deployment.wasm"
inputs=("$here/hook.js" "$here/build.sh" "$root/wit" "$root/scripts/hook-tools.sh" "$root/scripts/hook-build.sh")

# shellcheck source=../../scripts/hook-build.sh
source "$root/scripts/hook-build.sh"
if kubes_up_to_date_or_lock "$out" "${inputs[@]}"; then
  echo "$out"
  exit 0
fi
kubes_hook_tools "$root"

started=$(date +%s%N)
# Bounded: a tool gone wrong fails the build instead of eating the machine (measured: ~8 s,
# ~0.8 GB resident). The cap is on address space: V8 reserves ~10 GB of guard pages per
# wasm memory, so with its trap handler on even 32 GiB is too little; with it off (explicit
# bounds checks, same output) 16 GiB is enough and 8 GiB is not. Node's heap is capped too.
# The tool is run by node directly so those flags reach V8 (NODE_OPTIONS refuses them).
kubes_bounded 180 16384 node --disable-wasm-trap-handler --max-old-space-size=2048 \
  "$(readlink -f "$KUBES_COMPONENTIZE_JS")" "$here/hook.js" \
  --wit "$root/wit" -n hook -d http fetch-event -o "$here/target/out.wasm" >&2
mv "$here/target/out.wasm" "$out"
kubes_report_built hooks-js "$out" "$started"
