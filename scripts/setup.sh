# Sourced by scripts/test and scripts/demo: installs what a fresh machine lacks. Idempotent.
# Tools land in .tools/ inside the repository, never in the user's global environment.
: "${KUBES_ROOT:=$(pwd)}"
export CARGO_TERM_COLOR=never
