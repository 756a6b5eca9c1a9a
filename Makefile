# `make demo` and `make test` do all set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-real unit lint typecheck imports docs docs-check install ffmpeg up down schema manifests clean

# With COMFYUI_DIR=… (and COMFYUI_PYTHON, COMFYUI_MODELS_DIR: pipeline.config) the stack runs
# that ComfyUI instead of comfy-sim, and the sample is rendered at 128×128 for a CPU box.
DEMO_ARGS ?= $(if $(COMFYUI_DIR),--set width=128 --set height=128)

demo: install ffmpeg
	$(BIN)/pipeline up --detach --reuse
	$(BIN)/pipeline demo $(DEMO_ARGS)
	@echo "The stack keeps running for you to explore; stop it with: $(BIN)/pipeline down"

test: install ffmpeg lint typecheck imports docs-check
	$(BIN)/pytest -q

# The real-ComfyUI tier (tests/real_comfyui): every preset, cancels, kills and ComfyUI's errors
# through a ComfyUI checkout on tiny weights; skipped by `make test` when COMFYUI_DIR is unset.
test-real: install ffmpeg
	@test -n "$(COMFYUI_DIR)" || { echo "usage: make test-real COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=...] [COMFYUI_MODELS_DIR=...]"; exit 2; }
	$(BIN)/pytest -q -m real_comfyui -rs --durations=0 tests/real_comfyui

# The fast tier: pure tests only (no ffmpeg, torch, Temporal, moto or comfy-sim), seconds.
unit: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .

# The layers in pyproject.toml's [tool.importlinter]: domain pure, workflows on the domain only,
# stand-ins behind the stack, no cycles.
imports: install
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy pipeline activities workflows_comfy tests bench

# The generated docs pages: the variables table from Settings' descriptions (the CLI
# reference, docs/cli.md, is rendered from the click commands at build time).
docs: install
	$(BIN)/python -m pipeline.config > docs/configuration/variables.md

# The docs site, built offline with every warning an error (into the gitignored site/).
docs-check: install
	$(BIN)/mkdocs build --strict --quiet

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,separation]'
	touch $(STAMP)

# ffmpeg/ffprobe from Debian when missing (as root; otherwise say what to run).
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else echo "ffmpeg is missing: sudo apt-get install ffmpeg"; exit 1; fi; }

up: install ffmpeg
	$(BIN)/pipeline up

down: install
	$(BIN)/pipeline down

schema: install
	$(BIN)/pipeline schema > pipeline/schemas/manifest.v1.json
	$(BIN)/pipeline models schema > pipeline/schemas/models-lock.v1.json
	$(BIN)/pipeline schema presets > pipeline/schemas/presets.v1.json
	$(BIN)/pipeline schema result > pipeline/schemas/result.v1.json
	$(BIN)/pipeline schema error > pipeline/schemas/error.v1.json

# The GPU worker Deployments of deploy/k8s, one per preset.
manifests: install
	$(BIN)/python deploy/k8s/render_gpu_workers.py > deploy/k8s/gpu-workers.yaml

clean:
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache site
