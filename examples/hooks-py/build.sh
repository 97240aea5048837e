#!/usr/bin/env bash
# Builds the Python migrate-wait hook into examples/hooks-py/target/migrate_wait_py.wasm with
# the pinned componentize-py (scripts/hook-tools.sh installs it into .tools/ when missing).
# Bindings are generated here, from the repository's wit/, never committed. Nothing is done
# when the component is newer than every input (the tests call this often). Prints the
# component's path on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/target/migrate_wait_py.wasm"
inputs=("$here/app.py" "$here/wit" "$here/build.sh" "$root/wit" "$root/scripts/hook-tools.sh")

up_to_date() {
  [ -f "$out" ] && [ -z "$(find "${inputs[@]}" -newer "$out" -print -quit)" ]
}

if up_to_date; then
  echo "$out"
  exit 0
fi
mkdir -p "$here/target"
# One build at a time (test binaries may ask at once); the second one finds it up to date.
exec 9>"$here/target/.build.lock"
flock 9
if up_to_date; then
  echo "$out"
  exit 0
fi

export KUBES_ROOT="$root"
# The tools are installed by one build at a time (the Python and JS builds may run at once,
# and an install starts by clearing its folder).
tools_dir="${KUBES_TOOLS_DIR:-$root/.tools}"
mkdir -p "$tools_dir"
exec 8>"$tools_dir/.install.lock"
flock 8
# shellcheck source=../../scripts/hook-tools.sh
source "$root/scripts/hook-tools.sh" >&2
flock -u 8

# The world: this folder's wit/ (hook world + monotonic clock) with the repository's contract
# beside it as a dependency.
work="$here/target/build"
rm -rf "$work"
mkdir -p "$work/wit/deps/hook"
cp "$here/wit/world.wit" "$work/wit/"
cp -r "$here/wit/deps/." "$work/wit/deps/"
cp "$root/wit/"*.wit "$work/wit/deps/hook/"
cp -r "$root/wit/deps/." "$work/wit/deps/"

started=$(date +%s%N)
# Bounded: a tool gone wrong fails the build instead of eating the machine (measured: ~15 s;
# the cap is on address space, which wasmtime inside the tool reserves generously:
# 4 GiB kills it, 8 GiB is enough).
kubes_bounded 120 12288 "$KUBES_COMPONENTIZE_PY" -d "$work/wit" -w hook-py \
  bindings "$work/bindings" >&2
kubes_bounded 300 12288 "$KUBES_COMPONENTIZE_PY" -d "$work/wit" -w hook-py \
  componentize app -p "$here" -p "$work/bindings" -o "$work/out.wasm" >&2
mv "$work/out.wasm" "$out"
ms=$(( ($(date +%s%N) - started) / 1000000 ))
printf 'hooks-py: built %s (%s bytes) in %d.%d s\n' "$out" "$(stat -c %s "$out")" \
  $((ms / 1000)) $((ms % 1000 / 100)) >&2
echo "$out"
