#!/usr/bin/env bash
# Prove that the core, the template formatter and the remote backend build as wheels and work on their
# own: install each wheel, with only its declared dependencies, into a clean venv (no torch, no
# transformers) and run its tests there; the core first, alone (no jinja2 either).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_VENV=${VENV:-.venv}  # the venv whose versions the isolated run uses: locked (.venv) or --latest
VENV=.venv-isolated
WHEELS=dist/isolated
constraints=()
[[ $BUILD_VENV == .venv ]] && constraints=(-c requirements/lock.txt)
rm -rf "$VENV" "$WHEELS"
"$BUILD_VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  -w "$WHEELS" ./core ./plugins/template_formatter ./plugins/openai_backend
python3 -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install "${constraints[@]}" "$WHEELS"/gencomp-*.whl pytest hatchling hypothesis
echo "isolated: gencomp alone" >&2
GENCOMP_TEST_ENV=core-only "$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/core
"${pip[@]}" install "${constraints[@]}" "$WHEELS"/gencomp_template_formatter-*.whl
echo "isolated: gencomp + gencomp-template-formatter" >&2
GENCOMP_TEST_ENV=core+template "$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/core tests/template_formatter
"${pip[@]}" install "${constraints[@]}" "$WHEELS"/gencomp_openai-*.whl
echo "isolated: gencomp + gencomp-template-formatter + gencomp-openai (the tests that need no llama-server)" >&2
GENCOMP_TEST_ENV=core+template+openai "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
  tests/openai_backend/test_faults.py tests/openai_backend/test_protocol.py tests/openai_backend/test_stream_faults.py
