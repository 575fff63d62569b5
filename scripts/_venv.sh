# Sourced by scripts/serve and scripts/test: make .venv and install into it exactly the
# locked versions (requirements.txt, or requirements-dev.txt for "dev"; ./scripts/lock
# refreshes them), then the project itself; again only when the lock or pyproject.toml
# changed since the last install.
ensure_venv() {
  local extra="$1" python="${PYTHON:-python3}"
  local lock="requirements${extra:+-$extra}.txt"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  local stamp=".venv/.installed${extra:+-$extra}"
  local want
  want="$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing $lock and the project into .venv..." >&2
    .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
    # setuptools, the build backend, comes from the lock: no unlocked download to build.
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
  fi
}
