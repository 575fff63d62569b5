# Sourced by scripts/serve and scripts/test: make .venv and install the project into it,
# again only when pyproject.toml (or the wanted extra) changed since the last install.
ensure_venv() {
  local extra="$1" python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  local stamp=".venv/.installed${extra:+-$extra}"
  local want
  want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing the project into .venv${extra:+ (with $extra)}..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
    .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"
    echo "$want" > "$stamp"
  fi
}
