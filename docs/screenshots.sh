#!/usr/bin/env bash
# Refresh docs/*.png and docs/pipeline-tail.txt: the Temporal UI (the session list filtered
# by a search attribute, one session's page) and `pipeline tail`, on a private embedded
# stack. Needs chromium and tmux. Usage: docs/screenshots.sh (from the repository root).
set -euo pipefail
BIN=${BIN:-.venv/bin}
OUT=docs
STATE=$(mktemp -d)
export PIPELINE_STATE_DIR=$STATE TEMPORAL_ADDRESS=127.0.0.1:27233 TEMPORAL_UI_URL=http://127.0.0.1:28233 \
  R2_ENDPOINT_URL=http://127.0.0.1:24566 COMFYUI_URL=http://127.0.0.1:28188 LOG_FORMAT=json
UI=$TEMPORAL_UI_URL/namespaces/default
trap '"$BIN/pipeline" down >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

"$BIN/pipeline" up --detach
"$BIN/python" - "$STATE" <<'PY'
import sys
from pathlib import Path
from PIL import Image, ImageDraw
for name, colour in (("harbour", (30, 90, 160)), ("meadow", (60, 140, 60))):
    image = Image.new("RGB", (832, 480), colour)
    ImageDraw.Draw(image).ellipse((300, 120, 530, 350), fill=(240, 200, 80))
    image.save(Path(sys.argv[1]) / f"{name}.png")
PY
"$BIN/pipeline" drop "$STATE/meadow.png" --name meadow --set prompt="wind over a meadow" --wait >/dev/null
session=$("$BIN/pipeline" drop "$STATE/harbour.png" --name harbour \
  --set prompt="boats rocking in a harbour at dawn" --set extensions=5 --set steps=100)

tmux new-session -d -s pipeline-tail -x 96 -y 8 "$BIN/pipeline tail $session; sleep 60"
for _ in $(seq 100); do  # Until a segment is sampling.
  tmux capture-pane -p -t pipeline-tail > "$OUT/pipeline-tail.txt"
  grep -q "KSamplerAdvanced step [1-9]" "$OUT/pipeline-tail.txt" && break
  sleep 0.2
done
shoot() {  # url, file: the UI is a single-page app, so give its scripts time to fetch.
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1500,${3:-900} \
    --virtual-time-budget=8000 --screenshot="$OUT/$2" "$1" 2>/dev/null
}
shoot "$UI/workflows/session-$session" ui-session.png 1300
"$BIN/pipeline" tail "$session" >/dev/null 2>&1 || true
tmux kill-session -t pipeline-tail
shoot "$UI/workflows?query=PipelineRole+%3D+%27session%27+AND+DropKind+%3D+%27i2v%27" ui-sessions.png
echo "wrote $OUT/ui-sessions.png $OUT/ui-session.png $OUT/pipeline-tail.txt"
