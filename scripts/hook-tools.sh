# Sourced (or run) to install the pinned tools that build Python and JavaScript hooks, into
# .tools/ inside the repository (never the user's global environment). Idempotent: a second
# run with the tools present does nothing. Afterwards these are exported:
#   KUBES_COMPONENTIZE_PY  the componentize-py executable (Python hooks)
#   KUBES_COMPONENTIZE_JS  the componentize-js executable (JavaScript hooks)
#
# Why componentize-js directly and not `jco componentize`: jco 1.35 on Node 20 cannot read a
# WIT directory (its bundled WASI shim preopens nothing) and one such run grew past 20 GB.
# componentize-js 0.23 run by itself works (~9 s, ~0.8 GB). Tool builds are bounded anyway:
# see kubes_bounded below.
_kubes_tools_root="${KUBES_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
KUBES_TOOLS_DIR="${KUBES_TOOLS_DIR:-$_kubes_tools_root/.tools}"

# Pinned versions: a change here is a deliberate upgrade, tested like any other.
KUBES_COMPONENTIZE_PY_VERSION="0.25.1"
KUBES_COMPONENTIZE_JS_VERSION="0.23.0"

_kubes_py_dir="$KUBES_TOOLS_DIR/py"
_kubes_js_dir="$KUBES_TOOLS_DIR/js"
export KUBES_COMPONENTIZE_PY="$_kubes_py_dir/bin/componentize-py"
export KUBES_COMPONENTIZE_JS="$_kubes_js_dir/node_modules/.bin/componentize-js"

# Runs a tool build with a wall-clock limit and a memory cap, so a tool gone wrong fails the
# build instead of eating the machine (seen: a jco run past 20 GB). Usage:
#   kubes_bounded SECONDS MEMORY_MIB command args...
kubes_bounded() {
  local secs="$1" mib="$2"
  shift 2
  ( ulimit -v $((mib * 1024)) 2>/dev/null || true
    exec timeout --kill-after=10 "$secs" "$@" )
}

_kubes_install_py() {
  if [ -x "$KUBES_COMPONENTIZE_PY" ] &&
     "$KUBES_COMPONENTIZE_PY" --version 2>/dev/null | grep -q "$KUBES_COMPONENTIZE_PY_VERSION"; then
    return 0
  fi
  echo "hook-tools: installing componentize-py $KUBES_COMPONENTIZE_PY_VERSION into $_kubes_py_dir" >&2
  rm -rf "$_kubes_py_dir"
  python3 -m venv "$_kubes_py_dir"
  kubes_bounded 600 4096 "$_kubes_py_dir/bin/pip" install --quiet --disable-pip-version-check \
    "componentize-py==$KUBES_COMPONENTIZE_PY_VERSION"
}

_kubes_install_js() {
  if [ -x "$KUBES_COMPONENTIZE_JS" ] &&
     grep -q "\"version\": \"$KUBES_COMPONENTIZE_JS_VERSION\"" \
       "$_kubes_js_dir/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null; then
    return 0
  fi
  echo "hook-tools: installing componentize-js $KUBES_COMPONENTIZE_JS_VERSION into $_kubes_js_dir" >&2
  rm -rf "$_kubes_js_dir"
  mkdir -p "$_kubes_js_dir"
  printf '{ "name": "kubes-hook-tools", "private": true }\n' > "$_kubes_js_dir/package.json"
  ( cd "$_kubes_js_dir" &&
    kubes_bounded 600 8192 npm install --silent --no-audit --no-fund --save-exact \
      "@bytecodealliance/componentize-js@$KUBES_COMPONENTIZE_JS_VERSION" )
}

_kubes_install_py || { echo "hook-tools: componentize-py install failed" >&2; return 1 2>/dev/null || exit 1; }
_kubes_install_js || { echo "hook-tools: componentize-js install failed" >&2; return 1 2>/dev/null || exit 1; }
