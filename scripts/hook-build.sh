# Sourced by the example hooks' build scripts (examples/hooks-py, examples/hooks-js): the
# steps every such build shares. Defines functions only; nothing runs when sourced.

# True when OUT exists and nothing among INPUTS (files, or folders searched through) is
# newer. Usage: kubes_up_to_date OUT INPUTS...
kubes_up_to_date() {
  local out="$1"
  shift
  [ -f "$out" ] && [ -z "$(find "$@" -newer "$out" -print -quit)" ]
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

# Says on stderr that LABEL built OUT (its size, the time since STARTED_NS, a
# `date +%s%N`), then prints OUT's path on stdout, the last line, which the tests read.
# Usage: kubes_report_built LABEL OUT STARTED_NS
kubes_report_built() {
  local label="$1" out="$2" started="$3"
  local ms=$(( ($(date +%s%N) - started) / 1000000 ))
  printf '%s: built %s (%s bytes) in %d.%d s\n' "$label" "$out" "$(stat -c %s "$out")" \
    $((ms / 1000)) $((ms % 1000 / 100)) >&2
  echo "$out"
}
