# Sourced by scripts/test and scripts/demo: installs what a fresh machine lacks. Idempotent.
# Tools land in .tools/ inside the repository, never in the user's global environment.
: "${KUBES_ROOT:=$(pwd)}"
export CARGO_TERM_COLOR=never
# Guest hooks (Rust) build for this target.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
# The tests check state with the real kubectl too. Machines here ship one; if a fresh one does
# not, Debian's client is enough for what the tests ask of it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: kubectl not found, installing Debian's kubernetes-client" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kubernetes-client >/dev/null
fi
# The registry tests (tests/it/registry.rs) start Debian's OCI registry, `docker-registry`,
# on 127.0.0.1 with a config of their own, and make its htpasswd file with apache2-utils.
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1; then
  echo "setup: installing Debian's docker-registry and apache2-utils (registry tests)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-registry apache2-utils >/dev/null
fi
# The registry interop test pushes and pulls with a second, independent OCI client: the ORAS
# Python SDK (pure Python, pinned), in its own venv under .tools/.
KUBES_ORAS_PY_VERSION="0.2.43"
if ! "$KUBES_ROOT/.tools/oras/bin/python" -c "import oras, sys; sys.exit(oras.__version__ != '$KUBES_ORAS_PY_VERSION')" 2>/dev/null; then
  echo "setup: installing the ORAS Python SDK $KUBES_ORAS_PY_VERSION into .tools/oras (registry interop test)" >&2
  rm -rf "$KUBES_ROOT/.tools/oras"
  python3 -m venv "$KUBES_ROOT/.tools/oras"
  "$KUBES_ROOT/.tools/oras/bin/pip" install --quiet --disable-pip-version-check "oras==$KUBES_ORAS_PY_VERSION"
fi
