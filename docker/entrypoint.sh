#!/usr/bin/env bash
# matassets container entry point.
#
#   serve (default)  the Dagster daemon (schedules, sensors, run queue) and the webserver, together;
#                    when either stops, the other is stopped and the container exits
#   --check          check the set-up and print the two commands `serve` would run; start nothing
#   anything else    run it, e.g. `matassets run phase1 --level smoke`, `matassets check-env`, `bash`
#
# The webserver binds 0.0.0.0 by default: inside a container, a server bound to 127.0.0.1 cannot be
# reached through a published port. Publish it on the host's loopback only
# (`docker run -p 127.0.0.1:3000:3000 …`) unless you mean to expose it; MATASSETS_HOST overrides.
set -euo pipefail

APP="${MATASSETS_APP:-/app}"
HOST="${MATASSETS_HOST:-0.0.0.0}"
PORT="${MATASSETS_PORT:-3000}"
export DAGSTER_HOME="${DAGSTER_HOME:-/dagster_home}"
export DAGSTER_DISABLE_TELEMETRY=1 DVC_NO_ANALYTICS=1

WEBSERVER=(dagster-webserver -h "$HOST" -p "$PORT" -w "$APP/workspace.yaml")
DAEMON=(dagster-daemon run -w "$APP/workspace.yaml")

prepare() {
    mkdir -p "$DAGSTER_HOME"
    if [ ! -f "$DAGSTER_HOME/dagster.yaml" ]; then
        printf 'telemetry:\n  enabled: false\n' >"$DAGSTER_HOME/dagster.yaml"
    fi
    # The image has no .git: DVC then works without git (dvc.lock stays in the container's /app).
    if [ -d "$APP/.dvc" ] && [ ! -e "$APP/.git" ] && ! grep -qs "no_scm" "$APP/.dvc/config.local"; then
        (cd "$APP" && dvc config --local core.no_scm true)
    fi
}

check() {
    local failed=0 cmd
    for cmd in dagster-webserver dagster-daemon dvc matassets python; do
        if command -v "$cmd" >/dev/null; then
            echo "ok    $cmd: $(command -v "$cmd")"
        else
            echo "FAIL  $cmd: not on PATH"
            failed=1
        fi
    done
    if [ -f "$APP/workspace.yaml" ]; then
        echo "ok    workspace: $APP/workspace.yaml"
    else
        echo "FAIL  workspace: $APP/workspace.yaml is missing"
        failed=1
    fi
    if mkdir -p "$DAGSTER_HOME" 2>/dev/null && [ -w "$DAGSTER_HOME" ]; then
        echo "ok    DAGSTER_HOME: $DAGSTER_HOME is writable"
    else
        echo "FAIL  DAGSTER_HOME: $DAGSTER_HOME is not writable"
        failed=1
    fi
    if (cd "$APP" && python -c "import matassets.definitions" 2>/dev/null); then
        echo "ok    code location: matassets.definitions loads"
    else
        echo "FAIL  code location: python -c 'import matassets.definitions' fails in $APP"
        failed=1
    fi
    echo "would run: ${DAEMON[*]}"
    echo "would run: ${WEBSERVER[*]}"
    return "$failed"
}

serve() {
    prepare
    cd "$APP"
    # Job control: background jobs of a non-interactive shell would otherwise ignore SIGINT, and
    # Dagster handles SIGTERM through its SIGINT handler, so they would not stop (stack-notes §5).
    set -m
    "${DAEMON[@]}" &
    local daemon=$!
    "${WEBSERVER[@]}" &
    local webserver=$!
    # shellcheck disable=SC2317  # called by the trap
    stop() {
        kill -TERM "$webserver" "$daemon" 2>/dev/null || true
    }
    trap stop TERM INT
    local status=0
    wait -n "$daemon" "$webserver" || status=$?
    stop
    wait "$daemon" "$webserver" 2>/dev/null || true
    exit "$status"
}

case "${1:-serve}" in
serve) serve ;;
--check) check ;;
*) prepare && cd "$APP" && exec "$@" ;;
esac
