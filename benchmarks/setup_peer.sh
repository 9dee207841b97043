#!/usr/bin/env bash
# Create .bench/mellea-venv with the peer implementation (mellea[hf]==0.8.0) for the benchmarks.
# Idempotent: does nothing when the venv already holds the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.bench/mellea-venv
PY=${PYTHON:-python3}
want="torch==2.13.0 mellea[hf]==0.8.0"
stamp=$VENV/.setup-stamp
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then exit 0; fi
mkdir -p .bench
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
echo "setup_peer: installing mellea[hf]==0.8.0 into $VENV (first run: about 2 minutes, 1.6 GB)" >&2
# torch first and pinned: an open torch range resolved later pulls a multi-GB CUDA build.
"${pip[@]}" install "torch==2.13.0"
"${pip[@]}" install "mellea[hf]==0.8.0"
echo "$want" > "$stamp"
