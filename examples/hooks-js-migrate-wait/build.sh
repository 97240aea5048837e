#!/usr/bin/env bash
# Builds the JavaScript migrate-wait hook into
# examples/hooks-js-migrate-wait/target/migrate_wait_js.wasm with the pinned componentize-js
# (scripts/hook-tools.sh installs it into .tools/ when missing), straight from the
# repository's wit/ (world `hook`). The hook imports the SDK by relative path
# (../../hooks-sdk-js/kubes-hook.js); componentize-js resolves such imports inside its
# working directory only, so the tool runs from the repository root. Nothing is done when
# no input changed since the component was built. Prints the component's path on stdout.
#
# The tool flags are those of examples/hooks-js/build.sh (see there, and its README).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/target/migrate_wait_js.wasm"
inputs=("$here/migrate-wait.js" "$here/build.sh" "$root/hooks-sdk-js/kubes-hook.js" "$root/wit"
  "$root/scripts/hook-tools.sh" "$root/scripts/hook-build.sh")

# shellcheck source=../../scripts/hook-build.sh
source "$root/scripts/hook-build.sh"
if kubes_up_to_date_or_lock "$out" "${inputs[@]}"; then
  echo "$out"
  exit 0
fi
kubes_hook_tools "$root"

started=$(date +%s%N)
cd "$root"
kubes_bounded 180 16384 node --disable-wasm-trap-handler --max-old-space-size=2048 \
  "$(readlink -f "$KUBES_COMPONENTIZE_JS")" examples/hooks-js-migrate-wait/migrate-wait.js \
  --wit wit -n hook -d http fetch-event -o "$here/target/out.wasm" >&2
mv "$here/target/out.wasm" "$out"
kubes_report_built hooks-js-migrate-wait "$out" "$started"
