#!/usr/bin/env bash
# GPU worker container: models synced from the lockfile, then ComfyUI and the pipeline's GPU
# worker side by side under this one supervisor.
#
#   entrypoint.sh [run]   sync models, start ComfyUI, wait until it answers, start the worker,
#                         then watch both: if either exits or ComfyUI stops answering, stop the
#                         other and exit non-zero (the orchestrator restarts the container).
#                         SIGTERM/SIGINT drain: the worker first (it finishes or hands back its
#                         segment within GPU_DRAIN_GRACE_S), then ComfyUI; exit 0.
#   entrypoint.sh health  exit 0 when ComfyUI answers and the worker runs (Docker HEALTHCHECK).
#
# The same steps one per container, for a Kubernetes pod (deploy/k8s): `sync` (an init
# container), `comfyui` (a sidecar: exec ComfyUI), `comfyui-health` (its probe), `worker`
# (wait until ComfyUI answers, then exec the worker).
#   entrypoint.sh CMD...  run CMD instead (a shell, `pipeline models verify /models`...).
#
# Environment (defaults in brackets):
#   MODELS_DIR [/models]           the models volume, ComfyUI's models/ folder
#   MODELS_SYNC [sync]             sync | verify | off: what to do with it before starting
#   MODELS_PRESETS [all]           presets whose files to sync, comma or space separated
#   MODELS_ALLOW_UNPINNED [0]      1: accept lockfile entries without a sha256 (unchecked)
#   MODELS_LOCK                    read by `pipeline models` [deploy/models.lock in /app]
#   COMFYUI_DIR [/opt/ComfyUI]     COMFYUI_PYTHON [python3]  COMFYUI_PORT [8188]
#   COMFYUI_CMD                    the whole ComfyUI command line, overriding the three above
#   COMFYUI_ARGS                   extra ComfyUI arguments
#   WORKER_CMD [pipeline worker gpu]
#   COMFYUI_START_TIMEOUT_S [300]  HEALTH_INTERVAL_S [10]  HEALTH_FAILURES [3]
#   GPU_DRAIN_GRACE_S [600]        STOP_TIMEOUT_S [30] (ComfyUI's, after the worker's)
#   RUN_DIR [/tmp/gpu-worker]      pid files for `health`
set -euo pipefail

MODELS_DIR=${MODELS_DIR:-/models}
MODELS_SYNC=${MODELS_SYNC:-sync}
MODELS_PRESETS=${MODELS_PRESETS:-all}
MODELS_ALLOW_UNPINNED=${MODELS_ALLOW_UNPINNED:-0}
COMFYUI_DIR=${COMFYUI_DIR:-/opt/ComfyUI}
COMFYUI_PYTHON=${COMFYUI_PYTHON:-python3}
COMFYUI_PORT=${COMFYUI_PORT:-8188}
COMFYUI_CMD=${COMFYUI_CMD:-"$COMFYUI_PYTHON $COMFYUI_DIR/main.py --listen 127.0.0.1 --port $COMFYUI_PORT --disable-auto-launch ${COMFYUI_ARGS:-}"}
WORKER_CMD=${WORKER_CMD:-pipeline worker gpu}
COMFYUI_START_TIMEOUT_S=${COMFYUI_START_TIMEOUT_S:-300}
HEALTH_INTERVAL_S=${HEALTH_INTERVAL_S:-10}
HEALTH_FAILURES=${HEALTH_FAILURES:-3}
GPU_DRAIN_GRACE_S=${GPU_DRAIN_GRACE_S:-600}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-30}
RUN_DIR=${RUN_DIR:-/tmp/gpu-worker}
export COMFYUI_URL=${COMFYUI_URL:-http://127.0.0.1:$COMFYUI_PORT}

sync_pid=""
comfy_pid=""
worker_pid=""
stopping=0

log() { printf '%s gpu-entrypoint %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# 0 when ComfyUI answers GET /system_stats within 5 s.
comfy_answers() {
    python3 - "$COMFYUI_URL/system_stats" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

health() {
    local pid
    pid=$(cat "$RUN_DIR/worker.pid" 2>/dev/null || true)
    alive "$pid" || { echo "worker not running"; return 1; }
    comfy_answers || { echo "ComfyUI does not answer at $COMFYUI_URL"; return 1; }
    echo "ok"
}

sync_models() {
    local args=() code=0
    if [[ "$MODELS_PRESETS" != all ]]; then
        for preset in ${MODELS_PRESETS//,/ }; do args+=(--preset "$preset"); done
    fi
    # In the background, so that a SIGTERM during a long download is handled at once.
    case "$MODELS_SYNC" in
        off) log "models: not checked (MODELS_SYNC=off)"; return 0 ;;
        verify) pipeline models verify "$MODELS_DIR" "${args[@]}" & ;;
        sync)
            if [[ "$MODELS_ALLOW_UNPINNED" == 1 ]]; then args+=(--allow-unpinned); fi
            pipeline models sync --dest "$MODELS_DIR" "${args[@]}" & ;;
        *) log "MODELS_SYNC must be sync, verify or off, not '$MODELS_SYNC'"; exit 2 ;;
    esac
    sync_pid=$!
    wait "$sync_pid" || code=$?
    sync_pid=""
    if [[ $code -eq 3 && "$MODELS_ALLOW_UNPINNED" == 1 ]]; then
        log "models: some files are unpinned (no sha256 in the lockfile); starting anyway"
    elif [[ $code -ne 0 ]]; then
        log "models: $MODELS_SYNC of $MODELS_DIR failed (exit $code); not starting"
        exit 1
    fi
}

# Stop $1 (a pid) with SIGTERM, SIGKILL after $2 seconds; returns once it is gone.
stop_process() {
    local pid=$1 timeout=$2 waited=0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((waited < timeout * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if alive "$pid"; then
        log "pid $pid still running after ${timeout}s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

shutdown() {
    local code=$1
    stopping=1
    trap - TERM INT
    log "stopping: worker first (drain up to ${GPU_DRAIN_GRACE_S}s), then ComfyUI"
    stop_process "$sync_pid" "$STOP_TIMEOUT_S"
    stop_process "$worker_pid" "$GPU_DRAIN_GRACE_S"
    stop_process "$comfy_pid" "$STOP_TIMEOUT_S"
    rm -f "$RUN_DIR/worker.pid" "$RUN_DIR/comfyui.pid"
    log "stopped (exit $code)"
    exit "$code"
}

run() {
    mkdir -p "$RUN_DIR"
    trap 'shutdown 0' TERM INT
    sync_models

    log "starting ComfyUI: $COMFYUI_CMD"
    bash -c "exec $COMFYUI_CMD" &
    comfy_pid=$!
    echo "$comfy_pid" >"$RUN_DIR/comfyui.pid"

    local deadline=$((SECONDS + COMFYUI_START_TIMEOUT_S))
    until comfy_answers; do
        alive "$comfy_pid" || { log "ComfyUI exited before it answered"; shutdown 1; }
        ((SECONDS < deadline)) || { log "ComfyUI did not answer within ${COMFYUI_START_TIMEOUT_S}s"; shutdown 1; }
        sleep 1 &
        wait $! || true
    done
    log "ComfyUI answers at $COMFYUI_URL; starting the worker: $WORKER_CMD"

    bash -c "exec $WORKER_CMD" &
    worker_pid=$!
    echo "$worker_pid" >"$RUN_DIR/worker.pid"

    local failures=0
    while ((stopping == 0)); do
        sleep "$HEALTH_INTERVAL_S" &
        wait $! || true
        ((stopping == 0)) || break
        alive "$worker_pid" || { log "the worker exited"; shutdown 1; }
        alive "$comfy_pid" || { log "ComfyUI exited"; shutdown 1; }
        if comfy_answers; then
            failures=0
        else
            failures=$((failures + 1))
            log "ComfyUI did not answer ($failures/$HEALTH_FAILURES)"
            ((failures < HEALTH_FAILURES)) || shutdown 1
        fi
    done
}

wait_for_comfyui() {
    local deadline=$((SECONDS + COMFYUI_START_TIMEOUT_S))
    until comfy_answers; do
        ((SECONDS < deadline)) || { log "ComfyUI did not answer within ${COMFYUI_START_TIMEOUT_S}s"; exit 1; }
        sleep 1
    done
}

case "${1:-run}" in
    run) run ;;
    health) health ;;
    sync) sync_models ;;
    comfyui) exec bash -c "exec $COMFYUI_CMD" ;;
    comfyui-health) comfy_answers ;;
    worker) wait_for_comfyui; exec bash -c "exec $WORKER_CMD" ;;
    *) exec "$@" ;;
esac
