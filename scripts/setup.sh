# Sourced by scripts/test and scripts/demo: installs what a fresh machine lacks. Idempotent.
# Tools land in .tools/ inside the repository, never in the user's global environment.
: "${KUBES_ROOT:=$(pwd)}"
export CARGO_TERM_COLOR=never
# Guest hooks (Rust) build for this target.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
