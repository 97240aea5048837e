# Sourced by the example hooks' build scripts (examples/hooks-py, examples/hooks-js): the
# steps every such build shares. Defines functions only; nothing runs when sourced.

# The repository these scripts are in: input paths are digested relative to it.
_kubes_build_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Prints the digest of INPUTS (files, or folders searched through): every file's path
# relative to the repository, and its contents. Contents, not modification times: a fresh
# clone gives every file a new time, and CI keeps the build folders in a cache (.ci/run), so
# an unchanged hook is not rebuilt there. Usage: kubes_inputs_digest INPUTS...
kubes_inputs_digest() {
  find "$@" -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum |
    sed "s|  $_kubes_build_root/|  |" | sha256sum | cut -d' ' -f1
}

# True when OUT exists and was built from INPUTS as they are now (OUT.inputs holds their
# digest, written by kubes_report_built). Usage: kubes_up_to_date OUT INPUTS...
kubes_up_to_date() {
  local out="$1"
  shift
  _kubes_digest="$(kubes_inputs_digest "$@")"
  [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$_kubes_digest" ]
}

# True when OUT is up to date; otherwise false, with this shell holding the build lock of
# OUT's folder (fd 9) until it exits: one build at a time (test binaries may ask at once),
# and the one that waited finds OUT up to date. Usage: kubes_up_to_date_or_lock OUT INPUTS...
kubes_up_to_date_or_lock() {
  kubes_up_to_date "$@" && return 0
  local dir
  dir="$(dirname "$1")"
  mkdir -p "$dir"
  exec 9>"$dir/.build.lock"
  flock 9
  kubes_up_to_date "$@"
}

# Sources scripts/hook-tools.sh from the repository at ROOT (installs the pinned tools when
# missing, exports KUBES_COMPONENTIZE_PY / _JS, defines kubes_bounded), one install at a
# time: the Python and JS builds may run at once, and an install starts by clearing its
# folder. Its messages go to stderr (stdout is the component's path). Usage:
# kubes_hook_tools ROOT
kubes_hook_tools() {
  export KUBES_ROOT="$1"
  local tools_dir="${KUBES_TOOLS_DIR:-$1/.tools}"
  mkdir -p "$tools_dir"
  exec 8>"$tools_dir/.install.lock"
  flock 8
  # shellcheck source=hook-tools.sh
  source "$1/scripts/hook-tools.sh" >&2 || { flock -u 8; return 1; }
  flock -u 8
}

# Records what OUT was built from (OUT.inputs), says on stderr that LABEL built OUT (its
# size, the time since STARTED_NS, a `date +%s%N`), then prints OUT's path on stdout, the
# last line, which the tests read.
# Usage: kubes_report_built LABEL OUT STARTED_NS
kubes_report_built() {
  local label="$1" out="$2" started="$3"
  local ms=$(( ($(date +%s%N) - started) / 1000000 ))
  # The inputs' digest as kubes_up_to_date computed it before the build.
  echo "$_kubes_digest" >"$out.inputs"
  printf '%s: built %s (%s bytes) in %d.%d s\n' "$label" "$out" "$(stat -c %s "$out")" \
    $((ms / 1000)) $((ms % 1000 / 100)) >&2
  echo "$out"
}
