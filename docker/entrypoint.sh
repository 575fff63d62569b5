#!/bin/sh
# Container entrypoint: `serve` (the default) migrates, then serves; `worker` runs the
# background worker; anything else is passed to `python -m app` (e.g. create-admin).
# MIGRATE_ON_START=false skips the migration (when a release job migrates instead).
set -eu
PYTHON="${PYTHON:-python}"
command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
  serve)
    if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
      "$PYTHON" -m app migrate
    fi
    exec "$PYTHON" -m app serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" "$@"
    ;;
  worker)
    exec "$PYTHON" -m app worker "$@"
    ;;
  *)
    exec "$PYTHON" -m app "$command" "$@"
    ;;
esac
