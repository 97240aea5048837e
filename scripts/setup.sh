# Sourced by scripts/test and scripts/demo: installs what a fresh machine lacks. Idempotent.
# Tools land in .tools/ inside the repository (or $KUBES_TOOLS_DIR, which CI keeps in its
# cache), never in the user's global environment.
: "${KUBES_ROOT:=$(pwd)}"
export KUBES_TOOLS_DIR="${KUBES_TOOLS_DIR:-$KUBES_ROOT/.tools}"
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
# Python SDK (pure Python, pinned), in its own venv under $KUBES_TOOLS_DIR/oras.
KUBES_ORAS_PY_VERSION="0.2.43"
if ! "$KUBES_TOOLS_DIR/oras/bin/python" -c "import oras, sys; sys.exit(oras.__version__ != '$KUBES_ORAS_PY_VERSION')" 2>/dev/null; then
  echo "setup: installing the ORAS Python SDK $KUBES_ORAS_PY_VERSION into $KUBES_TOOLS_DIR/oras (registry interop test)" >&2
  rm -rf "$KUBES_TOOLS_DIR/oras"
  python3 -m venv "$KUBES_TOOLS_DIR/oras"
  "$KUBES_TOOLS_DIR/oras/bin/pip" install --quiet --disable-pip-version-check "oras==$KUBES_ORAS_PY_VERSION"
fi
# `--junit` reports are validated against a commonly used JUnit schema (Jenkins' junit-10.xsd)
# with xmllint: Debian's libxml2-utils, and the schema as pytest's source distribution ships it
# (testing/example_scripts/junit-10.xsd), fetched from PyPI by pip into $KUBES_TOOLS_DIR/junit/.
if ! command -v xmllint >/dev/null 2>&1; then
  echo "setup: xmllint not found, installing Debian's libxml2-utils" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libxml2-utils >/dev/null
fi
if [ ! -s "$KUBES_TOOLS_DIR/junit/junit-10.xsd" ]; then
  _junit_tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: "pytest==8.3.4" -d "$_junit_tmp"
  mkdir -p "$KUBES_TOOLS_DIR/junit"
  tar -xzf "$_junit_tmp/pytest-8.3.4.tar.gz" -C "$_junit_tmp" pytest-8.3.4/testing/example_scripts/junit-10.xsd
  mv "$_junit_tmp/pytest-8.3.4/testing/example_scripts/junit-10.xsd" "$KUBES_TOOLS_DIR/junit/junit-10.xsd"
  rm -rf "$_junit_tmp"
fi
